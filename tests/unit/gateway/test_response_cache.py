"""CachePolicy (what may be cached, for how long) and ResponseCache (dependency-based
invalidation, no stores across races)."""

from __future__ import annotations

import pytest
from tests.unit.gateway.fakes import MemoryRegistry, shop

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.core.principal import Principal
from dictamesh.gateway import GatewayContext, build_schema
from dictamesh.gateway.response_cache import (
    CachePolicy,
    Dependencies,
    ResponseCache,
    TrackingLoaders,
    cache_key,
)

SOURCE = SourceRef(domain="billing", system="shop")


def change(
    kind: str,
    entity_id: str,
    event_type: EventType = EventType.UPDATED,
    changed: dict[str, object] | None = None,
) -> ChangeEvent:
    entity = Entity(type=kind, id=entity_id, attributes=dict(changed or {}), source=SOURCE)
    before = {key: "old" for key in (changed or {})}
    return ChangeEvent.for_change(event_type, entity, before=before)


@pytest.fixture
def policy() -> CachePolicy:
    registry = MemoryRegistry(list(shop()))
    freshness = {"customer": 60.0, "invoice": 120.5, "product": 300.0}
    return CachePolicy(build_schema(registry), registry, freshness=freshness.__getitem__)


def test_entity_reads_are_cacheable_for_the_least_freshness(policy: CachePolicy) -> None:
    plan = policy.plan('{ invoice(id: "x") { invoiceNumber items { product { sku } } } }', None)
    assert plan.cacheable
    assert plan.max_age == 120  # invoice 120.5 and product 300: the least, whole seconds
    assert plan.entity_types == {"invoice", "product"}
    assert not plan.classified
    assert plan.listed_types == frozenset()

    listing = policy.plan("query L { products(limit: 5) { items { name } } entityTypes }", "L")
    assert listing.cacheable
    assert (listing.max_age, listing.listed_types) == (300, {"product"})
    assert policy.plan("{ entityTypes }", None).max_age == 60  # every type's least


def test_fragments_and_aliases_are_followed(policy: CachePolicy) -> None:
    plan = policy.plan(
        """query { a: customer(id: "1") { ...C } }
           fragment C on Customer { country invoices { ... on Invoice { total } } }""",
        None,
    )
    assert plan.cacheable
    assert plan.entity_types == {"customer", "invoice"}
    assert plan.max_age == 60


def test_classified_fields_are_marked(policy: CachePolicy) -> None:
    plan = policy.plan('{ customer(id: "1") { name email } }', None)  # email is pii_email
    assert plan.cacheable
    assert plan.classified


@pytest.mark.parametrize(
    "query",
    [
        'mutation { customer(id: "1") { name } }',  # not a query (and invalid)
        'subscription { customer(id: "1") { name } }',
        "{ __schema { types { name } } }",  # introspection
        '{ customer(id: "1") { nope } }',  # unknown field: validation answers it
        "{ customer(id: ",  # syntax error
        '{ customer(id: "1") { name } } mutation M { x }',  # another operation
    ],
)
def test_anything_else_is_not_cacheable(policy: CachePolicy, query: str) -> None:
    assert not policy.plan(query, None).cacheable


def test_plans_are_memoized(policy: CachePolicy) -> None:
    query = '{ product(id: "1") { name } }'
    assert policy.plan(query, None) is policy.plan(query, None)


def test_keys_separate_variables_tenants_subjects_and_roles() -> None:
    q = "{ x }"
    alice = Principal(subject="alice", roles=frozenset({"reader"}), tenant="acme")
    keys = {
        cache_key(q, None, None, None, None),
        cache_key(q, None, {"id": "1"}, None, None),
        cache_key(q, "Op", None, None, None),
        cache_key(q, None, None, "acme", None),
        cache_key(q, None, None, "acme", alice),
        cache_key(q, None, None, "acme", Principal(subject="bob", roles=alice.roles)),
        cache_key(q, None, None, "acme", Principal(subject="alice", roles=frozenset({"admin"}))),
    }
    assert len(keys) == 7
    # variable order does not matter
    assert cache_key(q, None, {"a": 1, "b": 2}, None, None) == cache_key(
        q, None, {"b": 2, "a": 1}, None, None
    )


def test_invalidation_follows_dependencies() -> None:
    cache = ResponseCache(10)
    by_id = Dependencies(refs={("customer", "c-1"), ("invoice", "i-1")})
    listing = Dependencies(types={"product"})
    related = Dependencies(refs={("customer", "c-2")}, related={("invoice", "customer_id")})
    for key, deps in (("by_id", by_id), ("listing", listing), ("related", related)):
        assert cache.put(key, {"k": key}, deps, ttl=60, since=cache.sequence)

    assert cache.invalidate(change("customer", "c-9")) == 0
    # an update of an invoice that does not touch customer_id leaves the related answer
    assert cache.invalidate(change("invoice", "i-7", changed={"total": 1})) == 0
    assert cache.invalidate(change("invoice", "i-7", changed={"customer_id": "c-2"})) == 1
    assert cache.get("related") is None
    assert cache.invalidate(change("invoice", "i-1")) == 1  # held by `by_id`
    assert cache.invalidate(change("product", "p-1", EventType.CREATED)) == 1
    assert len(cache) == 0
    assert cache.stats.invalidations == 3


def test_creating_or_deleting_a_related_entity_invalidates() -> None:
    cache = ResponseCache(10)
    deps = Dependencies(related={("invoice", "customer_id")})
    cache.put("k", {}, deps, ttl=60, since=0)
    assert cache.invalidate(change("invoice", "i-new", EventType.CREATED)) == 1


def test_an_answer_whose_data_changed_during_the_request_is_not_stored() -> None:
    cache = ResponseCache(10)
    since = cache.sequence
    cache.invalidate(change("customer", "c-2"))  # unrelated: fine
    assert cache.put("a", {}, Dependencies(refs={("customer", "c-1")}), ttl=60, since=since)
    since = cache.sequence
    cache.invalidate(change("customer", "c-1"))  # arrived while "b" was resolved
    assert not cache.put("b", {}, Dependencies(refs={("customer", "c-1")}), ttl=60, since=since)
    assert cache.stats.races == 1


def test_entries_expire_and_the_least_recently_used_goes_first() -> None:
    now = [1000.0]
    cache = ResponseCache(2, clock=lambda: now[0])
    cache.put("a", {"v": 1}, Dependencies(refs={("x", "1")}), ttl=10, since=0)
    cache.put("b", {"v": 2}, Dependencies(), ttl=30, since=0)
    hit = cache.get("a")
    assert hit is not None
    assert (hit.data, hit.max_age) == ({"v": 1}, 10)
    cache.put("c", {"v": 3}, Dependencies(), ttl=30, since=0)  # evicts "b"
    assert cache.get("b") is None
    now[0] += 10.5
    assert cache.get("a") is None  # expired
    assert cache.get("c") is not None
    assert cache.stats.evictions == 1
    # the dependency index forgets evicted and expired entries
    assert cache.invalidate(change("x", "1")) == 0


def test_hits_cannot_alter_the_stored_answer() -> None:
    cache = ResponseCache(2)
    cache.put("a", {"list": [1]}, Dependencies(), ttl=10, since=0)
    first = cache.get("a")
    assert first is not None
    first.data["list"].append(2)
    second = cache.get("a")
    assert second is not None
    assert second.data == {"list": [1]}


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ConfigurationError):
        ResponseCache(0)


async def test_tracking_loaders_record_what_a_query_reads() -> None:
    customers, invoices, products = shop()
    registry = MemoryRegistry([customers, invoices, products])
    deps = Dependencies()
    ctx = GatewayContext(registry)
    ctx.loaders = TrackingLoaders(registry, deps)
    result = await build_schema(registry).execute(
        '{ customer(id: "c-1") { invoices { items { product { sku } } } } nope: customer(id: "x")'
        " { name } }",
        context_value=ctx,
    )
    assert result.errors is None
    assert ("customer", "c-1") in deps.refs
    assert ("customer", "x") in deps.refs  # not found: its creation must invalidate
    assert ("invoice", "inv-1-1") in deps.refs
    assert any(kind == "product" for kind, _ in deps.refs)
    assert deps.related == {("invoice", "customer_id")}
