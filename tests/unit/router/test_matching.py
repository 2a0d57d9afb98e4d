"""Which rules an event fires: each condition, order, fan-out, stop and drop."""

from __future__ import annotations

from dictamesh.core.models import EventType

from .conftest import TOPIC, event, rules


def names(rule_set, ev, topic=TOPIC):  # type: ignore[no-untyped-def]
    return [r.name for r in rule_set.select(ev, topic)]


def test_each_condition_must_hold() -> None:
    rs = rules(
        {"name": "topic", "match": {"topics": ["customers.*.entity_changed"]}, "to": "a.b.t"},
        {"name": "other-topic", "match": {"topics": ["products.*"]}, "to": "a.b.o"},
        {"name": "type", "match": {"entity_types": ["cust*"]}, "to": "a.b.ty"},
        {"name": "no-type", "match": {"entity_types": ["invoice"]}, "to": "a.b.nt"},
        {"name": "created", "match": {"event_types": ["CREATED"]}, "to": "a.b.c"},
        {"name": "updated", "match": {"event_types": ["updated"]}, "to": "a.b.u"},
        {"name": "email", "match": {"changed_fields": ["email"]}, "to": "a.b.e"},
        {"name": "phone", "match": {"changed_fields": ["phone"]}, "to": "a.b.p"},
        {"name": "acme", "match": {"tenants": ["acme"]}, "to": "a.b.acme"},
        {"name": "default-tenant", "match": {"tenants": ["default"]}, "to": "a.b.d"},
    )
    ev = event(after={"email": "x@y.z", "phone": "1"}, changed=["email"])
    assert names(rs, ev) == ["topic", "type", "updated", "email", "default-tenant"]
    acme = event(after={"email": "x"}, changed=["email"], tenant="acme")
    assert "acme" in names(rs, acme)
    assert "default-tenant" not in names(rs, acme)


def test_a_create_changes_every_field_it_has() -> None:
    rs = rules({"name": "phone", "match": {"changed_fields": ["phone"]}, "to": "a.b.p"})
    created = event(event_type=EventType.CREATED, after={"phone": "1"})
    assert names(rs, created) == ["phone"]
    assert names(rs, event(after={"phone": "1"}, changed=["email"])) == []


def test_predicates_see_the_event_and_fail_closed() -> None:
    rs = rules(
        {"name": "big", "match": {"predicate": "after.amount > 100"}, "to": "a.b.big"},
        {
            "name": "de",
            "match": {"predicate": "after.country == 'DE' and entity_type == 'customer'"},
            "to": "a.b.de",
        },
    )
    assert names(rs, event(after={"amount": 150, "country": "DE"})) == ["big", "de"]
    assert names(rs, event(after={"amount": 5, "country": "FR"})) == []
    # comparing None with an int raises inside the sandbox: no match, counted
    assert names(rs, event(after={"country": "DE"})) == ["de"]
    assert rs.predicate_errors() == {"big": 1, "de": 0}


def test_every_matching_rule_fires_in_order_until_stop() -> None:
    rs = rules(
        {"name": "first", "to": ["a.b.one", "a.b.two"]},
        {"name": "second", "to": "a.b.three", "stop": True},
        {"name": "third", "to": "a.b.four"},
    )
    fired = rs.select(event(after={"a": 1}), TOPIC)
    assert [r.name for r in fired] == ["first", "second"]
    assert fired[0].targets == ["a.b.one", "a.b.two"]
    assert rs.targets == ["a.b.one", "a.b.two", "a.b.three", "a.b.four"]


def test_drop_ends_evaluation() -> None:
    rs = rules(
        {"name": "before", "to": "a.b.before"},
        {"name": "drop-test", "match": {"tenants": ["test"]}, "drop": True},
        {"name": "after", "to": "a.b.after"},
    )
    assert names(rs, event(tenant="test")) == ["before", "drop-test"]
    assert names(rs, event(tenant="prod")) == ["before", "after"]
    assert rs.select(event(tenant="test"), TOPIC)[1].transform is None


def test_subscription_is_the_sources_some_rule_reads() -> None:
    sources = [TOPIC, "products.shop.entity_changed", "invoices.erp.entity_changed"]
    rs = rules(
        {"name": "c", "match": {"topics": ["customers.*"]}, "to": "a.b.c"},
        {"name": "p", "match": {"topics": ["products.*.entity_changed"]}, "to": "a.b.p"},
        sources=sources,
    )
    assert rs.subscription(sources) == [TOPIC, "products.shop.entity_changed"]
    everything = rules({"name": "all", "to": "a.b.all"}, sources=sources)
    assert everything.subscription(sources) == sources
