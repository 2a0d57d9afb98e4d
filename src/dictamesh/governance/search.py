"""Search that cannot be steered by values the caller may not read in clear.

Filtering the hits afterwards is not enough: a hidden value (a postal code inside a
withheld address) still raised the entity's score and reordered the results, and a query
naming it decided which entities were returned at all. So the catalog is asked to leave
those values out of matching and scoring: :func:`governed_search` passes, per entity type,
the top-level attribute names the caller cannot read in clear
(:meth:`~dictamesh.governance.enforce.Redactor.hidden_names`).

The types known up front (the node's schemas) are covered before the first query. A hit
of a type not covered yet (a schema only the catalog knows) has its hidden names looked
up, and the search runs again with them, until every returned type is covered.

Example::

    hits = await governed_search(redactor, search, lookup, registry.schemas())
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from dictamesh.governance.enforce import Redactor, SchemaLookup

__all__ = ["MAX_SEARCH_ROUNDS", "SearchRun", "governed_search"]

#: searches run at most this often per request (each round covers at least one new type)
MAX_SEARCH_ROUNDS = 4

#: runs the catalog search with ``{entity_type: hidden top-level names}``
SearchRun = Callable[[Mapping[str, frozenset[str]]], Awaitable[Sequence[Any]]]


async def governed_search(
    redactor: Redactor, run: SearchRun, lookup: SchemaLookup, known_types: Iterable[str]
) -> Sequence[Any]:
    """The hits of ``run`` with the caller's hidden values left out of the search."""
    hidden: dict[str, frozenset[str]] = {}
    covered: set[str] = set()

    async def cover(types: Iterable[str]) -> set[str]:
        """Look up the types not covered yet; the ones that have hidden names."""
        added: set[str] = set()
        for entity_type in types:
            if entity_type in covered:
                continue
            covered.add(entity_type)
            schema = await lookup(entity_type)
            names = redactor.hidden_names(schema) if schema is not None else frozenset()
            if names:
                hidden[entity_type] = names
                added.add(entity_type)
        return added

    await cover(known_types)
    hits = await run(dict(hidden))
    for _ in range(MAX_SEARCH_ROUNDS - 1):
        if not await cover(h.entity_type for h in hits):
            return hits
        hits = await run(dict(hidden))
    late = await cover(h.entity_type for h in hits)
    # a type still searched with its hidden values: drop its hits rather than leak
    return [h for h in hits if h.entity_type not in late]
