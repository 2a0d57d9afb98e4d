"""Text, semantic and hybrid search of the catalog, governed, with facets; similar entities.

:class:`SearchService` answers a checked :class:`~dictamesh.search.request.SearchRequest`:

* ``text`` — the catalog's search (trigram on PostgreSQL, substrings on SQLite) run through
  :func:`~dictamesh.governance.search.governed_search`, so values the caller cannot read in
  clear neither match nor score;
* ``semantic`` — the query embedded (bounded text, a deadline) and the nearest catalog
  entries from the vector store (which holds only fields no one could have masked);
* ``hybrid`` — both lists, each ``depth`` deep, fused by reciprocal rank
  (:mod:`dictamesh.search.fusion`).

Hits of types the caller may not read are dropped from each list *before* fusion and
facets, so neither an order nor a count depends on them. When semantic search is off or
fails, ``semantic`` is an error (400 off by configuration, 503 provider failing) and
``hybrid`` answers the text list with ``degraded`` set.

Example::

    service = SearchService(catalog, settings.search, provider=provider, store=store)
    answer = await service.search(SearchRequest.checked("wireless headphones"), scope)
    answer.hits[0].sources       # ['text', 'semantic']
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.core.errors import DictaMeshError, EntityNotFound, ValidationError
from dictamesh.core.models import validate_entity_id
from dictamesh.core.settings import SearchSettings
from dictamesh.embeddings.base import EmbeddingProvider, EmbeddingProviderError
from dictamesh.governance.enforce import Governance, SchemaLookup
from dictamesh.governance.policy import PrincipalLike
from dictamesh.governance.related import TypeAccess
from dictamesh.governance.search import governed_search
from dictamesh.search.facets import FacetKeys, classification_of, count_facets
from dictamesh.search.fusion import fuse
from dictamesh.search.request import SearchMode, SearchRequest, check_limit, check_name

__all__ = [
    "SearchAnswer",
    "SearchHit",
    "SearchScope",
    "SearchService",
    "SemanticSearchOff",
    "TextSearcher",
    "VectorIndex",
    "adapter_sources",
]

logger = logging.getLogger("dictamesh.search")

Key = tuple[str, str]


class SemanticSearchOff(DictaMeshError):
    """Semantic search was asked for, but ``search.embeddings.provider`` is ``off``."""

    code: ClassVar[str] = "SEMANTIC_SEARCH_OFF"
    http_status: ClassVar[int] = 400


class TextSearcher(Protocol):
    """The catalog's text search (:meth:`CatalogService.search_entities`) and location."""

    async def search_entities(
        self, text: str, *, entity_type: str | None = None, limit: int = 20
    ) -> Sequence[Any]: ...

    async def get_entity_location(self, entity_type: str, entity_id: str) -> Any: ...


class VectorIndex(Protocol):
    """The vector store's reads (:class:`dictamesh.search.store.VectorStore`)."""

    async def nearest(
        self,
        vector: Sequence[float],
        *,
        tenant: str | None = None,
        entity_types: Iterable[str] | None = None,
        domains: Iterable[str] | None = None,
        limit: int = 10,
        exact: bool = False,
        exclude: tuple[str, str] | None = None,
    ) -> Sequence[Any]: ...

    async def vectors_of(
        self, entity_type: str, entity_id: str, *, tenant: str | None = None
    ) -> Sequence[Sequence[float]]: ...


@dataclass
class SearchScope:
    """Who searches: the governance deciding for this caller, and the schemas it decides on.

    ``governance`` None: nothing is governed (every type readable, nothing hidden).
    ``known_types``: the types whose hidden fields are known before the first text search
    (the node's schemas); others are looked up when a hit names them.
    """

    governance: Governance | None
    principal: PrincipalLike | None
    channel: str
    lookup: SchemaLookup
    known_types: Sequence[str] = ()
    _access: TypeAccess | None = field(default=None, init=False, repr=False)

    @property
    def access(self) -> TypeAccess | None:
        if self.governance is None:
            return None
        if self._access is None:
            self._access = TypeAccess(self.governance, self.principal, self.lookup)
        return self._access

    async def readable(self, entity_type: str, domain: str | None = None) -> bool:
        access = self.access
        if access is None:
            return True
        if domain is None:
            return await access.readable(entity_type)
        return access.readable_in(entity_type, domain) and await access.readable(entity_type)


@dataclass
class SearchHit:
    """One result: where it came from (``sources``: ``text``, ``semantic``), at which rank
    in each list, each list's score, and the score it is ordered by.

    ``score``: text mode the text score (1: the query is the id), semantic mode the cosine
    similarity (clipped to 0..1), hybrid mode the fused score divided by the best possible
    (1: first in both lists).
    """

    entity_type: str
    entity_id: str
    domain: str
    score: float
    matched: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    ranks: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    source: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "domain": self.domain,
            "score": self.score,
            "matched": list(self.matched),
            "sources": list(self.sources),
            "ranks": dict(self.ranks),
            "scores": dict(self.scores),
            "source": self.source,
        }


@dataclass
class SearchAnswer:
    query: str
    mode: SearchMode
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]]
    #: candidates counted by ``facets`` (the fused lists, filtered)
    candidates: int
    #: hybrid answered from the text list only (semantic off or failing)
    degraded: bool = False
    degraded_reason: str | None = None


@dataclass
class _Candidate:
    entity_type: str
    entity_id: str
    domain: str
    matched: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)


def adapter_sources(registry: Any) -> Callable[[], dict[str, str]]:
    """``type_sources`` for :class:`SearchService`: the source system of each type the
    ``registry``'s adapters serve, read on each call (adapters may register later)."""

    def type_sources() -> dict[str, str]:
        return {a.entity_type: a.source.system for a in registry.adapters()}

    return type_sources


class SearchService:
    """Catalog search in three modes, and similar entities, for one node.

    ``provider``/``store`` None: semantic search unavailable; ``unavailable`` says why when
    it was configured (a missing package, a store that failed to open) — ``semantic`` then
    answers 503 instead of 400. ``type_sources`` gives the source system serving each type
    (the node's adapters); other types' sources are read from the catalog per hit.
    """

    def __init__(
        self,
        catalog: TextSearcher,
        settings: SearchSettings | None = None,
        *,
        provider: EmbeddingProvider | None = None,
        store: VectorIndex | None = None,
        unavailable: str | None = None,
        type_sources: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.catalog = catalog
        self.settings = settings if settings is not None else SearchSettings()
        self.provider = provider
        self.store = store
        self.unavailable = unavailable
        self._type_sources = type_sources

    @property
    def default_mode(self) -> SearchMode:
        return SearchMode(self.settings.default_mode)

    @property
    def semantic_configured(self) -> bool:
        return self.settings.embeddings.provider != "off"

    def semantic_problem(self) -> DictaMeshError | None:
        """Why semantic search cannot run now, as the error ``semantic`` mode answers."""
        if not self.semantic_configured:
            return SemanticSearchOff(
                "semantic search is off (search.embeddings.provider: off)", mode="semantic"
            )
        if self.provider is None or self.store is None:
            return EmbeddingProviderError(
                "semantic search is unavailable on this node",
                reason=self.unavailable or "no embedding provider or vector store",
            )
        return None

    # --- search --------------------------------------------------------------------------

    async def search(self, request: SearchRequest, scope: SearchScope) -> SearchAnswer:
        if request.entity_type is not None and not await scope.readable(request.entity_type):
            # nothing of a type the caller may not read: the same empty answer as no match
            return SearchAnswer(request.text, request.mode, [], count_facets(()), 0)
        degraded: str | None = None
        lists: dict[str, list[_Candidate]] = {}
        if request.mode is not SearchMode.TEXT:
            problem = self.semantic_problem()
            if problem is not None and request.mode is SearchMode.SEMANTIC:
                raise problem
        if request.mode is SearchMode.SEMANTIC:
            lists["semantic"] = await self._semantic(request, scope)
        elif request.mode is SearchMode.TEXT:
            lists["text"] = await self._text(request, scope)
        else:
            problem = self.semantic_problem()
            if problem is not None:
                lists["text"] = await self._text(request, scope)
                degraded = problem.message
            else:
                # both lists at once: the embedding runs in a thread while the catalog searches
                text, semantic = await asyncio.gather(
                    self._text(request, scope),
                    self._semantic(request, scope),
                    return_exceptions=True,
                )
                if isinstance(text, BaseException):
                    raise text
                lists["text"] = text
                if isinstance(semantic, EmbeddingProviderError | TimeoutError):
                    degraded = _reason(semantic)
                    logger.warning("hybrid search answered from text only: %s", degraded)
                elif isinstance(semantic, BaseException):
                    raise semantic
                else:
                    lists["semantic"] = semantic
        return await self._answer(request, scope, lists, degraded)

    async def _text(self, request: SearchRequest, scope: SearchScope) -> list[_Candidate]:
        catalog = self.catalog

        async def run(hidden: Mapping[str, frozenset[str]]) -> Sequence[Any]:
            extra = {"hidden": hidden} if hidden else {}  # catalogs without hidden fields
            return await catalog.search_entities(
                request.text, entity_type=request.entity_type, limit=request.depth, **extra
            )

        if scope.governance is None:
            pairs = [(h, list(h.matched)) for h in await run({})]
        else:
            redactor = scope.governance.redactor(scope.principal, channel=scope.channel)
            known = [request.entity_type] if request.entity_type else list(scope.known_types)
            hits = await governed_search(redactor, run, scope.lookup, known)
            pairs = await redactor.search_hits(request.text, hits, scope.lookup)
        out = []
        for hit, matched in pairs:
            if request.domain is not None and hit.domain != request.domain:
                continue
            out.append(
                _Candidate(
                    hit.entity_type,
                    hit.entity_id,
                    hit.domain,
                    matched,
                    {"text": float(hit.score)},
                )
            )
        return out

    async def _embed(self, text: str) -> list[float]:
        assert self.provider is not None
        try:
            async with asyncio.timeout(self.settings.embeddings.timeout_seconds):
                vectors = await self.provider.embed([text])
        except TimeoutError:
            raise EmbeddingProviderError(
                "the embedding provider did not answer in time",
                timeout_seconds=self.settings.embeddings.timeout_seconds,
            ) from None
        if len(vectors) != 1:
            raise EmbeddingProviderError("the embedding provider answered no vector")
        return vectors[0]

    async def _type_filter(self, scope: SearchScope, only: str | None) -> list[str] | None:
        """Types the store may return: ``only``, else the known readable ones when the
        caller may not read some (so they take no place among the nearest), else all."""
        if only is not None:
            return [only]
        if scope.access is None:
            return None
        readable = [t for t in scope.known_types if await scope.readable(t)]
        if len(readable) == len(scope.known_types):
            return None
        return readable

    async def _semantic(self, request: SearchRequest, scope: SearchScope) -> list[_Candidate]:
        assert self.store is not None
        types = await self._type_filter(scope, request.entity_type)
        if types == []:
            return []
        vector = await self._embed(request.text)
        hits = await self._nearest(vector, types, request.domain, request.depth)
        return [c for c in hits if await scope.readable(c.entity_type, c.domain)]

    async def _nearest(
        self,
        vector: Sequence[float],
        types: list[str] | None,
        domain: str | None,
        limit: int,
        exclude: Key | None = None,
    ) -> list[_Candidate]:
        assert self.store is not None
        try:
            found = await self.store.nearest(
                vector,
                tenant=CatalogDatabase.tenant(),
                entity_types=types,
                domains=[domain] if domain is not None else None,
                limit=limit,
                exclude=exclude,
            )
        except EmbeddingProviderError:
            raise
        except DictaMeshError as exc:
            raise EmbeddingProviderError("the vector store failed", reason=_reason(exc)) from exc
        best: dict[Key, _Candidate] = {}
        for hit in found:  # one per entity already (its best chunk); kept first if repeated
            key = (hit.entity_type, str(hit.entity_id))
            score = max(0.0, min(1.0, float(hit.score)))
            best.setdefault(key, _Candidate(key[0], key[1], hit.domain, [], {"semantic": score}))
        return list(best.values())

    async def _answer(
        self,
        request: SearchRequest,
        scope: SearchScope,
        lists: dict[str, list[_Candidate]],
        degraded: str | None,
    ) -> SearchAnswer:
        merged: dict[Key, _Candidate] = {}
        for name, candidates in lists.items():
            for c in candidates:
                key = (c.entity_type, c.entity_id)
                held = merged.setdefault(key, c)
                if held is not c:
                    held.scores.update({name: c.scores[name]})
        sources = await self._sources(list(merged), scope)
        if request.source is not None:
            merged = {k: c for k, c in merged.items() if sources.get(k) == request.source}
        ordered = {
            name: [k for k in ((c.entity_type, c.entity_id) for c in cs) if k in merged]
            for name, cs in lists.items()
        }
        fused = fuse(ordered, self.settings.rrf_k)
        classes: dict[str, str] = {}  # one schema lookup per type, not per candidate
        keys = []
        for f in fused:
            c = merged[f.key]
            if c.entity_type not in classes:
                classes[c.entity_type] = classification_of(await scope.lookup(c.entity_type))
            keys.append(
                FacetKeys(c.entity_type, c.domain, sources.get(f.key), classes[c.entity_type])
            )
        hits = []
        for f in fused[: request.limit]:
            c = merged[f.key]
            if request.mode is SearchMode.HYBRID and len(lists) > 1:
                score = f.normalized
            else:
                score = next(iter(c.scores.values()))
            hits.append(
                SearchHit(
                    entity_type=c.entity_type,
                    entity_id=c.entity_id,
                    domain=c.domain,
                    score=round(score, 6),
                    matched=c.matched,
                    sources=f.sources,
                    ranks=dict(f.ranks),
                    scores={n: round(s, 6) for n, s in c.scores.items()},
                    source=sources.get(f.key),
                )
            )
        return SearchAnswer(
            query=request.text,
            mode=request.mode,
            hits=hits,
            facets=count_facets(keys),
            candidates=len(fused),
            degraded=degraded is not None,
            degraded_reason=degraded,
        )

    async def _sources(self, keys: list[Key], scope: SearchScope) -> dict[Key, str | None]:
        served = dict(self._type_sources()) if self._type_sources is not None else {}
        out: dict[Key, str | None] = {}
        for key in keys:
            if key[0] in served:
                out[key] = served[key[0]]
                continue
            try:
                location = await self.catalog.get_entity_location(*key)
            except EntityNotFound:
                out[key] = None
                continue
            out[key] = location.source_system
        return out

    # --- similar entities ---------------------------------------------------------------

    async def similar(
        self, entity_type: str, entity_id: str, limit: int, scope: SearchScope
    ) -> list[SearchHit]:
        """The entities nearest to this one's own vectors, itself excluded, of types the
        caller may read. ``FORBIDDEN`` (audited) when it may not read ``entity_type``;
        ``ENTITY_NOT_FOUND`` when the catalog does not know the entity."""
        check_name(entity_type, "type")
        try:
            validate_entity_id(entity_id)
        except ValueError as exc:
            raise ValidationError(str(exc), entity_id=entity_id[:128]) from None
        check_limit(limit)
        if scope.governance is not None and scope.access is not None:
            await scope.governance.check_entity(
                scope.principal,
                entity_type,
                await scope.access.domain(entity_type),
                channel=scope.channel,
                entity_id=entity_id,
            )
        problem = self.semantic_problem()
        if problem is not None:
            raise problem
        assert self.store is not None
        await self.catalog.get_entity_location(entity_type, entity_id)  # 404 when unknown
        vectors = await self.store.vectors_of(
            entity_type, entity_id, tenant=CatalogDatabase.tenant()
        )
        if not vectors:
            return []
        types = await self._type_filter(scope, None)
        if types == []:
            return []
        me = (entity_type, entity_id)
        best: dict[Key, _Candidate] = {}
        for vector in vectors:  # a long entry's chunks: a neighbour's closest counts
            for c in await self._nearest(vector, types, None, limit, exclude=me):
                key = (c.entity_type, c.entity_id)
                held = best.get(key)
                if held is None or c.scores["semantic"] > held.scores["semantic"]:
                    best[key] = c
        readable = [c for c in best.values() if await scope.readable(c.entity_type, c.domain)]
        readable.sort(key=lambda c: -c.scores["semantic"])
        sources = await self._sources([(c.entity_type, c.entity_id) for c in readable], scope)
        return [
            SearchHit(
                entity_type=c.entity_type,
                entity_id=c.entity_id,
                domain=c.domain,
                score=round(c.scores["semantic"], 6),
                sources=["semantic"],
                ranks={"semantic": rank},
                scores={"semantic": round(c.scores["semantic"], 6)},
                source=sources.get((c.entity_type, c.entity_id)),
            )
            for rank, c in enumerate(readable[:limit], start=1)
        ]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "the embedding provider did not answer in time"
    if isinstance(exc, DictaMeshError):
        return exc.message
    return type(exc).__name__
