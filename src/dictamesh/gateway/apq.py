"""Persisted queries: Apollo's automatic persisted queries (APQ) and an allow-list mode.

A client sends ``extensions.persistedQuery = {"version": 1, "sha256Hash": <hex>}`` (POST
body, or the ``extensions`` GET parameter) instead of the query text. The server answers

* the result, when it knows the hash;
* ``PERSISTED_QUERY_NOT_FOUND`` (HTTP 200, message ``PersistedQueryNotFound``, so Apollo
  clients retry) when it does not; the client then sends query *and* hash, and the query
  is stored once it ran without request errors;
* ``PERSISTED_QUERY_HASH_MISMATCH`` (HTTP 400) when a query and a hash that is not its
  SHA-256 arrive together.

Modes: ``auto`` (the above), ``allowlist`` (only queries from a manifest run, sent by hash
or as text; anything else is ``PERSISTED_QUERY_NOT_IN_LIST``), ``off`` (a persisted query
is ``PERSISTED_QUERY_NOT_SUPPORTED``). The store is a bounded in-process LRU by default; a
:class:`RedisPersistedQueryStore` (what a node with ``cache.redis_url`` uses) shares them
between nodes, bounded the same way; a :class:`CachePersistedQueryStore` keeps them in any
cache backend.

Example::

    apq = PersistedQueries(LruPersistedQueryStore(1000))
    resolved = await apq.resolve(None, {"persistedQuery": {"version": 1, "sha256Hash": h}})
    # raises PersistedQueryError(code="PERSISTED_QUERY_NOT_FOUND") until the query is saved
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from dictamesh.cache.base import CacheBackend
from dictamesh.cluster.shared_redis import SharedRedis
from dictamesh.core.errors import CacheUnavailable, ConfigurationError

__all__ = [
    "PERSISTED_QUERY_HASH_MISMATCH",
    "PERSISTED_QUERY_NOT_FOUND",
    "PERSISTED_QUERY_NOT_IN_LIST",
    "PERSISTED_QUERY_NOT_SUPPORTED",
    "CachePersistedQueryStore",
    "LruPersistedQueryStore",
    "PersistedQueries",
    "PersistedQueryError",
    "PersistedQueryMode",
    "PersistedQueryStore",
    "RedisPersistedQueryStore",
    "ResolvedQuery",
    "load_manifest",
    "query_hash",
]

PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
PERSISTED_QUERY_NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
_BAD_REQUEST = "BAD_REQUEST"

PersistedQueryMode = Literal["auto", "allowlist", "off"]

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def query_hash(query: str) -> str:
    """The APQ id of a query: lower-case hex SHA-256 of its UTF-8 text, as sent."""
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


class PersistedQueryError(Exception):
    """A persisted-query problem; ``status`` None means "as any GraphQL request error"."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class PersistedQueryStore(Protocol):
    """Where query texts are kept by hash."""

    async def get(self, sha256: str) -> str | None: ...

    async def set(self, sha256: str, query: str) -> None: ...


class LruPersistedQueryStore:
    """At most ``max_entries`` queries in this process; the least recently used go first."""

    def __init__(self, max_entries: int = 1000) -> None:
        if max_entries < 1:
            raise ConfigurationError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._queries: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._queries)

    async def get(self, sha256: str) -> str | None:
        query = self._queries.get(sha256)
        if query is not None:
            self._queries.move_to_end(sha256)
        return query

    async def set(self, sha256: str, query: str) -> None:
        self._queries[sha256] = query
        self._queries.move_to_end(sha256)
        while len(self._queries) > self.max_entries:
            self._queries.popitem(last=False)


async def _verified(local: LruPersistedQueryStore, sha256: str, stored: Any) -> str | None:
    """``stored`` when it is a query whose hash is ``sha256`` (a shared store may hold
    anything under a key), remembered in ``local``; else None."""
    if isinstance(stored, str) and query_hash(stored) == sha256:
        await local.set(sha256, stored)
        return stored
    return None


class CachePersistedQueryStore:
    """Queries in a :class:`~dictamesh.cache.base.CacheBackend` (e.g. the node's Redis
    layer), in front of a local LRU so hot queries cost no round trip.

    Entries live as long as the backend keeps them; a miss only makes the client resend
    the query once.
    """

    def __init__(
        self, cache: CacheBackend, *, prefix: str = "dictamesh:apq:", local_entries: int = 1000
    ) -> None:
        self.cache = cache
        self.prefix = prefix
        self.local = LruPersistedQueryStore(local_entries)

    async def get(self, sha256: str) -> str | None:
        query = await self.local.get(sha256)
        if query is not None:
            return query
        entry = await self.cache.get(self.prefix + sha256)
        return await _verified(self.local, sha256, entry.value.get("query") if entry else None)

    async def set(self, sha256: str, query: str) -> None:
        await self.local.set(sha256, query)
        await self.cache.set(self.prefix + sha256, {"query": query})


# One sorted set of hashes by last use (Redis' clock) bounds the store as the LRU is bounded:
# past max_entries the least recently used queries are removed, in the same script.
_APQ_SET = """
redis.call('SET', KEYS[1], ARGV[1])
local t = redis.call('TIME')
redis.call('ZADD', KEYS[2], tonumber(t[1]) * 1000000 + tonumber(t[2]), ARGV[2])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #old, 2 do redis.call('DEL', ARGV[4] .. old[i]) end
end
return 1
"""
_APQ_GET = """
local query = redis.call('GET', KEYS[1])
if query then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[2], 'XX', tonumber(t[1]) * 1000000 + tonumber(t[2]), ARGV[1])
end
return query
"""


class RedisPersistedQueryStore:
    """At most ``max_entries`` queries in Redis for every node (least recently used out
    first), in front of a local LRU of ``local_entries`` so hot queries cost no round trip.

    Redis unreachable: a lookup is a miss (the client then sends the query once more) and a
    registration stays in the local LRU only.
    """

    def __init__(
        self, redis: SharedRedis, *, max_entries: int = 10_000, local_entries: int = 1000
    ) -> None:
        if max_entries < 1:
            raise ConfigurationError("max_entries must be at least 1")
        self.redis = redis
        self.max_entries = max_entries
        self.local = LruPersistedQueryStore(local_entries)
        self._prefix = redis.key("apq", "q", "")
        self._index = redis.key("apq", "index")
        self._set = redis.script(_APQ_SET)
        self._get = redis.script(_APQ_GET)

    async def get(self, sha256: str) -> str | None:
        query = await self.local.get(sha256)
        if query is not None:
            return query
        try:
            raw = await self.redis.run(self._get, [self._prefix + sha256, self._index], [sha256])
        except CacheUnavailable:
            return None
        return await _verified(
            self.local, sha256, raw.decode("utf-8") if isinstance(raw, bytes) else raw
        )

    async def set(self, sha256: str, query: str) -> None:
        await self.local.set(sha256, query)
        try:
            await self.redis.run(
                self._set,
                [self._prefix + sha256, self._index],
                [query, sha256, self.max_entries, self._prefix],
            )
        except CacheUnavailable:
            return  # kept here; other nodes ask the client for it once


def load_manifest(path: str | Path) -> dict[str, str]:
    """Queries by hash from a JSON file: ``{sha256: query}``, or an Apollo persisted-query
    manifest (``{"operations": [{"id": sha256, "body": query}, ...]}``). Every hash is
    checked against its query."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"persisted queries file not found: {p}") from exc
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"persisted queries file {p} is not JSON: {exc}") from exc
    pairs: list[tuple[Any, Any]]
    if isinstance(raw, dict) and isinstance(raw.get("operations"), list):
        pairs = [
            (op.get("id"), op.get("body")) if isinstance(op, dict) else (None, None)
            for op in raw["operations"]
        ]
    elif isinstance(raw, dict):
        pairs = list(raw.items())
    else:
        raise ConfigurationError(f"persisted queries file {p} must hold a JSON object")
    queries: dict[str, str] = {}
    for sha256, query in pairs:
        if not isinstance(sha256, str) or not isinstance(query, str):
            raise ConfigurationError(f"persisted queries file {p}: entries need id and body")
        if query_hash(query) != sha256.lower():
            raise ConfigurationError(
                f"persisted queries file {p}: {sha256} is not the SHA-256 of its query"
            )
        queries[sha256.lower()] = query
    return queries


@dataclass(frozen=True, slots=True)
class ResolvedQuery:
    """The query to run; ``register`` is the hash to store it under after it ran."""

    query: str | None
    register: str | None = None


class PersistedQueries:
    """Resolves ``extensions.persistedQuery`` of a request to the query text."""

    def __init__(
        self,
        store: PersistedQueryStore | None = None,
        *,
        mode: PersistedQueryMode = "auto",
        allowed: Mapping[str, str] | None = None,
    ) -> None:
        self.store: PersistedQueryStore = store if store is not None else LruPersistedQueryStore()
        self.mode = mode
        #: the allow-list (and queries always known in auto mode), by lower-case hash
        self.allowed = {k.lower(): v for k, v in (allowed or {}).items()}
        if mode == "allowlist" and not self.allowed:
            raise ConfigurationError("persisted query allow-list mode needs queries to allow")

    async def resolve(
        self, query: str | None, extensions: Mapping[str, Any] | None
    ) -> ResolvedQuery:
        """The query text to execute; raises :class:`PersistedQueryError`."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            allowlisted = query is None or query_hash(query) in self.allowed
            if self.mode == "allowlist" and not allowlisted:
                raise _not_in_list()
            return ResolvedQuery(query)
        if self.mode == "off":
            raise PersistedQueryError(
                PERSISTED_QUERY_NOT_SUPPORTED, "PersistedQueryNotSupported", 200
            )
        sha256 = _checked_hash(persisted)
        if query is not None:
            if query_hash(query) != sha256:
                raise PersistedQueryError(
                    PERSISTED_QUERY_HASH_MISMATCH,
                    "provided sha256Hash does not match the query",
                    400,
                )
            if self.mode == "allowlist":
                if sha256 not in self.allowed:
                    raise _not_in_list()
                return ResolvedQuery(query)
            return ResolvedQuery(query, register=sha256)
        known = self.allowed.get(sha256)
        if known is not None:
            return ResolvedQuery(known)
        if self.mode == "allowlist":
            raise _not_in_list()
        stored = await self.store.get(sha256)
        if stored is None:
            # Message and 200 as Apollo sends them: clients match on either to retry.
            raise PersistedQueryError(PERSISTED_QUERY_NOT_FOUND, "PersistedQueryNotFound", 200)
        return ResolvedQuery(stored)

    async def register(self, sha256: str, query: str) -> None:
        if sha256 not in self.allowed:
            await self.store.set(sha256, query)


def _checked_hash(persisted: Any) -> str:
    if not isinstance(persisted, Mapping):
        raise PersistedQueryError(_BAD_REQUEST, "extensions.persistedQuery must be an object", 400)
    if persisted.get("version") != 1:
        raise PersistedQueryError(
            _BAD_REQUEST, "unsupported persistedQuery version (only 1 is supported)", 400
        )
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise PersistedQueryError(
            _BAD_REQUEST, "persistedQuery.sha256Hash must be 64 hex digits", 400
        )
    return sha256.lower()


def _not_in_list() -> PersistedQueryError:
    return PersistedQueryError(
        PERSISTED_QUERY_NOT_IN_LIST, "only persisted queries from the allow-list may run"
    )
