"""What a snapshot implies: relationship edges and nested child entities."""

from __future__ import annotations

from tests.contract.catalog_contract import INVOICE

from dictamesh.catalog._derive import NESTED_RELATIONSHIP, derive
from dictamesh.core.models import EntitySchema, FieldSpec, FieldType, RelationshipSpec, ids_at


def test_ids_at_follows_dotted_paths_and_lists() -> None:
    attrs = {
        "customer_id": "c-1",
        "tags": ["a", "b", "a"],
        "items": [{"product_id": "p-1"}, {"product_id": 7}, {"product_id": None}, "junk"],
        "flag": True,
        "bad": "has space",
    }
    assert ids_at(attrs, "customer_id") == ["c-1"]
    assert ids_at(attrs, "tags") == ["a", "b"]
    assert ids_at(attrs, "items.product_id") == ["p-1", "7"]
    assert ids_at(attrs, "flag") == []
    assert ids_at(attrs, "bad") == []
    assert ids_at(attrs, "missing.path") == []


def test_invoice_snapshot_derives_children_and_edges() -> None:
    derived = derive(
        "invoice",
        "i-1",
        {
            "customer_id": "c-1",
            "items": [{"id": 10, "product_id": "p-1"}, {"product_id": "p-2"}, "not an item"],
        },
        INVOICE,
    )
    assert [(c.type, c.id, c.source_id, c.field) for c in derived.children] == [
        ("invoice_item", "i-1:10", "10", "items"),
        ("invoice_item", "i-1:2", "2", "items"),  # no id: its position
    ]
    assert set(derived.edges) == {
        ("invoice", "i-1", "billed_to", "customer", "c-1"),
        ("invoice", "i-1", NESTED_RELATIONSHIP, "invoice_item", "i-1:10"),
        ("invoice", "i-1", NESTED_RELATIONSHIP, "invoice_item", "i-1:2"),
        ("invoice_item", "i-1:10", "references", "product", "p-1"),
        ("invoice_item", "i-1:2", "references", "product", "p-2"),
    }
    assert derived.edges[("invoice", "i-1", "billed_to", "customer", "c-1")] == {
        "relationship": "customer",
        "via": "customer_id",
    }


def test_no_schema_or_no_list_derives_nothing() -> None:
    assert derive("x", "1", {"a": 1}, None).edges == {}
    derived = derive("invoice", "i-1", {"items": "oops"}, INVOICE)
    assert derived.children == []
    assert derived.edges == {}


def test_nested_lists_nest_recursively_and_skip_invalid_ids() -> None:
    leaf = EntitySchema(
        entity_type="part",
        domain="d",
        fields=[FieldSpec(name="sku", type=FieldType.STRING)],
        relationships=[RelationshipSpec(name="sku", target_type="product", via_field="sku")],
    )
    mid = EntitySchema(entity_type="box", domain="d", fields=[], nested={"parts": leaf})
    top = EntitySchema(entity_type="order", domain="d", fields=[], nested={"boxes": mid})
    derived = derive(
        "order",
        "o-1",
        {"boxes": [{"id": "b", "parts": [{"id": "x", "sku": "s-1"}]}, {"id": "bad id"}]},
        top,
    )
    assert [c.id for c in derived.children] == ["o-1:b", "o-1:b:x"]
    assert ("part", "o-1:b:x", "references", "product", "s-1") in derived.edges
    assert derived.children[1].parent_domain == "d"
