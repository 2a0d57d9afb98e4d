"""Shared-state fixtures: Redis clients under a key prefix of their own per test, so tests
sharing one Redis database never see each other's buckets, queries or answers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from dictamesh.cluster.shared_redis import SharedRedis

RedisFactory = Callable[..., SharedRedis]


@pytest.fixture
def prefix() -> str:
    return f"dmtest-{uuid.uuid4().hex[:10]}:"


@pytest.fixture
async def make_redis(redis_url: str, prefix: str) -> AsyncIterator[RedisFactory]:
    """New clients (one per simulated node) on one Redis and one prefix; the prefix's keys
    are deleted afterwards."""
    made: list[SharedRedis] = []

    def make(**options: object) -> SharedRedis:
        client = SharedRedis(redis_url, prefix=prefix, **options)  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    if made:
        keys = [k async for k in made[0].client.scan_iter(match=prefix + "*", count=500)]
        if keys:
            await made[0].client.delete(*keys)
    for client in made:
        await client.aclose()
