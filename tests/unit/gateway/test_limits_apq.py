"""Persisted queries (gateway.apq): APQ round trip, allow-list, stores, manifests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dictamesh.cache.memory import MemoryCache
from dictamesh.core.errors import ConfigurationError
from dictamesh.gateway.apq import (
    PERSISTED_QUERY_HASH_MISMATCH,
    PERSISTED_QUERY_NOT_FOUND,
    PERSISTED_QUERY_NOT_IN_LIST,
    PERSISTED_QUERY_NOT_SUPPORTED,
    CachePersistedQueryStore,
    LruPersistedQueryStore,
    PersistedQueries,
    PersistedQueryError,
    load_manifest,
    query_hash,
)

QUERY = "{ entityTypes }"
HASH = query_hash(QUERY)


def ext(sha256: str = HASH, version: Any = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha256}}


async def refused(apq: PersistedQueries, query: str | None, extensions: Any) -> PersistedQueryError:
    with pytest.raises(PersistedQueryError) as info:
        await apq.resolve(query, extensions)
    return info.value


def test_the_hash_is_sha256_hex_of_the_text() -> None:
    # printf '%s' '{ __typename }' | sha256sum
    assert query_hash("{ __typename }") == (
        "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b"
    )


async def test_auto_mode_round_trip() -> None:
    apq = PersistedQueries(LruPersistedQueryStore(10))
    miss = await refused(apq, None, ext())
    assert (miss.code, miss.message, miss.status) == (
        PERSISTED_QUERY_NOT_FOUND,
        "PersistedQueryNotFound",
        200,
    )
    resolved = await apq.resolve(QUERY, ext(HASH.upper()))  # hex case does not matter
    assert (resolved.query, resolved.register) == (QUERY, HASH)
    await apq.register(HASH, QUERY)
    assert (await apq.resolve(None, ext())).query == QUERY
    plain = await apq.resolve(QUERY, None)
    assert (plain.query, plain.register) == (QUERY, None)


async def test_hash_mismatch_and_malformed_extensions() -> None:
    apq = PersistedQueries()
    mismatch = await refused(apq, "{ other }", ext())
    assert (mismatch.code, mismatch.status) == (PERSISTED_QUERY_HASH_MISMATCH, 400)
    bad_extensions: list[Any] = [ext(version=2), ext("abc"), {"persistedQuery": "x"}]
    bad_extensions.append({"persistedQuery": {"version": 1, "sha256Hash": None}})
    for bad in bad_extensions:
        error = await refused(apq, None, bad)
        assert (error.code, error.status) == ("BAD_REQUEST", 400)


async def test_off_mode_says_not_supported() -> None:
    apq = PersistedQueries(mode="off")
    error = await refused(apq, QUERY, ext())
    assert (error.code, error.status) == (PERSISTED_QUERY_NOT_SUPPORTED, 200)
    assert (await apq.resolve(QUERY, None)).query == QUERY


async def test_allowlist_mode_runs_only_listed_queries() -> None:
    apq = PersistedQueries(mode="allowlist", allowed={HASH: QUERY})
    assert (await apq.resolve(None, ext())).query == QUERY
    assert (await apq.resolve(QUERY, None)).query == QUERY  # the text of a listed query
    listed = await apq.resolve(QUERY, ext())
    assert listed.register is None  # nothing is ever added to an allow-list
    for query, extensions in (
        ("{ other }", None),
        (None, ext(query_hash("{ other }"))),
        ("{ other }", ext(query_hash("{ other }"))),
    ):
        error = await refused(apq, query, extensions)
        assert (error.code, error.status) == (PERSISTED_QUERY_NOT_IN_LIST, None)
    with pytest.raises(ConfigurationError):
        PersistedQueries(mode="allowlist")


async def test_lru_store_is_bounded() -> None:
    store = LruPersistedQueryStore(2)
    await store.set("a", "A")
    await store.set("b", "B")
    assert await store.get("a") == "A"  # a is now the most recent
    await store.set("c", "C")
    assert (await store.get("b"), len(store)) == (None, 2)
    assert await store.get("a") == "A"


async def test_cache_store_shares_queries_between_nodes() -> None:
    shared = MemoryCache(max_entries=100, ttl=60)
    one, two = CachePersistedQueryStore(shared), CachePersistedQueryStore(shared)
    await one.set(HASH, QUERY)
    assert await two.get(HASH) == QUERY
    assert await two.get(query_hash("{ other }")) is None
    await shared.set("dictamesh:apq:" + query_hash("{ x }"), {"query": "{ forged }"})
    assert await two.get(query_hash("{ x }")) is None  # a stored text must match its hash


def test_manifest_formats(tmp_path: Path) -> None:
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({HASH: QUERY}))
    assert load_manifest(plain) == {HASH: QUERY}
    apollo = tmp_path / "apollo.json"
    apollo.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": HASH, "name": "T", "type": "query", "body": QUERY}],
            }
        )
    )
    assert load_manifest(apollo) == {HASH: QUERY}
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({HASH: "{ other }"}))
    for path in (wrong, tmp_path / "missing.json"):
        with pytest.raises(ConfigurationError):
            load_manifest(path)
