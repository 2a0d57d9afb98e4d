"""Embedded fields: chosen per type, never one governance could mask for anyone."""

from __future__ import annotations

from typing import Any

from dictamesh.core.models import Classification, EntitySchema, FieldSpec, FieldType
from dictamesh.governance.enforce import default_policy
from dictamesh.governance.policy import PolicyEngine, Resource
from dictamesh.search.fields import FieldChooser, text_hash

CUSTOMER = EntitySchema(
    entity_type="customer",
    domain="crm",
    fields=[
        FieldSpec(name="id", type=FieldType.STRING, required=True),
        FieldSpec(name="name", type=FieldType.STRING),
        FieldSpec(name="city", type=FieldType.STRING),
        FieldSpec(name="email", type=FieldType.STRING, classification=Classification.PII_EMAIL),
        FieldSpec(name="notes", type=FieldType.STRING, classification=Classification.CONFIDENTIAL),
        FieldSpec(name="segment", type=FieldType.STRING, classification=Classification.INTERNAL),
        FieldSpec(name="credit", type=FieldType.NUMBER),
    ],
)
ATTRS: dict[str, Any] = {
    "id": "c1",
    "name": "Acme Corp",
    "city": "Berlin",
    "email": "secret@acme.example",
    "notes": "owes us money",
    "segment": "enterprise",
    "credit": 1200,
}


def _policy(*rules: dict[str, Any]) -> PolicyEngine:
    return PolicyEngine.from_mapping({"version": 1, "rules": list(rules)})


def test_default_fields_are_the_unclassified_string_attributes() -> None:
    chooser = FieldChooser(default_policy(), {})
    assert chooser.fields("customer", CUSTOMER) == ("name", "city", "segment")
    text = chooser.text("customer", CUSTOMER, ATTRS)
    assert text == "customer\nAcme Corp\nBerlin\nenterprise"


def test_classified_fields_are_never_embedded_even_when_configured() -> None:
    # an admin may read them unmasked, others not: the union says never
    chooser = FieldChooser(default_policy(), {"customer": ["name", "email", "notes", "credit"]})
    assert chooser.fields("customer", CUSTOMER) == ("name", "credit")
    text = chooser.text("customer", CUSTOMER, ATTRS)
    assert "secret" not in text
    assert "owes" not in text
    assert text == "customer\nAcme Corp\n1200"


def test_a_field_level_deny_rule_for_anyone_keeps_an_unclassified_field_out() -> None:
    policy = _policy(
        {
            "id": "no-city-for-guests",
            "effect": "deny",
            "actions": ["read"],
            "principal": {"roles": ["guest"]},
            "resource": {"entity_types": ["customer"], "fields": ["city"]},
        }
    )
    chooser = FieldChooser(policy, {})
    assert "city" not in chooser.fields("customer", CUSTOMER)
    assert "Berlin" not in chooser.text("customer", CUSTOMER, ATTRS)


def test_a_tag_level_deny_rule_on_internal_fields_keeps_them_out() -> None:
    policy = _policy(
        {
            "id": "no-internal",
            "effect": "deny",
            "actions": ["read"],
            "principal": {"authenticated": False},
            "resource": {"tags": ["internal"]},
        }
    )
    assert FieldChooser(policy, {}).fields("customer", CUSTOMER) == ("name", "city")


def test_an_entity_level_deny_does_not_hide_fields() -> None:
    # whoever it denies sees no customer at all, so no score of theirs can leak a value
    policy = _policy(
        {
            "id": "no-customers-for-guests",
            "effect": "deny",
            "actions": ["read"],
            "principal": {"roles": ["guest"]},
            "resource": {"entity_types": ["customer"]},
        }
    )
    assert "city" in FieldChooser(policy, {}).fields("customer", CUSTOMER)
    assert policy.could_restrict_read(
        Resource("customer", "crm", "email", Classification.PII_EMAIL)
    )
    assert not policy.could_restrict_read(Resource("customer", "crm", "city"))


def test_a_rule_of_another_type_or_field_does_not_matter() -> None:
    policy = _policy(
        {
            "id": "other",
            "effect": "deny",
            "actions": ["read"],
            "resource": {"entity_types": ["invoice"], "fields": ["city"]},
        }
    )
    assert "city" in FieldChooser(policy, {}).fields("customer", CUSTOMER)


def test_no_text_without_values() -> None:
    chooser = FieldChooser(default_policy(), {})
    assert chooser.text("customer", CUSTOMER, {"email": "x@y.example", "name": "  "}) == ""


def test_without_a_schema_only_configured_names_are_embedded() -> None:
    chooser = FieldChooser(default_policy(), {"ticket": ["title"]})
    assert chooser.text("ticket", None, {"title": "Printer on fire", "x": "y"}) == (
        "ticket\nPrinter on fire"
    )
    assert chooser.text("other", None, {"title": "anything"}) == ""


def test_text_is_safe_for_providers() -> None:
    chooser = FieldChooser(default_policy(), {})
    text = chooser.text("customer", CUSTOMER, {"name": "A\x00B\ud800C"})
    assert text == "customer\nA BC"


def test_the_hash_follows_the_text_and_the_chunking() -> None:
    base = text_hash("customer\nAcme", chunk_chars=1000, chunk_overlap=100)
    assert base == text_hash("customer\nAcme", chunk_chars=1000, chunk_overlap=100)
    assert base != text_hash("customer\nAcme Corp", chunk_chars=1000, chunk_overlap=100)
    assert base != text_hash("customer\nAcme", chunk_chars=500, chunk_overlap=100)


def test_identifiers_are_left_out_unless_configured() -> None:
    schema = EntitySchema(
        entity_type="invoice",
        domain="billing",
        fields=[
            FieldSpec(name="id", type=FieldType.STRING),
            FieldSpec(name="customer_id", type=FieldType.STRING),
            FieldSpec(name="title", type=FieldType.STRING),
        ],
    )
    assert FieldChooser(default_policy(), {}).fields("invoice", schema) == ("title",)
    configured = FieldChooser(default_policy(), {"invoice": ["id", "title", "unknown"]})
    assert configured.fields("invoice", schema) == ("id", "title")
