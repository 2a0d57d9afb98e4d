"""What an entity snapshot implies: its relationships and its nested child entities.

Pure functions over ``EntitySchema`` + attributes, shared by the ingestor and tests.

* Every ``RelationshipSpec`` gives ``entity --relationship_type--> target`` for each id found
  under ``via_field`` (dotted paths descend through nested lists; lists give many edges).
* Every ``nested`` object list gives one child entity per item, ``entity --has_item-->
  child``, and the child's own relationships (recursively). A child's id is
  ``<parent id>:<item id>`` (the item's ``id`` field, else its 1-based position): item ids
  are often unique only within their parent, and the qualified id can never collide.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dictamesh.core.models import EntitySchema, ids_at, is_entity_id

__all__ = [
    "NESTED_RELATIONSHIP",
    "Derived",
    "DerivedChild",
    "EdgeTriple",
    "child_id",
    "derive",
    "item_key",
]

log = logging.getLogger(__name__)

NESTED_RELATIONSHIP = "has_item"
"""Relationship type from a parent to each item of one of its nested object lists."""

EdgeTriple = tuple[str, str, str, str, str]
"""``(subject_type, subject_id, relationship_type, object_type, object_id)``."""


@dataclass(slots=True)
class DerivedChild:
    type: str
    id: str
    source_id: str
    domain: str
    attributes: dict[str, Any]
    parent_type: str
    parent_id: str
    parent_domain: str
    field: str


@dataclass(slots=True)
class Derived:
    #: every edge the snapshot implies (parent's and children's), with its metadata
    edges: dict[EdgeTriple, dict[str, Any]] = field(default_factory=dict)
    children: list[DerivedChild] = field(default_factory=list)


def item_key(item: Mapping[str, Any], position: int) -> str:
    """The item's own id (its ``id`` field), else its 1-based position in the list."""
    raw = item.get("id")
    if raw is not None and not isinstance(raw, bool | dict | list):
        return str(raw)
    return str(position)


def child_id(parent_id: str, item: Mapping[str, Any], position: int) -> str:
    return f"{parent_id}:{item_key(item, position)}"


def derive(
    entity_type: str, entity_id: str, attributes: Mapping[str, Any], schema: EntitySchema | None
) -> Derived:
    """Edges and children implied by ``attributes`` of ``entity_type:entity_id``."""
    derived = Derived()
    if schema is not None:
        _derive_into(derived, entity_type, entity_id, attributes, schema)
    return derived


def _derive_into(
    out: Derived,
    entity_type: str,
    entity_id: str,
    attributes: Mapping[str, Any],
    schema: EntitySchema,
) -> None:
    for rel in schema.relationships:
        for target in ids_at(attributes, rel.via_field):
            out.edges[(entity_type, entity_id, rel.relationship_type, rel.target_type, target)] = {
                "relationship": rel.name,
                "via": rel.via_field,
            }
    for name, nested in schema.nested.items():
        items = attributes.get(name)
        if not isinstance(items, list):
            continue
        for position, item in enumerate(items, start=1):
            if not isinstance(item, Mapping):
                continue
            key = item_key(item, position)
            cid = f"{entity_id}:{key}"
            if not is_entity_id(cid):
                log.warning(
                    "skipping %s item of %s %r: derived id %r is not a valid entity id",
                    name,
                    entity_type,
                    entity_id,
                    cid,
                )
                continue
            out.children.append(
                DerivedChild(
                    type=nested.entity_type,
                    id=cid,
                    source_id=key,
                    domain=nested.domain,
                    attributes=dict(item),
                    parent_type=entity_type,
                    parent_id=entity_id,
                    parent_domain=schema.domain,
                    field=name,
                )
            )
            out.edges[(entity_type, entity_id, NESTED_RELATIONSHIP, nested.entity_type, cid)] = {
                "field": name
            }
            _derive_into(out, nested.entity_type, cid, item, nested)
