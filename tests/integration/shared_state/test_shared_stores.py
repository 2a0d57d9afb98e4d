"""Tenant quotas, persisted queries and the GraphQL response cache shared through one Redis
by several simulated nodes (each with its own client, as separate processes would be)."""

from __future__ import annotations

import asyncio
import random
import socket

import pytest

from dictamesh.cluster.buckets import FailOpenBuckets, LocalBuckets, RedisBuckets
from dictamesh.cluster.shared_redis import SharedRedis
from dictamesh.core.errors import TenantQuotaExceeded
from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.core.settings import QuotaSettings, TenantQuota
from dictamesh.gateway.apq import PersistedQueries, RedisPersistedQueryStore, query_hash
from dictamesh.gateway.response_cache import Dependencies
from dictamesh.gateway.shared_response_cache import RedisResponseCache
from dictamesh.tenancy.quotas import TenantQuotas
from tests.integration.shared_state.conftest import RedisFactory

pytestmark = pytest.mark.redis

SOURCE = SourceRef(domain="billing", system="shop")


def change(
    kind: str,
    entity_id: str,
    event_type: EventType = EventType.UPDATED,
    fields: tuple[str, ...] = (),
) -> ChangeEvent:
    entity = Entity(type=kind, id=entity_id, attributes=dict.fromkeys(fields, "new"), source=SOURCE)
    return ChangeEvent.for_change(event_type, entity, before=dict.fromkeys(fields, "old"))


def _quotas(redis: SharedRedis, **quota: float) -> TenantQuotas:
    settings = QuotaSettings(default=TenantQuota(**quota))  # type: ignore[arg-type]
    return TenantQuotas(settings, shared=FailOpenBuckets(RedisBuckets(redis)))


# --- tenant quotas ----------------------------------------------------------------------------


async def test_request_quota_holds_across_nodes_per_tenant(make_redis: RedisFactory) -> None:
    a = _quotas(make_redis(), requests_per_second=0.5, request_burst=3)
    b = _quotas(make_redis(), requests_per_second=0.5, request_burst=3)
    spent = [await a.acheck_request("acme") for _ in range(3)]
    assert all(d.allowed for d in spent)
    refused = await b.acheck_request("acme")
    assert not refused.allowed
    assert refused.retry_after_seconds == 2  # one token at 0.5/s
    assert (await b.acheck_request("globex")).allowed  # another tenant, another bucket


async def test_event_quota_waits_on_the_shared_bucket(make_redis: RedisFactory) -> None:
    a = _quotas(make_redis(), events_per_second=20, event_burst=4, max_publish_delay_seconds=0)
    b = _quotas(make_redis(), events_per_second=20, event_burst=4, max_publish_delay_seconds=1)
    await a.acquire_events("acme", 4)
    with pytest.raises(TenantQuotaExceeded):
        await a.acquire_events("acme", 1)  # no delay allowed on a
    loop = asyncio.get_running_loop()
    started = loop.time()
    await b.acquire_events("acme", 2)  # waits on b for what a spent
    assert loop.time() - started >= 0.08


# --- persisted queries ------------------------------------------------------------------------


async def test_query_registered_on_one_node_is_found_on_another(make_redis: RedisFactory) -> None:
    query = '{ customer(id: "1") { name } }'
    sha = query_hash(query)
    node_a = PersistedQueries(RedisPersistedQueryStore(make_redis()))
    node_b = PersistedQueries(RedisPersistedQueryStore(make_redis()))
    ext = {"persistedQuery": {"version": 1, "sha256Hash": sha}}
    registered = await node_a.resolve(query, ext)
    assert registered.register == sha
    await node_a.register(sha, query)
    assert (await node_b.resolve(None, ext)).query == query


async def test_store_is_bounded_least_recently_used_first(make_redis: RedisFactory) -> None:
    redis = make_redis()
    writer = RedisPersistedQueryStore(redis, max_entries=3, local_entries=1)
    queries = [f"{{ q{i} }}" for i in range(5)]
    for q in queries[:3]:
        await writer.set(query_hash(q), q)
    # a read on another node makes q0 recently used
    assert await RedisPersistedQueryStore(make_redis()).get(query_hash(queries[0])) == queries[0]
    for q in queries[3:]:
        await writer.set(query_hash(q), q)
    reader = RedisPersistedQueryStore(make_redis())
    found = {q for q in queries if await reader.get(query_hash(q)) is not None}
    assert found == {queries[0], queries[3], queries[4]}
    assert await redis.client.zcard(redis.key("apq", "index")) == 3


async def test_a_stored_text_that_is_not_the_hash_is_refused(make_redis: RedisFactory) -> None:
    redis = make_redis()
    sha = query_hash("{ a }")
    await redis.client.set(redis.key("apq", "q", sha), "{ b }")
    assert await RedisPersistedQueryStore(redis).get(sha) is None


async def test_redis_down_makes_apq_a_miss_not_an_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    redis = SharedRedis(f"redis://127.0.0.1:{port}/0")
    store = RedisPersistedQueryStore(redis)
    try:
        await store.set(query_hash("{ a }"), "{ a }")  # kept locally, no error
        assert await store.get(query_hash("{ a }")) == "{ a }"
        assert await store.get(query_hash("{ b }")) is None
    finally:
        await redis.aclose()


# --- response cache ---------------------------------------------------------------------------


def _deps(**kw: object) -> Dependencies:
    return Dependencies(**kw)  # type: ignore[arg-type]


async def test_answer_stored_by_one_node_is_served_by_another(make_redis: RedisFactory) -> None:
    a, b = RedisResponseCache(make_redis()), RedisResponseCache(make_redis())
    since = await a.begin()
    deps = _deps(refs={("customer", "1")})
    assert await a.store("k1", {"customer": {"name": "Ada"}}, deps, ttl=30, since=since)
    hit = await b.lookup("k1")
    assert hit is not None
    assert hit.data == {"customer": {"name": "Ada"}}
    assert 28 <= hit.max_age <= 30
    assert await b.lookup("other") is None


async def test_invalidation_on_any_node_drops_the_answer_for_all(
    make_redis: RedisFactory,
) -> None:
    a, b = RedisResponseCache(make_redis()), RedisResponseCache(make_redis())
    since = await a.begin()
    await a.store("ref", {"x": 1}, _deps(refs={("customer", "1")}), ttl=30, since=since)
    await a.store("list", {"x": 2}, _deps(types={"invoice"}), ttl=30, since=since)
    await a.store("other", {"x": 3}, _deps(refs={("customer", "2")}), ttl=30, since=since)
    assert await b.invalidate_now(change("customer", "1")) == 1
    assert await a.lookup("ref") is None
    assert await a.lookup("other") is not None
    # any change of a listed type drops the listing
    assert await b.invalidate_now(change("invoice", "new", EventType.CREATED)) == 1
    assert await a.lookup("list") is None


async def test_related_lookups_follow_membership_and_the_via_field(
    make_redis: RedisFactory,
) -> None:
    a = RedisResponseCache(make_redis())
    deps = _deps(related={("invoice", "customer_id")})

    async def stored(key: str) -> None:
        assert await a.store(key, {"k": key}, deps, ttl=30, since=await a.begin())

    await stored("r")
    assert await a.invalidate_now(change("invoice", "9", fields=("total",))) == 0
    assert await a.lookup("r") is not None  # a field nobody looks up by
    assert await a.invalidate_now(change("invoice", "9", fields=("customer_id",))) == 1
    await stored("r")
    assert await a.invalidate_now(change("invoice", "9", EventType.DELETED)) == 1


async def test_invalidation_racing_the_request_prevents_the_store(
    make_redis: RedisFactory,
) -> None:
    """Node A starts a request; node B invalidates what it reads while it runs; A's answer
    (read before the change) must not be stored — and an unrelated change must not stop it."""
    a, b = RedisResponseCache(make_redis()), RedisResponseCache(make_redis())
    deps = _deps(refs={("customer", "1")})
    since = await a.begin()
    await b.invalidate_now(change("customer", "2"))  # unrelated
    await b.invalidate_now(change("customer", "1"))  # what the request read
    assert not await a.store("k", {"stale": True}, deps, ttl=30, since=since)
    assert a.stats.races == 1
    assert await b.lookup("k") is None
    fresh = await a.begin()
    assert await a.store("k", {"stale": False}, deps, ttl=30, since=fresh)

    # unrelated only: stored
    since = await a.begin()
    await b.invalidate_now(change("customer", "3"))
    assert await a.store("k2", {"ok": 1}, deps, ttl=30, since=since)


async def test_concurrent_writes_and_invalidations_leave_nothing_stale(
    make_redis: RedisFactory,
) -> None:
    """Many interleavings of 'read the change counter, read the source, store' on node A
    against 'change the source, invalidate' on node B: every answer left in the cache was
    computed from the current value."""
    a, b = RedisResponseCache(make_redis()), RedisResponseCache(make_redis())
    value = {"v": 0}
    deps = _deps(refs={("customer", "1")})
    done = asyncio.Event()
    rng = random.Random(19)

    keys: list[str] = []

    async def writer(i: int) -> None:
        while not done.is_set():
            since = await a.begin()
            seen = value["v"]  # the execution reads the source
            await asyncio.sleep(rng.uniform(0, 0.006))
            key = f"k{i}-{len(keys)}"  # never overwritten: every store is checked
            keys.append(key)
            await a.store(key, {"v": seen}, deps, ttl=30, since=since)

    stale: list[str] = []

    async def changer() -> None:
        checked = 0
        for _ in range(25):
            value["v"] += 1
            await asyncio.sleep(0.002)  # the change event arrives a little later
            await b.invalidate_now(change("customer", "1"))
            await asyncio.sleep(0.008)  # every store that read the old value has landed
            recent, checked = keys[checked:], len(keys)
            for key in recent:
                hit = await b.lookup(key)
                if hit is not None and hit.data != {"v": value["v"]}:
                    stale.append(key)
        done.set()

    await asyncio.gather(changer(), *(writer(i) for i in range(8)))
    assert stale == []
    assert a.stats.races > 0  # the interleavings did happen


async def test_listener_queues_invalidations_and_retries_them_in_order(
    make_redis: RedisFactory,
) -> None:
    a = RedisResponseCache(make_redis())
    since = await a.begin()
    await a.store("k", {"x": 1}, _deps(refs={("customer", "1")}), ttl=30, since=since)
    a.invalidate(change("customer", "1"))  # as the change feed calls it: synchronously
    await a.flush()
    assert await a.lookup("k") is None
    await a.aclose()


async def test_overflowed_queue_drops_the_whole_cache(make_redis: RedisFactory) -> None:
    a = RedisResponseCache(make_redis(), max_pending=2)
    since = await a.begin()
    await a.store("k", {"x": 1}, _deps(refs={("customer", "9")}), ttl=30, since=since)
    for i in range(3):  # the third overflows before the drain task runs
        a.invalidate(change("customer", str(i)))
    await a.flush()
    assert await a.lookup("k") is None
    # and an answer from before the drop cannot be stored afterwards
    assert not await a.store("k", {"x": 1}, _deps(refs={("customer", "9")}), ttl=30, since=since)
    await a.aclose()


async def test_redis_down_reads_as_miss_and_stores_nothing() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cache = RedisResponseCache(SharedRedis(f"redis://127.0.0.1:{port}/0"))
    try:
        assert await cache.lookup("k") is None
        assert await cache.begin() == -1
        assert not await cache.store("k", {"x": 1}, _deps(), ttl=30, since=-1)
    finally:
        await cache.redis.aclose()


def test_local_buckets_forget_the_least_recent_key() -> None:
    local = LocalBuckets(max_keys=2)
    local.take_now("a", rate=1, capacity=1)
    local.take_now("b", rate=1, capacity=1)
    local.take_now("c", rate=1, capacity=1)
    assert local.take_now("a", rate=1, capacity=1).allowed  # forgotten: full again
    assert not local.take_now("c", rate=1, capacity=1).allowed
