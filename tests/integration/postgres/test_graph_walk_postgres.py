"""``dictamesh_graph_walk`` (migration 0007) on PostgreSQL, as the application role under RLS.

The function runs as its caller (``SECURITY INVOKER``), so row-level security decides what it
reads: naming another tenant in ``p_tenant`` yields nothing of that tenant's. It forces
custom plans (``plan_cache_mode``), so it stays fast past PL/pgSQL's fifth call.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dictamesh.catalog import CatalogService
from dictamesh.core.models import EntityRef
from dictamesh.tenancy import tenant_context

pytestmark = pytest.mark.postgres

WALK = text(
    "SELECT node_types, node_ids, edge_subject_ids, edge_object_ids, truncated"
    " FROM dictamesh_graph_walk(:tenant, 'n', 'a', 'both', 5, 100)"
)


async def test_the_function_runs_as_the_caller_with_custom_plans(
    postgres_catalog: CatalogService,
) -> None:
    async with postgres_catalog.engine.connect() as conn:
        definer, config = (
            await conn.execute(
                text(
                    "SELECT prosecdef, proconfig FROM pg_proc"
                    " WHERE proname = 'dictamesh_graph_walk'"
                )
            )
        ).one()
    assert definer is False
    assert "plan_cache_mode=force_custom_plan" in config


async def test_another_tenants_name_reads_nothing_of_it(
    postgres_catalog: CatalogService,
) -> None:
    a, b = EntityRef(type="n", id="a"), EntityRef(type="n", id="b")
    with tenant_context("globex"):
        await postgres_catalog.record_relationship(a, "links", b)
    with tenant_context("acme"):
        await postgres_catalog.record_relationship(a, "links", EntityRef(type="n", id="c"))
    async with postgres_catalog.engine.begin() as conn:
        await conn.execute(text("SELECT set_config('dictamesh.tenant_id', 'acme', true)"))
        foreign = (await conn.execute(WALK, {"tenant": "globex"})).one()
        own = (await conn.execute(WALK, {"tenant": "acme"})).one()
    # the root only: globex's edge is invisible to an acme transaction
    assert tuple(foreign) == (["n"], ["a"], [], [], False)
    assert tuple(own) == (["n", "n"], ["a", "c"], ["a"], ["c"], False)
    with tenant_context("globex"):
        graph = await postgres_catalog.query_relationship_graph(a, max_depth=5)
    assert {n.id for n in graph.nodes} == {"a", "b"}
