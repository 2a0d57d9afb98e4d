"""Item 5: the relationship-graph walk has a deadline that holds inside the database."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from dictamesh.catalog import CatalogService
from dictamesh.catalog._graph import walk_graph
from dictamesh.core.errors import QueryLimitExceeded
from dictamesh.core.models import EntityRef


@pytest.fixture
async def dense() -> AsyncIterator[CatalogService]:
    """60 entities, each related to every other (3,540 edges), and a chain of 20,000 edges
    from n0: a walk of the chain at depth 10 and limit 10,000 is far more row visits than
    a 5 ms deadline allows (the breadth-first walk no longer struggles with the clique)."""
    async with await CatalogService.open("sqlite+aiosqlite:///:memory:") as catalog:
        refs = [EntityRef(type="node", id=f"n{i}") for i in range(60)]
        for a in refs:
            for b in refs:
                if a != b:
                    await catalog.record_relationship(a, "linked", b)
        async with catalog.engine.begin() as conn:
            # Fan-out tree below n0: 20,000 nodes within a few hops.
            await conn.execute(
                text(
                    """
                    WITH RECURSIVE k(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM k
                                            WHERE x < 20000)
                    INSERT INTO dictamesh_entity_relationships (tenant_id, subject_type,
                        subject_id, relationship_type, object_type, object_id, metadata,
                        valid_from)
                    SELECT :tenant, 'node', CASE WHEN x <= 20 THEN 'n0' ELSE 't' || (x / 20)
                           END, 'linked', 'node', 't' || x, '{}', '2025-01-01 00:00:00'
                    FROM k
                    """
                ),
                {"tenant": catalog.tenant()},
            )
        yield catalog


async def walk(catalog: CatalogService, timeout: float, limit: int = 10_000) -> None:
    async with catalog.engine.connect() as conn:
        await walk_graph(
            conn,
            tenant=catalog.tenant(),
            root_type="node",
            root_id="n0",
            direction="both",
            max_depth=10,
            limit=limit,
            timeout_seconds=timeout,
        )


async def test_a_walk_past_its_deadline_is_interrupted_in_sqlite(
    dense: CatalogService,
) -> None:
    started = time.perf_counter()
    with pytest.raises(QueryLimitExceeded) as refused:
        await walk(dense, timeout=0.005)
    elapsed = time.perf_counter() - started
    assert elapsed < 1, f"the walk ran {elapsed:.2f} s past a 5 ms deadline"
    assert refused.value.http_status == 400
    # the connection is usable again: the handler is gone, a small walk answers
    await walk(dense, timeout=5, limit=100)
    graph = await dense.query_relationship_graph(EntityRef(type="node", id="n0"), max_depth=1)
    assert len(graph.nodes) == 80  # n0, the other 59 of the clique, 20 tree children
