"""Facet counts of a search's candidates: by domain, type, source system and classification.

Counted over the fused candidates the caller may see (types it may not read are gone before
this), so a count never reveals an entity the results would not show.

An entity's ``classification`` facet is its type's most sensitive field class: ``pii`` (any
``pii_*`` field), else ``confidential``, ``internal``, ``public``; ``unknown`` for a type
without a schema.

Example::

    facets = count_facets([FacetKeys("customer", "crm", "directus", "pii")])
    facets["type"]          # {'customer': 1}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

from dictamesh.core.models import Classification, EntitySchema

__all__ = ["FACET_NAMES", "FacetKeys", "classification_of", "count_facets"]

FACET_NAMES = ("domain", "type", "source", "classification")

_RANK = {
    Classification.PUBLIC: 0,
    Classification.INTERNAL: 1,
    Classification.CONFIDENTIAL: 2,
}


class FacetKeys(NamedTuple):
    type: str
    domain: str
    source: str | None
    classification: str


def classification_of(schema: EntitySchema | None) -> str:
    """The most sensitive class of ``schema``'s fields (nested ones included)."""
    if schema is None:
        return "unknown"
    best = 0
    pii = False
    stack = [schema]
    while stack:
        current = stack.pop()
        for spec in current.fields:
            if spec.classification.is_pii:
                pii = True
            else:
                best = max(best, _RANK.get(spec.classification, 0))
        stack.extend(current.nested.values())
    if pii:
        return "pii"
    return ("public", "internal", "confidential")[best]


def count_facets(keys: Iterable[FacetKeys]) -> dict[str, dict[str, int]]:
    """``{facet: {value: count}}``, each facet's values most frequent first (then by name);
    an unknown source counts as ``unknown``."""
    counters = {name: Counter[str]() for name in FACET_NAMES}
    for k in keys:
        counters["domain"][k.domain] += 1
        counters["type"][k.type] += 1
        counters["source"][k.source or "unknown"] += 1
        counters["classification"][k.classification] += 1
    return {
        name: dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
        for name, counter in counters.items()
    }
