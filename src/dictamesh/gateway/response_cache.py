"""Response caching for GraphQL queries: HTTP cache hints and a server-side cache that
change events invalidate.

Two parts, used by :class:`dictamesh.api.graphql_cache.CachingGraphQLApp`:

* :class:`CachePolicy` looks at a query document (once per distinct document) and says
  whether its answer may be cached and for how long. **Cacheable** means: a ``query``
  operation whose root fields are all entity reads (``customer(id)``,
  ``customers(...)``, ``entityTypes``) and whose every selected field belongs to the
  generated entity, nested or page types (so no catalog field: the catalog is written by
  a separate consumer and would not be invalidated in step). ``max_age`` is the smallest
  SLA ``freshness_seconds`` of the entity types the document touches. A document that
  selects a *classified* field (``confidential`` or ``pii_*``) is marked ``classified``:
  its answer is never stored on the server, because every read of such a field must be
  decided (masked) and audited for its caller.
* :class:`ResponseCache` stores answers (at most ``max_entries``, least recently used
  first out, each for its ``max_age``) keyed by :func:`cache_key` — query hash, operation
  name, variables, tenant, subject and roles, so no answer is ever reused across tenants,
  principals or roles — together with what the answer depended on, recorded while it was
  resolved by :class:`TrackingLoaders`: every entity read by id (found or not), every
  inverse-relationship lookup (type and via field), and every entity type listed by a
  page query. :meth:`ResponseCache.invalidate` (a :class:`~dictamesh.events.fanout.ChangeFeed`
  listener) drops every answer a change event could alter: those holding the changed
  entity, those listing its type, and those looking it up by a via field when the event
  created or deleted it or changed that field. An answer whose dependencies changed
  while it was being resolved is not stored.

Example::

    policy = CachePolicy(schema, registry)
    plan = policy.plan('{ product(id: "p-1") { name } }', None)   # plan.cacheable, .max_age
    cache = ResponseCache(1000)
    feed.add_listener(cache.invalidate)
    deps = Dependencies()
    ctx.loaders = TrackingLoaders(registry, deps)   # then execute with ctx
    cache.put(key, data, deps, ttl=plan.max_age, since=sequence_before_execution)
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from graphql import (
    FieldNode,
    GraphQLSchema,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    is_leaf_type,
    parse,
    visit,
)
from graphql import OperationType as CoreOperationType
from graphql.error import GraphQLError
from strawberry import Schema
from strawberry.utils.str_converters import to_camel_case

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import ChangeEvent, Classification, Entity, EntitySchema, EventType
from dictamesh.core.principal import Principal
from dictamesh.gateway.context import AdapterSource
from dictamesh.gateway.loaders import Loaders
from dictamesh.gateway.schema_builder import type_name

__all__ = [
    "CachePlan",
    "CachePolicy",
    "CachedResponse",
    "Dependencies",
    "ResponseCache",
    "ResponseCacheStats",
    "ResponseStore",
    "TrackingLoaders",
    "cache_key",
]

_Ref = tuple[str, str]
_PLAN_CACHE_SIZE = 500
_RECENT_EVENTS = 4096  # how many invalidations a request in flight can be checked against


# --- dependencies ---------------------------------------------------------------------------


@dataclass
class Dependencies:
    """What one answer depended on (see the module docs)."""

    #: (entity type, id) of every entity read by id, found or not
    refs: set[_Ref] = field(default_factory=set)
    #: entity types whose membership a list (page query) depended on
    types: set[str] = field(default_factory=set)
    #: (entity type, via field) of inverse-relationship lookups
    related: set[tuple[str, str]] = field(default_factory=set)

    def affected_by(self, event: ChangeEvent) -> bool:
        kind, entity_id = event.entity.type, event.entity.id
        if kind in self.types or (kind, entity_id) in self.refs:
            return True
        membership_changed = event.event_type is not EventType.UPDATED
        return any(
            t == kind and (membership_changed or via in event.changed_fields)
            for t, via in self.related
        )


class TrackingLoaders(Loaders):
    """The request's DataLoaders, recording into ``deps`` what they load."""

    def __init__(self, registry: Any, deps: Dependencies, **options: Any) -> None:
        super().__init__(registry, **options)
        self.deps = deps

    async def _load_entities(self, entity_type: str, ids: list[str]) -> Any:
        self.deps.refs.update((entity_type, i) for i in ids)
        return await super()._load_entities(entity_type, ids)

    async def _load_related(self, entity_type: str, via_field: str, *args: Any) -> Any:
        self.deps.related.add((entity_type, via_field))
        return await super()._load_related(entity_type, via_field, *args)

    def prime(self, entities: Iterable[Entity]) -> None:
        entities = list(entities)
        self.deps.refs.update((e.type, e.id) for e in entities)
        super().prime(entities)


# --- the static policy ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CachePlan:
    """What :class:`CachePolicy` decided for one document and operation."""

    #: may be cached at all (HTTP and server)
    cacheable: bool
    #: seconds the answer stays fresh (0 when not cacheable)
    max_age: int = 0
    #: selects a classified field: HTTP ``private`` only, never stored on the server
    classified: bool = False
    #: entity types the document touches
    entity_types: frozenset[str] = frozenset()
    #: entity types listed by page root fields (any change of them invalidates)
    listed_types: frozenset[str] = frozenset()


_NOT_CACHEABLE = CachePlan(cacheable=False)


@dataclass(frozen=True, slots=True)
class _Owner:
    """A generated GraphQL type: the entity type it belongs to, and its fields' specs."""

    entity_type: str
    classified_fields: frozenset[str]


class CachePolicy:
    """Decides per document whether and how long its answer may be cached (module docs).

    ``max_tokens`` bounds the parse (as the query limits do), so an oversized document
    costs no more here than it does when it is refused later.
    """

    def __init__(
        self,
        schema: Schema | GraphQLSchema,
        registry: AdapterSource,
        *,
        max_tokens: int | None = None,
        freshness: Callable[[str], float] | None = None,
    ) -> None:
        core = schema if isinstance(schema, GraphQLSchema) else schema._schema
        self._schema: GraphQLSchema = core
        query_type = core.query_type
        if query_type is None:
            raise ConfigurationError("the schema has no Query type")
        self._query_name = query_type.name
        self._max_tokens = max_tokens or None
        self._registry = registry
        self._freshness = freshness or self._sla_freshness
        schemas = registry.schemas()
        self._entities: dict[str, str] = {type_name(t): t for t in schemas}
        self._pages: dict[str, str] = {f"{type_name(t)}Page": t for t in schemas}
        self._owners: dict[str, _Owner] = {}
        for entity_type, schema_ in schemas.items():
            self._claim(entity_type, schema_)
        self._plans: OrderedDict[tuple[str, str | None], CachePlan] = OrderedDict()

    def _claim(self, owner: str, schema: EntitySchema) -> None:
        classified = frozenset(
            to_camel_case(f.name)
            for f in schema.fields
            if f.classification is Classification.CONFIDENTIAL or f.classification.is_pii
        )
        self._owners[type_name(schema.entity_type)] = _Owner(owner, classified)
        for nested in schema.nested.values():
            self._claim(owner, nested)

    def _sla_freshness(self, entity_type: str) -> float:
        return self._registry.for_type(entity_type).get_sla().freshness_seconds

    def max_age(self, entity_types: Iterable[str]) -> int:
        """Whole seconds: the least SLA freshness of ``entity_types`` (of all served types
        when empty)."""
        types = list(entity_types) or list(self._entities.values())
        if not types:
            return 0
        return max(0, math.floor(min(self._freshness(t) for t in types)))

    def plan(self, query: str, operation_name: str | None) -> CachePlan:
        """The plan for ``query`` (memoized per document and operation name)."""
        key = (hashlib.sha256(query.encode()).hexdigest(), operation_name)
        found = self._plans.get(key)
        if found is not None:
            self._plans.move_to_end(key)
            return found
        made = self._analyze(query, operation_name)
        self._plans[key] = made
        if len(self._plans) > _PLAN_CACHE_SIZE:
            self._plans.popitem(last=False)
        return made

    def _analyze(self, query: str, operation_name: str | None) -> CachePlan:
        try:
            document = parse(
                query,
                no_location=True,
                max_lexical_tokens=self._max_tokens,  # as the query limits count them
                max_comments=self._max_tokens,
            )
        except GraphQLError:
            return _NOT_CACHEABLE  # execution will answer the syntax error
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        chosen = [
            op
            for op in operations
            if operation_name is None or (op.name is not None and op.name.value == operation_name)
        ]
        # Several operations: be safe and require every one of them to be a query.
        if not chosen or any(op.operation is not CoreOperationType.QUERY for op in operations):
            return _NOT_CACHEABLE
        collector = _Collector(self)
        type_info = TypeInfo(self._schema)
        visit(document, TypeInfoVisitor(type_info, collector.with_type_info(type_info)))
        if not collector.ok:
            return _NOT_CACHEABLE
        return CachePlan(
            cacheable=True,
            max_age=self.max_age(collector.entity_types),
            classified=collector.classified,
            entity_types=frozenset(collector.entity_types),
            listed_types=frozenset(collector.listed_types),
        )


class _Collector(Visitor):
    def __init__(self, policy: CachePolicy) -> None:
        super().__init__()
        self.policy = policy
        self.ok = True
        self.classified = False
        self.entity_types: set[str] = set()
        self.listed_types: set[str] = set()
        self._type_info: TypeInfo | None = None

    def with_type_info(self, type_info: TypeInfo) -> _Collector:
        self._type_info = type_info
        return self

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        name = node.name.value
        if name == "__typename" or not self.ok:
            return
        assert self._type_info is not None
        parent = self._type_info.get_parent_type()
        field_def = self._type_info.get_field_def()
        if parent is None or field_def is None or name.startswith("__"):
            self.ok = False  # unknown field (validation answers it) or introspection
            return
        policy = self.policy
        returned = get_named_type(field_def.type)
        if parent.name == policy._query_name:
            self._root_field(name, returned.name)
            return
        owner = policy._owners.get(parent.name)
        page_of = policy._pages.get(parent.name)
        if owner is not None:
            self.entity_types.add(owner.entity_type)
            if name in owner.classified_fields:
                self.classified = True
        elif page_of is None:
            self.ok = False  # a field of a type the mesh does not generate (the catalog)
            return
        if is_leaf_type(returned):
            return
        target = policy._owners.get(returned.name)
        if target is None and returned.name not in policy._pages:
            self.ok = False
            return
        if target is not None:
            self.entity_types.add(target.entity_type)

    def _root_field(self, name: str, returned: str) -> None:
        policy = self.policy
        if name == "entityTypes":
            return
        entity_type = policy._entities.get(returned)
        if entity_type is not None:
            self.entity_types.add(entity_type)
            return
        listed = policy._pages.get(returned)
        if listed is not None:
            self.entity_types.add(listed)
            self.listed_types.add(listed)
            return
        self.ok = False


# --- the server-side cache ------------------------------------------------------------------


def cache_key(
    query: str,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    tenant: str | None,
    principal: Principal | None,
) -> str | None:
    """The cache key of one request; None when its variables are not plain JSON."""
    try:
        variables_json = json.dumps(variables or {}, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    who = (
        ["anonymous"]
        if principal is None
        # The subject too, not only the roles: access policies may name subjects.
        else [principal.method, principal.subject, *sorted(principal.roles)]
    )
    parts = [
        hashlib.sha256(query.encode()).hexdigest(),
        operation_name or "",
        variables_json,
        tenant or "",
        json.dumps(who),
    ]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CachedResponse:
    data: dict[str, Any]
    #: whole seconds it stays fresh from now
    max_age: int


@dataclass(slots=True)
class _Entry:
    body: str
    deps: Dependencies
    expires_at: float


@dataclass(slots=True)
class ResponseCacheStats:
    hits: int = 0
    misses: int = 0
    stores: int = 0
    #: answers not stored because something they read changed during the request
    races: int = 0
    invalidations: int = 0
    evictions: int = 0


class ResponseStore(Protocol):
    """What ``/graphql`` uses of a response cache: this process's :class:`ResponseCache`
    or the mesh-wide one in Redis
    (:class:`~dictamesh.gateway.shared_response_cache.RedisResponseCache`)."""

    stats: ResponseCacheStats

    async def lookup(self, key: str) -> CachedResponse | None: ...

    async def begin(self) -> int: ...

    async def store(
        self, key: str, data: Mapping[str, Any], deps: Dependencies, *, ttl: float, since: int
    ) -> bool: ...

    def invalidate(self, event: ChangeEvent) -> Any: ...


class ResponseCache:
    """In-process LRU of GraphQL answers with dependency-based invalidation."""

    def __init__(self, max_entries: int = 1000, *, clock: Callable[[], float] = time.monotonic):
        if max_entries < 1:
            raise ConfigurationError("max_entries must be >= 1")
        self.max_entries = max_entries
        self.stats = ResponseCacheStats()
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._by_ref: dict[_Ref, set[str]] = {}
        self._by_type: dict[str, set[str]] = {}
        self._by_related: dict[str, set[str]] = {}  # entity type -> keys with a related dep
        self._recent: deque[tuple[int, ChangeEvent]] = deque(maxlen=_RECENT_EVENTS)
        self._sequence = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def sequence(self) -> int:
        """Number of change events seen; pass the value from before execution to :meth:`put`."""
        return self._sequence

    def get(self, key: str) -> CachedResponse | None:
        entry = self._entries.get(key)
        now = self._clock()
        if entry is None or entry.expires_at <= now:
            if entry is not None:
                self._drop(key)
            self.stats.misses += 1
            return None
        self._entries.move_to_end(key)
        self.stats.hits += 1
        # Decoded per hit: nobody downstream can change the stored answer.
        return CachedResponse(json.loads(entry.body), max(0, math.floor(entry.expires_at - now)))

    def put(
        self, key: str, data: Mapping[str, Any], deps: Dependencies, *, ttl: float, since: int
    ) -> bool:
        """Store ``data`` for ``ttl`` seconds unless an event seen after sequence ``since``
        affects ``deps`` (or too many events passed to tell). Returns whether it stored."""
        if ttl <= 0:
            return False
        if since != self._sequence:
            oldest = self._recent[0][0] if self._recent else self._sequence + 1
            if oldest > since + 1 or any(
                seq > since and deps.affected_by(event) for seq, event in self._recent
            ):
                self.stats.races += 1
                return False
        try:
            body = json.dumps(data, separators=(",", ":"))
        except (TypeError, ValueError):
            return False
        if key in self._entries:
            self._drop(key)
        self._entries[key] = _Entry(body, deps, self._clock() + ttl)
        for ref in deps.refs:
            self._by_ref.setdefault(ref, set()).add(key)
        for entity_type in deps.types:
            self._by_type.setdefault(entity_type, set()).add(key)
        for entity_type, _ in deps.related:
            self._by_related.setdefault(entity_type, set()).add(key)
        self.stats.stores += 1
        while len(self._entries) > self.max_entries:
            oldest_key = next(iter(self._entries))
            self._drop(oldest_key)
            self.stats.evictions += 1
        return True

    # the ResponseStore face (what /graphql awaits)
    async def lookup(self, key: str) -> CachedResponse | None:
        return self.get(key)

    async def begin(self) -> int:
        return self.sequence

    async def store(
        self, key: str, data: Mapping[str, Any], deps: Dependencies, *, ttl: float, since: int
    ) -> bool:
        return self.put(key, data, deps, ttl=ttl, since=since)

    def invalidate(self, event: ChangeEvent) -> int:
        """Drop every answer ``event`` may alter; returns how many."""
        self._sequence += 1
        self._recent.append((self._sequence, event))
        kind = event.entity.type
        keys = set(self._by_ref.get((kind, event.entity.id), ()))
        keys |= self._by_type.get(kind, set())
        for key in self._by_related.get(kind, ()):
            entry = self._entries.get(key)
            if entry is not None and entry.deps.affected_by(event):
                keys.add(key)
        for key in keys:
            self._drop(key)
        self.stats.invalidations += len(keys)
        return len(keys)

    def clear(self) -> None:
        for key in list(self._entries):
            self._drop(key)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        deps = entry.deps
        for ref in deps.refs:
            _discard(self._by_ref, ref, key)
        for entity_type in deps.types:
            _discard(self._by_type, entity_type, key)
        for entity_type, _ in deps.related:
            _discard(self._by_related, entity_type, key)


def _discard(index: dict[Any, set[str]], item: Any, key: str) -> None:
    keys = index.get(item)
    if keys is not None:
        keys.discard(key)
        if not keys:
            del index[item]
