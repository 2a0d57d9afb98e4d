"""Fixtures of the three-node tests: the sample sources in this process, the servers'
addresses with a migrated, emptied catalog and an emptied Redis database, a run id."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from dictamesh.demo import ProductionUrls
from dictamesh.sources.runner import SampleSources, run_sample_sources
from tests.cluster_support import mesh_config


@pytest.fixture
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
async def cluster_urls(
    empty_catalog_url: str, kafka_bootstrap: str, redis_url: str
) -> ProductionUrls:
    # The entity cache's keys name no adapter: an earlier run's customer 1 in Redis would be
    # served as this run's. The test Redis database is this suite's own.
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    return ProductionUrls(empty_catalog_url, kafka_bootstrap, redis_url)


@pytest.fixture
async def sources() -> AsyncIterator[SampleSources]:
    # products' own rate limit off: three nodes polling it are not a misbehaving client
    async with run_sample_sources(products_rate_limit=None) as running:
        yield running


@pytest.fixture
def config_for(
    tmp_path: Path, sources: SampleSources, cluster_urls: ProductionUrls, run_id: str
) -> Callable[..., Path]:
    """``config_for(**overrides)``: the run's mesh.yaml with these settings on top."""

    def write(poll: float = 0.5, **overrides: object) -> Path:
        return mesh_config(
            tmp_path, sources, cluster_urls, run_id=run_id, poll=poll, overrides=overrides
        )

    return write
