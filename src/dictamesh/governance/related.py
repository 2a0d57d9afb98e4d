"""What the catalog says *about* entities, governed: relationship graphs, lineage and the
names of changed fields carry no attribute values, yet they reveal ids and types of related
entities, and which (classified) fields changed.

* :class:`TypeAccess` — may the caller ``read`` entities of a type? (one decision per type
  and request, the same entity-level decision every other path makes);
* :func:`visible_graph` — a relationship graph without the nodes of types the caller may
  not read, without the edges touching them and without the nodes only reachable through
  them (depths recomputed over what is left); the number withheld is returned so the
  answer can say so. Withheld nodes are not audited: no value of theirs is served;
* :func:`visible_flow` — may one lineage record be shown? Not when an entity it names, or
  a data product dataset (``dictamesh/<domain>.<type>``) it names, is of a denied type;
* :func:`visible_changed_fields` — a change event's ``changed_fields`` without the fields
  the caller cannot read in clear (denied or masked), as for filters and search matches.

Example::

    access = TypeAccess(governance, principal, lookup)
    shown = await visible_graph(access, ("customer", "c-1"), nodes, edges,
                                direction="both", max_depth=3)
    shown.depths        # {("customer", "c-1"): 0, ("invoice", "i-1"): 1}
    shown.withheld      # 2: an order of a denied type, and the product only it led to
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dictamesh.catalog.service import DATA_PRODUCT_NAMESPACE
from dictamesh.core.models import EntitySchema
from dictamesh.governance.enforce import Governance, SchemaLookup
from dictamesh.governance.policy import PrincipalLike

__all__ = [
    "GraphView",
    "TypeAccess",
    "visible_changed_fields",
    "visible_flow",
    "visible_graph",
]

NodeKey = tuple[str, str]
"""``(entity type, entity id)``"""

_OUT = frozenset({"out", "outgoing"})
_IN = frozenset({"in", "incoming"})


class TypeAccess:
    """Entity-level ``read`` decisions for one caller, remembered per type (and domain).

    ``lookup`` gives a type's schema, hence its domain (``None``: unknown type, decided
    without a domain, so rules naming the type still apply)."""

    def __init__(
        self, governance: Governance, principal: PrincipalLike | None, lookup: SchemaLookup
    ) -> None:
        self.governance = governance
        self.principal = principal
        self._lookup = lookup
        self._domains: dict[str, str | None] = {}
        self._allowed: dict[tuple[str, str | None], bool] = {}

    async def domain(self, entity_type: str) -> str | None:
        if entity_type not in self._domains:
            schema = await self._lookup(entity_type)
            self._domains[entity_type] = schema.domain if schema is not None else None
        return self._domains[entity_type]

    async def readable(self, entity_type: str) -> bool:
        """May the caller read entities of ``entity_type`` (its schema's domain)?"""
        return self.readable_in(entity_type, await self.domain(entity_type))

    def readable_in(self, entity_type: str, domain: str | None) -> bool:
        """May the caller read entities of ``entity_type`` in ``domain``?"""
        key = (entity_type, domain)
        if key not in self._allowed:
            self._allowed[key] = self.governance.entity_decision(
                self.principal, entity_type, domain
            ).allowed
        return self._allowed[key]


@dataclass(frozen=True, slots=True)
class GraphView:
    #: depth (hops from the root) of every node the caller may see, the root included
    depths: dict[NodeKey, int]
    #: nodes of the walk left out (denied types, and nodes reachable only through them)
    withheld: int

    def shows(self, node: NodeKey) -> bool:
        return node in self.depths

    def shows_edge(self, subject: NodeKey, obj: NodeKey) -> bool:
        return subject in self.depths and obj in self.depths


async def visible_graph(
    access: TypeAccess,
    root: NodeKey,
    nodes: Mapping[NodeKey, int],
    edges: Sequence[tuple[NodeKey, NodeKey]],
    *,
    direction: str,
    max_depth: int,
) -> GraphView:
    """The part of a graph walk from ``root`` the caller may see (see the module doc).

    ``nodes``: each node of the walk and its depth; ``edges``: ``(subject, object)`` pairs
    among them. The root is the caller's to check (it is always kept here)."""
    denied = set()
    for entity_type in sorted({t for t, _ in nodes}):
        if not await access.readable(entity_type):
            denied.add(entity_type)
    if not denied:
        return GraphView(depths={**nodes, root: 0}, withheld=0)
    visible = {n for n in nodes if n[0] not in denied} | {root}
    follow_out = direction not in _IN
    follow_in = direction not in _OUT
    neighbours: dict[NodeKey, list[NodeKey]] = {}
    for subject, obj in edges:
        if subject not in visible or obj not in visible:
            continue
        if follow_out:
            neighbours.setdefault(subject, []).append(obj)
        if follow_in:
            neighbours.setdefault(obj, []).append(subject)
    depths = {root: 0}
    queue = deque([root])
    while queue:
        node = queue.popleft()
        if depths[node] >= max_depth:
            continue
        for nxt in neighbours.get(node, ()):
            if nxt not in depths:
                depths[nxt] = depths[node] + 1
                queue.append(nxt)
    withheld = sum(1 for n in nodes if n != root and n not in depths)
    return GraphView(depths=depths, withheld=withheld)


async def visible_flow(
    access: TypeAccess,
    datasets: Iterable[tuple[str, str]],
    entity_types: Iterable[str | None],
) -> bool:
    """May a lineage record naming ``datasets`` (``(namespace, name)``) and entities of
    ``entity_types`` be shown? Not when any of them is of a type the caller may not read."""
    for entity_type in entity_types:
        if entity_type and not await access.readable(entity_type):
            return False
    for namespace, name in datasets:
        if namespace != DATA_PRODUCT_NAMESPACE:
            continue  # a source system's dataset: no entity type of ours
        domain, dot, entity_type = name.partition(".")
        if dot and not access.readable_in(entity_type, domain):
            return False
    return True


def visible_changed_fields(
    governance: Governance,
    principal: PrincipalLike | None,
    schema: EntitySchema | None,
    names: Iterable[str],
    *,
    channel: str,
) -> tuple[list[str], int]:
    """``(names the caller may see, how many were left out)``: a field it cannot read in
    clear (or a nested list holding one) is left out — that it changed is data about its
    value. Not audited: no value is served."""
    names = list(names)
    if schema is None:
        return names, 0
    hidden = governance.redactor(principal, channel=channel).hidden_names(schema)
    shown = [
        name
        for name in names
        if not (
            governance.clear_access(principal, schema, name) is not None
            if "." in name
            else name in hidden
        )
    ]
    return shown, len(names) - len(shown)
