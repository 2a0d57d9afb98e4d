"""Item 5: the relationship-graph walk has a deadline that holds inside the database."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from dictamesh.catalog import CatalogService
from dictamesh.catalog._graph import walk_graph
from dictamesh.core.errors import QueryLimitExceeded
from dictamesh.core.models import EntityRef


@pytest.fixture
async def dense() -> AsyncIterator[CatalogService]:
    """60 entities, each related to every other (3,540 edges): a depth-10 walk of it is a
    few hundred thousand row visits, far more than a 5 ms deadline allows."""
    async with await CatalogService.open("sqlite+aiosqlite:///:memory:") as catalog:
        refs = [EntityRef(type="node", id=f"n{i}") for i in range(60)]
        for a in refs:
            for b in refs:
                if a != b:
                    await catalog.record_relationship(a, "linked", b)
        yield catalog


async def walk(catalog: CatalogService, timeout: float, max_paths: int) -> None:
    async with catalog.engine.connect() as conn:
        await walk_graph(
            conn,
            tenant=catalog.tenant(),
            root_type="node",
            root_id="n0",
            direction="both",
            max_depth=10,
            node_limit=101,
            max_paths=max_paths,
            timeout_seconds=timeout,
        )


async def test_a_walk_past_its_deadline_is_interrupted_in_sqlite(
    dense: CatalogService,
) -> None:
    started = time.perf_counter()
    with pytest.raises(QueryLimitExceeded) as refused:
        await walk(dense, timeout=0.005, max_paths=10**12)
    elapsed = time.perf_counter() - started
    assert elapsed < 1, f"the walk ran {elapsed:.2f} s past a 5 ms deadline"
    assert refused.value.http_status == 400
    # the connection is usable again: the handler is gone, a small walk answers
    await walk(dense, timeout=5, max_paths=100)
    graph = await dense.query_relationship_graph(EntityRef(type="node", id="n0"), max_depth=1)
    assert len(graph.nodes) == 60
