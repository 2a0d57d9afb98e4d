"""The catalog in GraphQL: where entities live, their relationship graph and lineage.

:class:`CatalogPart` is a :class:`~dictamesh.gateway.schema_builder.SchemaPart`: it adds

* root fields ``catalogEntry(type, id)``, ``catalogEntries(type, limit, cursor)``,
  ``catalogSearch(text, mode, type, domain, source, limit)`` (text, semantic or hybrid:
  ``docs/search.md``), ``catalogSearchResults(...)`` (the same with facets and
  ``degraded``), ``similarEntities(type, id, limit)``, ``relationshipGraph(type, id,
  depth, direction, limit)`` and ``lineage(type, id)``;
* a ``catalog: CatalogEntry`` field on every entity type (``null`` when the catalog has
  not registered that entity yet);
* the node's cache status (``docs/catalog.md``): ``CatalogEntry.cache`` (each cache layer's
  copy of the entity) and the root field ``cacheSummary(type)`` (per entity type and layer;
  types the caller may not read are left out). Both are ``null`` for a catalog that keeps
  no cache status.

Like every field that reads another system, they are nullable: when the catalog fails,
only they are ``null`` (with an error) and the rest of the answer still arrives.

Under governance, an entry, graph or lineage of an entity type the caller may not ``read``
is ``null`` with ``FORBIDDEN``; graphs leave out related entities of such types (and those
reachable only through them: ``withheldNodes``), lineage the flows naming them
(``withheldEdges``), ``catalogEntries`` without a type their entries.

The one-node schema gets them with ``build_schema(registry, parts=[CatalogPart(catalog)])``;
the federation ``catalog`` subgraph serves the same fields, adding ``catalog`` to the other
subgraphs' entities through ``@key(fields: "id")`` stubs.

Example::

    schema = build_schema(registry, parts=[CatalogPart(catalog)])
    await schema.execute(
        '{ customer(id: "1") { email catalog { domain graph { nodes { type id } } } } }',
        context_value=GatewayContext(registry),
    )
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol, runtime_checkable

import strawberry
from strawberry.types import Info
from strawberry.types.field import StrawberryField

from dictamesh.core.errors import ConfigurationError, EntityNotFound
from dictamesh.core.models import EntityRef, validate_entity_id
from dictamesh.core.settings import EmbeddingSettings, SearchSettings
from dictamesh.gateway.errors import bad_user_input
from dictamesh.gateway.governance import guard_catalog_type, search_scope, type_access
from dictamesh.gateway.schema_builder import Node
from dictamesh.governance.related import visible_flow, visible_graph
from dictamesh.quality.runtime import NodeQuality
from dictamesh.quality.store import RuleResult, TypeScore, score
from dictamesh.search.hybrid import SearchAnswer, SearchHit, SearchService
from dictamesh.search.request import SearchMode, SearchRequest

__all__ = [
    "CATALOG_TYPE_NAMES",
    "CatalogCacheLayer",
    "CatalogCacheSource",
    "CatalogCacheSummary",
    "CatalogDataset",
    "CatalogEntry",
    "CatalogEntryPage",
    "CatalogFacet",
    "CatalogFacetCount",
    "CatalogGraph",
    "CatalogGraphDirection",
    "CatalogGraphEdge",
    "CatalogGraphNode",
    "CatalogLineage",
    "CatalogLineageEdge",
    "CatalogPart",
    "CatalogRef",
    "CatalogSearchHit",
    "CatalogSearchMode",
    "CatalogSearchRank",
    "CatalogSearchResults",
    "CatalogSource",
]

DEFAULT_GRAPH_LIMIT = 100
_TEXT_ONLY = SearchSettings(default_mode="text", embeddings=EmbeddingSettings(provider="off"))


class CatalogSource(Protocol):
    """The read side of :class:`dictamesh.catalog.service.CatalogService` used here."""

    async def get_entity_location(self, entity_type: str, entity_id: str) -> Any: ...

    async def list_entities(
        self, entity_type: str | None = None, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[Sequence[Any], str | None]: ...

    async def query_relationship_graph(
        self,
        root: EntityRef,
        *,
        max_depth: int = 3,
        direction: str = "both",
        limit: int = 1000,
    ) -> Any: ...

    async def get_lineage(self, entity_type: str, entity_id: str | None = None) -> Any: ...

    async def search_entities(
        self, text: str, *, entity_type: str | None = None, limit: int = 20
    ) -> Sequence[Any]: ...


@runtime_checkable
class CatalogCacheSource(Protocol):
    """The cache status reads (:class:`dictamesh.catalog.service.CatalogService` has them)."""

    async def get_cache_status(self, ref: EntityRef) -> Sequence[Any]: ...

    async def cache_summary(self, entity_type: str | None = None) -> Sequence[Any]: ...


@strawberry.type(
    description="One cache layer's copy of an entity, as the running node recorded it."
)
class CatalogCacheLayer:
    layer: str
    cached_at: datetime | None = strawberry.field(description="when the copy was read")
    expires_at: datetime | None = strawberry.field(description="fresh until then")
    ttl_seconds: float | None
    fresh: bool = strawberry.field(description="cached, not expired, not invalidated since")
    invalidated_at: datetime | None = strawberry.field(description="last invalidation")
    invalidations: float = strawberry.field(description="invalidations counted")
    hits: float = strawberry.field(description="reads this layer answered")
    last_event_id: str | None

    @classmethod
    def of(cls, record: Any, now: datetime) -> CatalogCacheLayer:
        return cls(
            layer=record.layer,
            cached_at=record.cached_at,
            expires_at=record.expires_at,
            ttl_seconds=record.ttl_seconds,
            fresh=record.is_fresh(now),
            invalidated_at=record.invalidated_at,
            invalidations=record.invalidations,
            hits=record.hits,
            last_event_id=record.last_event_id,
        )


@strawberry.type(description="One entity type's copies in one cache layer.")
class CatalogCacheSummary:
    entity_type: str
    layer: str
    entities: int = strawberry.field(description="entities with a copy in this layer")
    fresh: int
    invalidated: int
    invalidations: float
    hits: float
    last_cached_at: datetime | None
    last_invalidated_at: datetime | None


class _NoCatalog:
    """Stands in when a schema is built only to print its SDL."""

    def _fail(self) -> ConfigurationError:
        return ConfigurationError("this schema was built without a catalog")

    async def get_entity_location(self, entity_type: str, entity_id: str) -> Any:
        raise self._fail()

    async def list_entities(
        self, entity_type: str | None = None, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[Sequence[Any], str | None]:
        raise self._fail()

    async def query_relationship_graph(
        self,
        root: EntityRef,
        *,
        max_depth: int = 3,
        direction: str = "both",
        limit: int = 1000,
    ) -> Any:
        raise self._fail()

    async def get_lineage(self, entity_type: str, entity_id: str | None = None) -> Any:
        raise self._fail()

    async def search_entities(
        self, text: str, *, entity_type: str | None = None, limit: int = 20
    ) -> Sequence[Any]:
        raise self._fail()


# --- types ----------------------------------------------------------------------------


@strawberry.enum(description="Which relationships a graph walk follows.")
class CatalogGraphDirection(Enum):
    OUT = "out"
    IN = "in"
    BOTH = "both"


@strawberry.type(description="An entity by type and id.")
class CatalogRef:
    type: str
    id: strawberry.ID

    @classmethod
    def of(cls, ref: Any) -> CatalogRef:
        return cls(type=ref.type, id=strawberry.ID(ref.id))


@strawberry.type
class CatalogGraphNode:
    type: str
    id: strawberry.ID
    depth: int = strawberry.field(description="fewest hops from the root")


@strawberry.type
class CatalogGraphEdge:
    subject: CatalogRef
    relationship_type: str
    object: CatalogRef


@strawberry.type(description="Entities within `maxDepth` hops of `root` and the edges among them.")
class CatalogGraph:
    root: CatalogRef
    nodes: list[CatalogGraphNode]
    edges: list[CatalogGraphEdge]
    max_depth: int
    direction: str
    truncated: bool = strawberry.field(description="true when `limit` cut the answer")
    withheld_nodes: int = strawberry.field(
        default=0,
        description="related entities left out: of types you may not read, or reachable"
        " only through those",
    )

    @classmethod
    def of(cls, graph: Any) -> CatalogGraph:
        return cls(
            root=CatalogRef.of(graph.root),
            nodes=[
                CatalogGraphNode(type=n.type, id=strawberry.ID(n.id), depth=n.depth)
                for n in graph.nodes
            ],
            edges=[
                CatalogGraphEdge(
                    subject=CatalogRef.of(e.subject),
                    relationship_type=e.relationship_type,
                    object=CatalogRef.of(e.object),
                )
                for e in graph.edges
            ],
            max_depth=graph.max_depth,
            direction=str(graph.direction),
            truncated=graph.truncated,
        )


@strawberry.type(description="An OpenLineage-style dataset.")
class CatalogDataset:
    namespace: str
    name: str


@strawberry.type(description="Data flowing from `upstream` to `downstream`.")
class CatalogLineageEdge:
    upstream: CatalogDataset
    downstream: CatalogDataset
    transformation: str
    upstream_entity: CatalogRef | None
    downstream_entity: CatalogRef | None
    occurrences: int
    last_seen_at: datetime


def _dataset(ref: Any) -> CatalogDataset:
    return CatalogDataset(namespace=ref.namespace, name=ref.name)


def _lineage_edge(record: Any) -> CatalogLineageEdge:
    return CatalogLineageEdge(
        upstream=_dataset(record.upstream),
        downstream=_dataset(record.downstream),
        transformation=record.transformation,
        upstream_entity=None
        if record.upstream_entity is None
        else CatalogRef.of(record.upstream_entity),
        downstream_entity=None
        if record.downstream_entity is None
        else CatalogRef.of(record.downstream_entity),
        occurrences=record.occurrences,
        last_seen_at=record.last_seen_at,
    )


@strawberry.type(description="Where a data product's (or one entity's) data comes from and goes.")
class CatalogLineage:
    entity_type: str
    entity_id: strawberry.ID | None
    dataset: CatalogDataset | None
    upstream: list[CatalogLineageEdge]
    downstream: list[CatalogLineageEdge]
    withheld_edges: int = strawberry.field(
        default=0, description="flows left out: they name entity types you may not read"
    )

    @classmethod
    def of(cls, view: Any) -> CatalogLineage:
        return cls(
            entity_type=view.entity_type,
            entity_id=None if view.entity_id is None else strawberry.ID(view.entity_id),
            dataset=None if view.dataset is None else _dataset(view.dataset),
            upstream=[_lineage_edge(r) for r in view.upstream],
            downstream=[_lineage_edge(r) for r in view.downstream],
        )


async def _governed_graph(info: Info, catalog: Any, graph: CatalogGraph) -> CatalogGraph:
    """Without the related entities the caller may not read (governance.related)."""
    access = type_access(info, catalog)
    if access is None:
        return graph

    def key(ref: Any) -> tuple[str, str]:
        return (ref.type, str(ref.id))

    view = await visible_graph(
        access,
        key(graph.root),
        {key(n): n.depth for n in graph.nodes},
        [(key(e.subject), key(e.object)) for e in graph.edges],
        direction=graph.direction,
        max_depth=graph.max_depth,
    )
    if view.withheld:
        graph.nodes = [
            CatalogGraphNode(type=n.type, id=n.id, depth=view.depths[key(n)])
            for n in graph.nodes
            if view.shows(key(n))
        ]
        graph.edges = [e for e in graph.edges if view.shows_edge(key(e.subject), key(e.object))]
    graph.withheld_nodes = view.withheld
    return graph


async def _governed_lineage(info: Info, catalog: Any, lineage: CatalogLineage) -> CatalogLineage:
    """Without the flows naming entity types the caller may not read."""
    access = type_access(info, catalog)
    if access is None:
        return lineage
    withheld = 0

    async def shown(edges: list[CatalogLineageEdge]) -> list[CatalogLineageEdge]:
        nonlocal withheld
        kept = []
        for e in edges:
            datasets = [(d.namespace, d.name) for d in (e.upstream, e.downstream)]
            refs = (e.upstream_entity, e.downstream_entity)
            types = [r.type if r is not None else None for r in refs]
            if await visible_flow(access, datasets, types):
                kept.append(e)
            else:
                withheld += 1
        return kept

    lineage.upstream = await shown(lineage.upstream)
    lineage.downstream = await shown(lineage.downstream)
    lineage.withheld_edges = withheld
    return lineage


async def _entry_graph(
    root: CatalogEntry,
    info: Info,
    depth: int = 3,
    direction: CatalogGraphDirection = CatalogGraphDirection.BOTH,
    limit: int = DEFAULT_GRAPH_LIMIT,
) -> CatalogGraph | None:
    # The entry itself was governed when it was resolved (catalogEntry, entity.catalog).
    graph = await root._catalog.query_relationship_graph(
        EntityRef(type=root.entity_type, id=root.entity_id),
        max_depth=depth,
        direction=direction.value,
        limit=limit,
    )
    return await _governed_graph(info, root._catalog, CatalogGraph.of(graph))


async def _entry_cache(root: CatalogEntry) -> list[CatalogCacheLayer] | None:
    catalog = root._catalog
    if not isinstance(catalog, CatalogCacheSource):
        return None
    records = await catalog.get_cache_status(EntityRef(type=root.entity_type, id=root.entity_id))
    now = datetime.now(UTC)
    return [CatalogCacheLayer.of(r, now) for r in records]


async def _entry_lineage(root: CatalogEntry, info: Info) -> CatalogLineage | None:
    lineage = await root._catalog.get_lineage(root.entity_type, root.entity_id)
    return await _governed_lineage(info, root._catalog, CatalogLineage.of(lineage))


@strawberry.type(description="Where an entity lives: its domain, source system and API path.")
class CatalogEntry:
    entity_type: str
    entity_id: strawberry.ID
    domain: str
    source_system: str
    source_entity_id: str
    api_base_path: str
    version: int
    schema_version: int
    status: str = strawberry.field(description="active | deleted")
    last_event_id: str | None
    created_at: datetime
    updated_at: datetime
    _catalog: strawberry.Private[CatalogSource]

    @classmethod
    def of(cls, location: Any, catalog: CatalogSource) -> CatalogEntry:
        return cls(
            entity_type=location.entity_type,
            entity_id=strawberry.ID(location.entity_id),
            domain=location.domain,
            source_system=location.source_system,
            source_entity_id=location.source_entity_id,
            api_base_path=location.api_base_path,
            version=location.version,
            schema_version=location.schema_version,
            status=str(location.status),
            last_event_id=location.last_event_id,
            created_at=location.created_at,
            updated_at=location.updated_at,
            _catalog=catalog,
        )

    graph: CatalogGraph | None = strawberry.field(
        resolver=_entry_graph, description="Entities related to this one, up to `depth` hops."
    )
    cache: list[CatalogCacheLayer] | None = strawberry.field(
        resolver=_entry_cache, description="Each cache layer's copy of this entity."
    )
    lineage: CatalogLineage | None = strawberry.field(
        resolver=_entry_lineage,
        description="This entity's lineage (entity-level and its data product's).",
    )


@strawberry.enum(description="How `catalogSearch` searches (docs/search.md).")
class CatalogSearchMode(Enum):
    TEXT = "text"
    SEMANTIC = "semantic"
    HYBRID = "hybrid"


@strawberry.type(description="Where one result list of a search placed a hit.")
class CatalogSearchRank:
    list: str = strawberry.field(description="text | semantic")
    rank: int = strawberry.field(description="1: first in that list")
    score: float = strawberry.field(description="that list's score (0..1)")


@strawberry.type(description="One hit of a catalog search, best first.")
class CatalogSearchHit:
    entity_type: str
    entity_id: strawberry.ID
    domain: str
    score: float = strawberry.field(
        description="0..1; text: 1 when the text is the entity's id; semantic: cosine"
        " similarity; hybrid: the fused score over the best possible"
    )
    matched: list[str] = strawberry.field(description="attributes the text matched")
    sources: list[str] = strawberry.field(
        default_factory=list, description="the result lists that found it: text, semantic"
    )
    ranks: list[CatalogSearchRank] = strawberry.field(
        default_factory=list, description="its rank and score in each of those lists"
    )
    source_system: str | None = strawberry.field(
        default=None, description="the system it comes from"
    )

    @classmethod
    def of(cls, hit: SearchHit) -> CatalogSearchHit:
        return cls(
            entity_type=hit.entity_type,
            entity_id=strawberry.ID(hit.entity_id),
            domain=hit.domain,
            score=hit.score,
            matched=list(hit.matched),
            sources=list(hit.sources),
            ranks=[
                CatalogSearchRank(list=name, rank=rank, score=hit.scores.get(name, 0.0))
                for name, rank in hit.ranks.items()
            ],
            source_system=hit.source,
        )


@strawberry.type(description="How many search candidates have one value of a facet.")
class CatalogFacetCount:
    value: str
    count: int


@strawberry.type(description="Counts of a search's candidates by one facet.")
class CatalogFacet:
    name: str = strawberry.field(description="domain | type | source | classification")
    values: list[CatalogFacetCount]


@strawberry.type(description="A catalog search's hits with facet counts (docs/search.md).")
class CatalogSearchResults:
    query: str
    mode: CatalogSearchMode
    hits: list[CatalogSearchHit]
    facets: list[CatalogFacet]
    candidates: int = strawberry.field(description="hits the facets count (all pages)")
    degraded: bool = strawberry.field(
        description="hybrid answered from the text list only: semantic search is off or failing"
    )
    degraded_reason: str | None

    @classmethod
    def of(cls, answer: SearchAnswer) -> CatalogSearchResults:
        return cls(
            query=answer.query,
            mode=CatalogSearchMode(answer.mode.value),
            hits=[CatalogSearchHit.of(h) for h in answer.hits],
            facets=[
                CatalogFacet(
                    name=name,
                    values=[CatalogFacetCount(value=v, count=n) for v, n in counts.items()],
                )
                for name, counts in answer.facets.items()
            ],
            candidates=answer.candidates,
            degraded=answer.degraded,
            degraded_reason=answer.degraded_reason,
        )


@strawberry.type
class CatalogEntryPage:
    items: list[CatalogEntry]
    next_cursor: str | None = strawberry.field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


CATALOG_TYPE_NAMES = frozenset(
    {
        "CatalogRef",
        "CatalogGraph",
        "CatalogGraphNode",
        "CatalogGraphEdge",
        "CatalogGraphDirection",
        "CatalogDataset",
        "CatalogLineage",
        "CatalogLineageEdge",
        "CatalogEntry",
        "CatalogEntryPage",
        "CatalogFacet",
        "CatalogFacetCount",
        "CatalogCacheLayer",
        "CatalogCacheSummary",
        "CatalogSearchHit",
        "CatalogSearchMode",
        "CatalogSearchRank",
        "CatalogSearchResults",
        "DataQuality",
        "DataQualityResult",
    }
)
"""GraphQL type names the catalog part defines (entity types may not use them)."""


# --- data quality (docs/quality.md) ---------------------------------------------------


@strawberry.type(description="One rule's latest result over the catalog (ids only, no values).")
class DataQualityResult:
    rule_id: str
    rule_type: str
    severity: str = strawberry.field(description="warn | error")
    passed: bool
    checked: float = strawberry.field(description="entities checked")
    failing: float = strawberry.field(description="entities failing")
    sample: list[str] = strawberry.field(description="a bounded sample of failing entity ids")
    message: str
    evaluated_at: datetime

    @classmethod
    def of(cls, r: RuleResult) -> DataQualityResult:
        return cls(
            rule_id=r.rule_id,
            rule_type=r.rule_type,
            severity=r.severity,
            passed=r.passed,
            checked=float(r.checked),
            failing=float(r.failing),
            sample=list(r.sample),
            message=r.message,
            evaluated_at=r.evaluated_at,
        )


@strawberry.type(description="A data product's quality: the weighted share of passing rules.")
class DataQuality:
    entity_type: str
    score: float = strawberry.field(description="0..1; an error weighs three warnings")
    rules: int
    failed: int
    failed_errors: int
    evaluated_at: datetime | None
    results: list[DataQualityResult]

    @classmethod
    def of(cls, s: TypeScore, results: Sequence[RuleResult]) -> DataQuality:
        return cls(
            entity_type=s.entity_type,
            score=s.score,
            rules=s.rules,
            failed=s.failed,
            failed_errors=s.failed_errors,
            evaluated_at=s.evaluated_at,
            results=[DataQualityResult.of(r) for r in results if r.entity_type == s.entity_type],
        )


# --- the part -------------------------------------------------------------------------


def _checked_id(entity_id: str) -> str:
    try:
        return validate_entity_id(entity_id)
    except ValueError as exc:
        raise bad_user_input(str(exc)) from None


def _field(resolver: Any, *, name: str, description: str) -> StrawberryField:
    made: Any = strawberry.field(resolver=resolver, name=name, description=description)
    assert isinstance(made, StrawberryField)
    return made


class CatalogPart:
    """The catalog's GraphQL fields over ``catalog`` (``None``: for printing the SDL only).

    Entity lookups are one indexed catalog read per entity; graph and lineage are read
    only when asked for.
    """

    type_names = CATALOG_TYPE_NAMES

    def __init__(
        self,
        catalog: CatalogSource | None,
        search: SearchService | None = None,
        quality: NodeQuality | None = None,
    ) -> None:
        self.catalog: CatalogSource = catalog if catalog is not None else _NoCatalog()
        self.quality = quality
        # without the node's search service: text search only (no embeddings here)
        self.search = search if search is not None else SearchService(self.catalog, _TEXT_ONLY)

    async def entry(self, entity_type: str, entity_id: str) -> CatalogEntry | None:
        try:
            location = await self.catalog.get_entity_location(entity_type, entity_id)
        except EntityNotFound:
            return None
        return CatalogEntry.of(location, self.catalog)

    def root_fields(self) -> dict[str, StrawberryField]:
        catalog = self.catalog

        async def catalog_entry(info: Info, type: str, id: strawberry.ID) -> CatalogEntry | None:
            entity_id = _checked_id(id)
            await guard_catalog_type(info, type, catalog, entity_id)  # governance
            return await self.entry(type, entity_id)

        async def catalog_entries(
            info: Info, type: str | None = None, limit: int = 50, cursor: str | None = None
        ) -> CatalogEntryPage | None:
            if type is not None:
                await guard_catalog_type(info, type, catalog)
            items, next_cursor = await catalog.list_entities(type, limit=limit, cursor=cursor)
            access = type_access(info, catalog)
            if access is not None:  # every type: entries of types the caller may not read go
                items = [i for i in items if await access.readable(i.entity_type)]
            return CatalogEntryPage(
                items=[CatalogEntry.of(i, catalog) for i in items], next_cursor=next_cursor
            )

        async def relationship_graph(
            info: Info,
            type: str,
            id: strawberry.ID,
            depth: int = 3,
            direction: CatalogGraphDirection = CatalogGraphDirection.BOTH,
            limit: int = DEFAULT_GRAPH_LIMIT,
        ) -> CatalogGraph | None:
            entity_id = _checked_id(id)
            await guard_catalog_type(info, type, catalog, entity_id)  # before any lookup
            graph = await catalog.query_relationship_graph(
                EntityRef.from_input(type, entity_id),
                max_depth=depth,
                direction=direction.value,
                limit=limit,
            )
            return await _governed_graph(info, catalog, CatalogGraph.of(graph))

        async def answer(
            info: Info,
            text: str,
            mode: CatalogSearchMode | None,
            type: str | None,
            domain: str | None,
            source: str | None,
            limit: int,
        ) -> SearchAnswer:
            request = SearchRequest.checked(  # before anything is searched or embedded
                text,
                mode=None if mode is None else SearchMode(mode.value),
                default_mode=self.search.default_mode,
                entity_type=type,
                domain=domain,
                source=source,
                limit=limit,
            )
            # governance: hidden values neither match nor score, nor show in ``matched``;
            # unreadable types are gone before fusion and facets
            return await self.search.search(request, search_scope(info, catalog))

        async def catalog_search(
            info: Info,
            text: str,
            mode: CatalogSearchMode | None = None,
            type: str | None = None,
            domain: str | None = None,
            source: str | None = None,
            limit: int = 20,
        ) -> list[CatalogSearchHit] | None:
            found = await answer(info, text, mode, type, domain, source, limit)
            return [CatalogSearchHit.of(h) for h in found.hits]

        async def catalog_search_results(
            info: Info,
            text: str,
            mode: CatalogSearchMode | None = None,
            type: str | None = None,
            domain: str | None = None,
            source: str | None = None,
            limit: int = 20,
        ) -> CatalogSearchResults | None:
            return CatalogSearchResults.of(
                await answer(info, text, mode, type, domain, source, limit)
            )

        async def similar_entities(
            info: Info, type: str, id: strawberry.ID, limit: int = 10
        ) -> list[CatalogSearchHit] | None:
            entity_id = _checked_id(id)
            hits = await self.search.similar(type, entity_id, limit, search_scope(info, catalog))
            return [CatalogSearchHit.of(h) for h in hits]

        async def lineage(
            info: Info, type: str, id: strawberry.ID | None = None
        ) -> CatalogLineage | None:
            entity_id = None if id is None else _checked_id(id)
            await guard_catalog_type(info, type, catalog, entity_id)
            view = await catalog.get_lineage(type, entity_id)
            return await _governed_lineage(info, catalog, CatalogLineage.of(view))

        async def cache_summary(
            info: Info, type: str | None = None
        ) -> list[CatalogCacheSummary] | None:
            if not isinstance(catalog, CatalogCacheSource):
                return None
            if type is not None:
                await guard_catalog_type(info, type, catalog)
            rows = await catalog.cache_summary(type)
            access = type_access(info, catalog)
            return [
                CatalogCacheSummary(
                    entity_type=r.entity_type,
                    layer=r.layer,
                    entities=r.entities,
                    fresh=r.fresh,
                    invalidated=r.invalidated,
                    invalidations=r.invalidations,
                    hits=r.hits,
                    last_cached_at=r.last_cached_at,
                    last_invalidated_at=r.last_invalidated_at,
                )
                for r in rows
                if access is None or await access.readable(r.entity_type)
            ]

        async def data_quality(info: Info, entity_type: str | None = None) -> list[DataQuality]:
            quality = self.quality
            if quality is None:
                return []
            if entity_type is not None:
                await guard_catalog_type(info, entity_type, catalog)
            store = quality.store
            latest = await store.latest(store.database.tenant(), entity_type=entity_type)
            access = type_access(info, catalog)
            return [
                DataQuality.of(s, latest)
                for t, s in score(latest).items()
                if access is None or await access.readable(t)
            ]

        return {
            "data_quality": _field(
                data_quality,
                name="dataQuality",
                description="Data products' quality scores and rule results (latest run over"
                " the catalog; `entityType`: one product). Empty without quality rules.",
            ),
            "cache_summary": _field(
                cache_summary,
                name="cacheSummary",
                description="Per entity type and cache layer: copies, fresh, invalidated,"
                " counters (the running node's cache status).",
            ),
            "catalog_entry": _field(
                catalog_entry,
                name="catalogEntry",
                description="Where an entity lives, from the catalog; null when not registered.",
            ),
            "catalog_entries": _field(
                catalog_entries,
                name="catalogEntries",
                description="Registered entities (optionally of one type), ordered by type and id.",
            ),
            "catalog_search": _field(
                catalog_search,
                name="catalogSearch",
                description="Registered entities matching `text`, best first: by words"
                " (`TEXT`), meaning (`SEMANTIC`) or both fused (`HYBRID`); `mode` defaults to"
                " the node's search.default_mode. Without semantic search `HYBRID` answers"
                " the text hits.",
            ),
            "catalog_search_results": _field(
                catalog_search_results,
                name="catalogSearchResults",
                description="The hits of `catalogSearch` with their facet counts (all"
                " candidates, not only this page) and whether hybrid search answered from"
                " text only.",
            ),
            "similar_entities": _field(
                similar_entities,
                name="similarEntities",
                description="Entities nearest in meaning to one entity (its embeddings),"
                " itself excluded.",
            ),
            "relationship_graph": _field(
                relationship_graph,
                name="relationshipGraph",
                description="Entities related to one entity, up to `depth` hops (catalog).",
            ),
            "lineage": _field(
                lineage,
                name="lineage",
                description="Lineage of a data product, or of one entity when `id` is given.",
            ),
        }

    def entity_fields(self, entity_type: str) -> dict[str, StrawberryField]:
        async def catalog(root: Node) -> CatalogEntry | None:
            if root.id is None:
                return None
            return await self.entry(entity_type, root.id)

        return {
            "catalog": _field(
                catalog,
                name="catalog",
                description="Where this entity lives, from the catalog; null until registered.",
            )
        }
