import contextlib
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import Classification as C
from dictamesh.governance.masking import MaskStrategy
from dictamesh.governance.policy import Action, PolicyEngine, Resource

POLICY = """
version: 1
default_mask: redact
rules:
  - id: support-contact-masked
    effect: allow
    actions: [read]
    principal: {roles: [support]}
    resource: {entity_types: [customer], tags: ["pii_email", "pii_phone"]}
    mask: partial
  - id: billing-payment
    effect: allow
    actions: read
    principal: {roles: [billing]}
    resource: {tags: pii_payment}
  - id: admins-everything
    effect: allow
    actions: [read, read_unmasked, subscribe, admin]
    principal: {roles: [admin]}
  - id: no-contractor-invoices
    effect: deny
    actions: [read, subscribe]
    principal: {roles: ["contractor*"]}
    resource: {entity_types: [invoice]}
"""


@dataclass(frozen=True)
class P:
    subject: str = "alice"
    roles: tuple[str, ...] = ()
    tenant: str | None = "acme"
    claims: dict[str, Any] = field(default_factory=dict)


EMAIL = Resource("customer", "customers", "email", C.PII_EMAIL, "acme")
NAME = Resource("customer", "customers", "first_name", C.PII_NAME, "acme")
COUNTRY = Resource("customer", "customers", "country", C.PUBLIC, "acme")


@pytest.fixture
def engine() -> PolicyEngine:
    return PolicyEngine.from_yaml(POLICY)


def test_classified_fields_are_denied_by_default(engine: PolicyEngine) -> None:
    d = engine.decide(P(roles=("sales",)), Action.READ, EMAIL)
    assert not d.allowed
    assert "denied by default" in d.reason
    assert engine.decide(None, Action.READ, EMAIL).allowed is False


def test_unclassified_fields_and_entities_are_readable(engine: PolicyEngine) -> None:
    assert engine.decide(P(), Action.READ, COUNTRY).allowed
    assert engine.decide(None, "read", Resource("customer")).allowed
    assert engine.decide(P(), Action.SUBSCRIBE, Resource("customer")).allowed


def test_allow_rule_masks_with_its_strategy(engine: PolicyEngine) -> None:
    d = engine.decide(P(roles=("support",)), Action.READ, EMAIL)
    assert d.allowed
    assert d.mask is MaskStrategy.PARTIAL
    assert d.deciding_rules == ("support-contact-masked",)
    # support has no rule for names: still denied
    assert not engine.decide(P(roles=("support",)), Action.READ, NAME).allowed


def test_default_mask_applies_when_the_rule_names_none(engine: PolicyEngine) -> None:
    card = Resource("invoice", "invoices", "card", C.PII_PAYMENT, "acme")
    d = engine.decide(P(roles=("billing",)), Action.READ, card)
    assert d.allowed
    assert d.mask is MaskStrategy.REDACT


def test_read_unmasked_gives_clear_values(engine: PolicyEngine) -> None:
    d = engine.decide(P(roles=("admin",)), Action.READ, EMAIL)
    assert d.allowed
    assert d.mask is MaskStrategy.NONE
    assert not engine.decide(P(roles=("support",)), Action.READ_UNMASKED, EMAIL).allowed


def test_deny_beats_allow_and_globs_match(engine: PolicyEngine) -> None:
    who = P(roles=("admin", "contractor-ext"))
    d = engine.decide(who, Action.READ, Resource("invoice", "invoices"))
    assert not d.allowed
    assert d.deciding_rules == ("no-contractor-invoices",)


def test_admin_needs_a_rule(engine: PolicyEngine) -> None:
    assert not engine.decide(P(roles=("support",)), Action.ADMIN, Resource("customer")).allowed
    assert engine.decide(P(roles=("admin",)), Action.ADMIN, Resource("customer")).allowed


def test_other_tenants_resources_are_never_allowed(engine: PolicyEngine) -> None:
    other = Resource("customer", "customers", "country", C.PUBLIC, "globex")
    d = engine.decide(P(roles=("admin",)), Action.READ, other)
    assert not d.allowed
    assert "another tenant" in d.reason


def test_explain_lists_every_rule_with_its_reason(engine: PolicyEngine) -> None:
    text = engine.decide(P(roles=("support",)), Action.READ, NAME).explain()
    assert text.startswith("DENY")
    assert "rule support-contact-masked: skipped (field tag not listed)" in text
    assert "rule admins-everything: skipped (no listed role)" in text


def test_domain_comes_from_claims() -> None:
    engine = PolicyEngine.from_mapping(
        {"rules": [{"id": "team", "effect": "allow", "actions": ["admin"],
                    "principal": {"domains": ["customers"]}}]}
    )  # fmt: skip
    assert engine.decide(P(claims={"domain": "customers"}), "admin", Resource("x")).allowed
    assert not engine.decide(P(claims={"domain": "sales"}), "admin", Resource("x")).allowed


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("rules: [", "not valid YAML"),
        ("- a\n- b", "must be a mapping"),
        ("version: 2", "version"),
        ("rules: [{id: x, effect: maybe, actions: [read]}]", "rules.0.effect"),
        ("rules: [{id: x, effect: allow, actions: [fly]}]", "rules.0.actions.0"),
        ("rules: [{id: x, effect: allow, actions: []}]", "rules.0.actions"),
        ("rules: [{id: x, effect: allow, actions: [read], oops: 1}]", "rules.0.oops"),
        (
            "rules: [{id: x, effect: allow, actions: [read]},"
            " {id: x, effect: deny, actions: [read]}]",
            "duplicate rule id",
        ),
    ],
)
def test_malformed_policies_are_configuration_errors(text: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        PolicyEngine.from_yaml(text)
    assert fragment in str(err.value)


def test_unknown_action_is_a_configuration_error(engine: PolicyEngine) -> None:
    with pytest.raises(ConfigurationError):
        engine.decide(P(), "delete", EMAIL)


# --- fuzzing -------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_rule = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=5) | st.integers(),
        "effect": st.sampled_from(["allow", "deny", "maybe", 1]),
        "actions": st.lists(st.sampled_from([*Action, "x"]), max_size=3) | _json,
        "principal": st.fixed_dictionaries({}, optional={"roles": _json, "tenants": _json}) | _json,
        "resource": st.fixed_dictionaries({}, optional={"tags": _json, "entity_types": _json})
        | _json,
        "mask": st.sampled_from([*MaskStrategy, "blur"]) | _json,
    },
)


@settings(max_examples=300, deadline=None)
@given(
    doc=st.fixed_dictionaries({}, optional={"version": _json, "rules": st.lists(_rule, max_size=4)})
    | _json
)
def test_fuzzed_documents_load_or_fail_cleanly(doc: Any) -> None:
    with contextlib.suppress(ConfigurationError):
        PolicyEngine.from_mapping(doc)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300))
def test_fuzzed_yaml_text_loads_or_fails_cleanly(text: str) -> None:
    with contextlib.suppress(ConfigurationError):
        PolicyEngine.from_yaml(text)


@settings(max_examples=300, deadline=None)
@given(
    rules=st.lists(
        st.fixed_dictionaries(
            {
                "id": st.uuids().map(str),
                "effect": st.sampled_from(["allow", "deny"]),
                "actions": st.lists(st.sampled_from(list(Action)), min_size=1, max_size=4),
                "principal": st.fixed_dictionaries(
                    {}, optional={"roles": st.lists(st.sampled_from(["a", "b", "*"]), max_size=2)}
                ),
                "resource": st.fixed_dictionaries(
                    {},
                    optional={
                        "tags": st.lists(st.sampled_from(["pii_*", "confidential"]), max_size=2)
                    },
                ),
            }
        ),
        max_size=5,
    ),
    roles=st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
    tag=st.sampled_from(list(C)),
)
def test_no_bypass_invariants(rules: list[dict[str, Any]], roles: list[str], tag: C) -> None:
    engine = PolicyEngine.from_mapping({"rules": rules})
    resource = Resource("customer", "customers", "f", tag, "acme")
    who = P(roles=tuple(roles))
    d = engine.decide(who, Action.READ, resource)
    # a matching deny always wins
    if any(
        r["effect"] == "deny"
        and engine._mismatch(engine.document.rules[i], who, Action.READ, resource) is None
        for i, r in enumerate(rules)
    ):
        assert not d.allowed
    # a classified field is never readable without some allow rule that matches
    if resource.classified and d.allowed:
        assert d.deciding_rules
    # another tenant's data is never readable
    assert not engine.decide(who, Action.READ, Resource("customer", tenant="globex")).allowed
