"""Facet counts and an entity type's classification facet."""

from __future__ import annotations

from dictamesh.core.models import Classification, EntitySchema, FieldSpec, FieldType
from dictamesh.search.facets import FacetKeys, classification_of, count_facets


def schema(*classes: Classification, nested: Classification | None = None) -> EntitySchema:
    fields = [
        FieldSpec(name=f"f{i}", type=FieldType.STRING, classification=c)
        for i, c in enumerate(classes)
    ]
    inner = {}
    if nested is not None:
        inner["address"] = EntitySchema(
            entity_type="address",
            domain="crm",
            fields=[FieldSpec(name="city", type=FieldType.STRING, classification=nested)],
        )
    return EntitySchema(entity_type="thing", domain="crm", fields=fields, nested=inner)


def test_classification_is_the_most_sensitive_field() -> None:
    assert classification_of(None) == "unknown"
    assert classification_of(schema(Classification.PUBLIC)) == "public"
    assert classification_of(schema(Classification.PUBLIC, Classification.INTERNAL)) == "internal"
    assert (
        classification_of(schema(Classification.CONFIDENTIAL, Classification.INTERNAL))
        == "confidential"
    )
    assert classification_of(schema(Classification.CONFIDENTIAL, Classification.PII_EMAIL)) == "pii"
    assert classification_of(schema(Classification.PUBLIC, nested=Classification.PII_ADDRESS)) == (
        "pii"
    )


def test_counts_per_facet_most_frequent_first() -> None:
    facets = count_facets(
        [
            FacetKeys("customer", "crm", "directus", "pii"),
            FacetKeys("invoice", "billing", "shop", "internal"),
            FacetKeys("invoice", "billing", None, "internal"),
        ]
    )
    assert facets == {
        "domain": {"billing": 2, "crm": 1},
        "type": {"invoice": 2, "customer": 1},
        "source": {"directus": 1, "shop": 1, "unknown": 1},
        "classification": {"internal": 2, "pii": 1},
    }
    assert list(facets["source"]) == ["directus", "shop", "unknown"]
    assert count_facets([]) == {"domain": {}, "type": {}, "source": {}, "classification": {}}
