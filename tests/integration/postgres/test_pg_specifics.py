"""Migration 0002 on a real PostgreSQL: extensions, indexes, search, triggers, pooling.

Runs in a throwaway database created by the *application* role (it has CREATEDB), so
* the migration is proven to work without a superuser on a database where nobody
  installed pg_trgm beforehand (trusted extensions), and
* downgrading and truncating here cannot disturb other tests using ``dictamesh_test``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from dictamesh.catalog import CatalogService, Compatibility
from dictamesh.catalog._dialect import create_catalog_engine
from dictamesh.catalog.migrate import downgrade, upgrade
from dictamesh.core.context import current_tenant
from dictamesh.core.errors import CatalogError
from dictamesh.core.models import Entity, SourceRef
from dictamesh.core.settings import CatalogPoolSettings

pytestmark = pytest.mark.postgres

EXTENSIONS = {"pg_trgm", "fuzzystrmatch"}
INDEXES = {
    "ix_dictamesh_entity_catalog_search_trgm",
    "ix_dictamesh_entity_relationships_object_current",
    "ix_dictamesh_event_log_timeline",
}
#: 0002's (or 0001's) that no query used, dropped by 0008: the ingest paid for each
DROPPED = {
    "ix_dictamesh_entity_catalog_attributes_gin",
    "ix_dictamesh_entity_catalog_entity_type",
    "ix_dictamesh_entity_catalog_domain",
    "ix_dictamesh_event_log_entity",
}
FUNCTIONS = {
    "dictamesh_search_entities",
    "dictamesh_search_token_score",
    "dictamesh_entity_search_text",
    "dictamesh_touch_updated_at",
}
TRIGGERS = {
    ("dictamesh_entity_catalog", "dictamesh_touch_updated_at"),
    ("dictamesh_schema_config", "dictamesh_touch_updated_at"),
}
LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)


def _admin_url(url: str) -> str:
    """The superuser of scripts/postgres-init.sql, on the same server (or the env's)."""
    explicit = os.environ.get("DICTAMESH_TEST_POSTGRES_ADMIN_URL")
    if explicit:
        return explicit
    return make_url(url).set(username="dictamesh_admin").render_as_string(hide_password=False)


async def _autocommit(url: str, *statements: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def scratch_url(postgres_url: str) -> Iterator[str]:
    """A fresh database owned by the app role, migrated to head; dropped afterwards."""
    name = f"dictamesh_pgspec_{uuid.uuid4().hex[:10]}"
    url = make_url(postgres_url)
    scratch = url.set(database=name).render_as_string(hide_password=False)
    asyncio.run(_autocommit(postgres_url, f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(upgrade(scratch))
        yield scratch
    finally:
        asyncio.run(_autocommit(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def catalog(scratch_url: str) -> AsyncIterator[CatalogService]:
    catalog = await CatalogService.open(scratch_url, migrate=False)
    async with catalog.engine.begin() as conn:
        await conn.execute(
            text(
                "TRUNCATE dictamesh_entity_catalog, dictamesh_entity_relationships,"
                " dictamesh_event_log, dictamesh_schema_config RESTART IDENTITY"
            )
        )
    async with catalog:
        yield catalog


def entity(entity_type: str, entity_id: str, tenant: str | None = None, **attrs: Any) -> Entity:
    return Entity(
        type=entity_type,
        id=entity_id,
        attributes=attrs,
        source=SourceRef(domain=f"{entity_type}s", system="crm"),
        tenant_id=tenant,
    )


async def seed_customers(conn: AsyncConnection, count: int) -> None:
    """``count`` customers c-1..c-N: 20 first names x 25 last names, emails, cities, tiers.

    The names are chosen to crowd ``Jhon Smtih``: Joan, Jason, Jane; Smyth, Smithers, Smart.
    """
    await conn.execute(
        text(
            """
            INSERT INTO dictamesh_entity_catalog (tenant_id, entity_type, entity_id, domain,
                source_system, source_entity_id, api_base_path, version, schema_version,
                attributes, created_at, updated_at)
            SELECT 'default', 'customer', 'c-' || g, 'customers', 'crm', g::text,
                   '/api/v1/entities/customer', 1, 1,
                   jsonb_build_object(
                       'name', f || ' ' || l,
                       'email', lower(f) || '.' || lower(l) || g || '@example.com',
                       'tier', (ARRAY['gold', 'silver', 'bronze'])[1 + g % 3],
                       'address', jsonb_build_object(
                           'city', (ARRAY['Berlin', 'Paris', 'Madrid', 'Lisbon'])[1 + g % 4]),
                       'age', 20 + g % 50),
                   now(), now()
            FROM generate_series(1, :count) AS g
            CROSS JOIN LATERAL (SELECT
                (ARRAY['James', 'Mary', 'Robert', 'Patricia', 'Michael', 'Jennifer', 'William',
                       'Linda', 'David', 'Elizabeth', 'Jane', 'Joan', 'Jack', 'Jason', 'Joseph',
                       'Julia', 'Josh', 'Jonas', 'Jenna', 'Jim'])[1 + g % 20] AS f,
                (ARRAY['Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis',
                       'Rodriguez', 'Martinez', 'Hernandez', 'Lopez', 'Gonzalez', 'Wilson',
                       'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee',
                       'Smithers', 'Smart', 'Smyth', 'Schmidt', 'Stone'])[1 + (g / 20) % 25] AS l
            ) AS names
            """
        ),
        {"count": count},
    )
    await conn.execute(text("ANALYZE dictamesh_entity_catalog"))


async def rows(conn: AsyncConnection, sql: str, **params: Any) -> set[Any]:
    return {tuple(r) if len(r) > 1 else r[0] for r in await conn.execute(text(sql), params)}


async def installed(conn: AsyncConnection) -> dict[str, set[Any]]:
    return {
        "extensions": await rows(conn, "SELECT extname FROM pg_extension"),
        "indexes": await rows(conn, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"),
        "functions": await rows(
            conn, "SELECT proname FROM pg_proc WHERE proname LIKE 'dictamesh%'"
        ),
        "triggers": await rows(
            conn,
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal",
        ),
    }


# --- the migration ----------------------------------------------------------------------------


async def test_migration_creates_extensions_indexes_functions_triggers(
    catalog: CatalogService,
) -> None:
    async with catalog.engine.connect() as conn:
        found = await installed(conn)
        owners = await rows(
            conn,
            "SELECT extname, pg_get_userbyid(extowner) FROM pg_extension"
            " WHERE extname IN ('pg_trgm', 'fuzzystrmatch')",
        )
        role, superuser = (
            await conn.execute(
                text("SELECT rolname, rolsuper FROM pg_roles WHERE rolname = current_user")
            )
        ).one()
    assert found["extensions"] >= EXTENSIONS
    assert found["indexes"] >= INDEXES
    assert not found["indexes"] & DROPPED
    assert found["functions"] >= FUNCTIONS
    assert found["triggers"] >= TRIGGERS
    # Installed by the non-superuser app role itself: they are trusted extensions.
    assert superuser is False
    assert owners == {("pg_trgm", role), ("fuzzystrmatch", role)}


async def test_downgrade_to_0001_removes_everything_and_upgrade_restores_it(
    scratch_url: str,
) -> None:
    engine = create_catalog_engine(scratch_url)
    try:
        await downgrade(scratch_url, "0001_initial")
        async with engine.connect() as conn:
            down = await installed(conn)
        await upgrade(scratch_url)
        async with engine.connect() as conn:
            up = await installed(conn)
    finally:
        await engine.dispose()
    assert not down["indexes"] & INDEXES
    assert not down["functions"] & FUNCTIONS
    assert not down["triggers"] & TRIGGERS
    # Extensions stay: they may serve others in the database.
    assert down["extensions"] >= EXTENSIONS
    assert up["indexes"] >= INDEXES
    assert not up["indexes"] & DROPPED
    # 0008's downgrade restores 0001's (0002's own GIN went with 0002's downgrade).
    assert down["indexes"] >= DROPPED - {"ix_dictamesh_entity_catalog_attributes_gin"}
    assert up["functions"] >= FUNCTIONS
    assert up["triggers"] >= TRIGGERS


# --- search -----------------------------------------------------------------------------------


async def test_typos_find_the_right_entity_among_thousands(catalog: CatalogService) -> None:
    async with catalog.engine.begin() as conn:
        await seed_customers(conn, 3000)
    for item in (
        entity("customer", "c-john", name="John Smith", email="john.smith@example.com"),
        entity("customer", "c-jane", name="Jane Smith"),
        entity("customer", "c-joan", name="Joan Smyth"),
        entity("customer", "c-jason", name="Jason Smyth"),
    ):
        await catalog.register_entity(item)

    started = time.perf_counter()
    hits = await catalog.search_entities("Jhon Smtih")
    elapsed = time.perf_counter() - started

    assert hits[0].entity_id == "c-john"
    assert hits[0].ref.type == "customer"
    assert hits[0].domain == "customers"
    assert hits[0].matched == ["email", "name"]
    ranks = {h.entity_id: i for i, h in enumerate(hits)}
    # one transposition per word beats one substitution/two edits per word
    for rival in ("c-jane", "c-joan", "c-jason"):
        assert ranks.get(rival, len(hits)) > 0
    assert all(0 < h.score <= 1 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert elapsed < 2.0, f"search took {elapsed:.3f}s"

    # search-as-you-type: a prefix finds the Smithers
    for hit in await catalog.search_entities("Smither", limit=5):
        location = await catalog.get_entity_location(hit.entity_type, hit.entity_id)
        assert location.attributes["name"].endswith(" Smithers")


async def test_exact_id_ranks_first_then_near_ids(catalog: CatalogService) -> None:
    async with catalog.engine.begin() as conn:
        await seed_customers(conn, 1000)
    hits = await catalog.search_entities("c-42", limit=5)
    assert hits[0].entity_id == "c-42"
    assert hits[0].score == 1.0
    assert all(h.score < 1.0 for h in hits[1:])
    assert all(h.entity_id.startswith("c-42") for h in hits[1:])


async def test_words_and_nested_values_and_type_filter(catalog: CatalogService) -> None:
    await catalog.register_entity(
        entity("customer", "c-1", name="Ada Lovelace", address={"city": "London"}, vip=True)
    )
    await catalog.register_entity(entity("invoice", "i-1", memo="London office rent"))
    hits = await catalog.search_entities("london")
    assert {h.entity_id for h in hits} == {"c-1", "i-1"}
    assert {h.entity_id: h.matched for h in hits} == {"c-1": ["address"], "i-1": ["memo"]}
    assert [
        h.entity_id for h in await catalog.search_entities("london", entity_type="invoice")
    ] == ["i-1"]
    assert await catalog.search_entities("city") == []  # keys are not searched
    assert await catalog.search_entities("zzzzqqq") == []
    await catalog.mark_entity_deleted(entity("invoice", "i-1").ref)
    assert [h.entity_id for h in await catalog.search_entities("london")] == ["c-1"]


async def test_search_is_tenant_scoped(catalog: CatalogService) -> None:
    await catalog.register_entity(entity("customer", "c-1", name="John Smith"))
    await catalog.register_entity(entity("customer", "c-2", tenant="acme", name="John Smith"))
    assert [h.entity_id for h in await catalog.search_entities("Jhon Smtih")] == ["c-1"]
    token = current_tenant.set("acme")
    try:
        assert [h.entity_id for h in await catalog.search_entities("Jhon Smtih")] == ["c-2"]
    finally:
        current_tenant.reset(token)
    token = current_tenant.set("nobody")
    try:
        assert await catalog.search_entities("john") == []
    finally:
        current_tenant.reset(token)


async def test_sql_function_is_callable_directly(catalog: CatalogService) -> None:
    await catalog.register_entity(entity("customer", "c-1", name="John Smith"))
    async with catalog.engine.connect() as conn:
        result = (
            await conn.execute(text("SELECT * FROM dictamesh_search_entities('jon smith')"))
        ).all()
    assert [(r.entity_type, r.entity_id, r.domain, r.matched) for r in result] == [
        ("customer", "c-1", "customers", ["name"])
    ]


# --- triggers ---------------------------------------------------------------------------------


async def test_trigger_bumps_updated_at_unless_the_writer_set_it(
    catalog: CatalogService,
) -> None:
    clocked = CatalogService(catalog.engine, clock=lambda: LONG_AGO)
    await clocked.register_entity(entity("customer", "c-trg", name="Old"))
    await clocked.set_compatibility(Compatibility.FULL, "customer")
    assert (await catalog.get_entity_location("customer", "c-trg")).updated_at == LONG_AGO

    # Hand-written SQL that does not set updated_at: the trigger does.
    async with catalog.engine.begin() as conn:
        db_now = (await conn.execute(text("SELECT now()"))).scalar_one()
        await conn.execute(
            text(
                'UPDATE dictamesh_entity_catalog SET attributes = \'{"name": "New"}\''
                " WHERE entity_id = 'c-trg'"
            )
        )
        await conn.execute(
            text(
                "UPDATE dictamesh_schema_config SET compatibility = 'NONE'"
                " WHERE subject = 'customer'"
            )
        )
        config_at = (
            await conn.execute(
                text("SELECT updated_at FROM dictamesh_schema_config WHERE subject = 'customer'")
            )
        ).scalar_one()
    assert db_now > LONG_AGO
    assert (await catalog.get_entity_location("customer", "c-trg")).updated_at == db_now
    assert config_at == db_now

    # A writer that sets updated_at itself keeps its value (here the service's clock).
    await clocked.register_entity(
        entity("customer", "c-trg", name="Newer").model_copy(update={"version": 2})
    )
    location = await catalog.get_entity_location("customer", "c-trg")
    assert (location.attributes["name"], location.updated_at) == ("Newer", LONG_AGO)


# --- indexes in plans -------------------------------------------------------------------------


# The two hops of one level of dictamesh_graph_walk (migration 0007), frontier as arrays.
GRAPH_HOP_OUT = """
SELECT r.object_type::text, r.object_id::text
FROM unnest(CAST(:types AS text[]), CAST(:ids AS text[])) AS f(t, i)
JOIN dictamesh_entity_relationships AS r
  ON r.tenant_id = :tenant AND r.valid_to IS NULL AND r.subject_type = f.t AND r.subject_id = f.i
"""
GRAPH_HOP_IN = """
SELECT r.subject_type::text, r.subject_id::text
FROM unnest(CAST(:types AS text[]), CAST(:ids AS text[])) AS f(t, i)
JOIN dictamesh_entity_relationships AS r
  ON r.tenant_id = :tenant AND r.valid_to IS NULL AND r.object_type = f.t AND r.object_id = f.i
"""


async def _plan(conn: AsyncConnection, sql: str, params: dict[str, Any]) -> str:
    result = (await conn.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"), params)).scalar_one()
    return json.dumps(result)


async def test_graph_walk_jsonb_containment_and_timeline_use_the_indexes(
    catalog: CatalogService,
) -> None:
    async with catalog.engine.begin() as conn:
        await seed_customers(conn, 500)
        await conn.execute(
            text(
                """
                INSERT INTO dictamesh_entity_relationships (tenant_id, subject_type,
                    subject_id, relationship_type, object_type, object_id, metadata, valid_from)
                SELECT 'default', 'invoice', 'i-' || g, 'billed_to', 'customer',
                       'c-' || (g % 500), '{}', now()
                FROM generate_series(1, 2000) AS g
                """
            )
        )
        await conn.execute(
            text(
                """
                INSERT INTO dictamesh_event_log (event_id, tenant_id, topic, event_type,
                    entity_type, entity_id, entity_version, source_domain, source_system,
                    changed_fields, payload, event_timestamp, recorded_at)
                SELECT gen_random_uuid()::text, 'default', 't', 'UPDATED', 'customer',
                       'c-' || (g % 500), g, 'customers', 'crm', '[]', '{}', g, now()
                FROM generate_series(1, 2000) AS g
                """
            )
        )
        await conn.execute(text("ANALYZE"))
        await conn.execute(text("SET LOCAL enable_seqscan = off"))

        # One level of dictamesh_graph_walk (migration 0007): the frontier is an array.
        params = {"tenant": "default", "types": ["customer"], "ids": ["c-7"]}
        incoming = await _plan(conn, GRAPH_HOP_IN, params)
        assert "ix_dictamesh_entity_relationships_object_current" in incoming
        assert "Index Only Scan" in incoming
        outgoing = await _plan(conn, GRAPH_HOP_OUT, {**params, "types": ["invoice"]})
        # No new index for this side: 0001's indexes on the subject serve it (the partial
        # unique one also covers every column the walk reads).
        assert "Seq Scan" not in outgoing
        assert (
            "uq_dictamesh_entity_relationships_current" in outgoing
            or "ix_dictamesh_entity_relationships_subject" in outgoing
        )

        # Entities of a type (count, page): the tenant-led key, no index on the type alone.
        of_type = await _plan(
            conn,
            "SELECT count(*) FROM dictamesh_entity_catalog WHERE tenant_id = :tenant"
            " AND entity_type = :type AND status = 'active'",
            {"tenant": "default", "type": "customer"},
        )
        assert "uq_dictamesh_entity_catalog_key" in of_type

        trigram = await _plan(
            conn,
            "SELECT entity_id FROM dictamesh_entity_catalog WHERE :q <%"
            " dictamesh_entity_search_text(entity_type, entity_id, attributes)",
            {"q": "john smith"},
        )
        assert "ix_dictamesh_entity_catalog_search_trgm" in trigram

        timeline = await _plan(
            conn,
            "SELECT * FROM dictamesh_event_log WHERE tenant_id = :tenant"
            " AND entity_type = :type AND entity_id = :id"
            " ORDER BY event_timestamp DESC, id DESC LIMIT 100",
            {"tenant": "default", "type": "customer", "id": "c-7"},
        )
        assert "ix_dictamesh_event_log_timeline" in timeline
        assert '"Sort"' not in timeline  # the index order is the answer's order


# --- pooling ----------------------------------------------------------------------------------


async def _terminate(admin_url: str, application_name: str) -> int:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            result = await conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = :name AND pid <> pg_backend_pid()"
                ),
                {"name": application_name},
            )
            return int(result.scalar_one())
    finally:
        await engine.dispose()


@pytest.mark.parametrize("pre_ping", [True, False])
async def test_pooled_engine_survives_terminated_connections(
    scratch_url: str, pre_ping: bool
) -> None:
    name = f"dm-test-pool-{uuid.uuid4().hex[:8]}"
    pool = CatalogPoolSettings(size=2, max_overflow=0, pre_ping=pre_ping, application_name=name)
    catalog = CatalogService(create_catalog_engine(scratch_url, pool=pool), owns_engine=True)
    async with catalog:
        # Two connections into the pool, both idle afterwards.
        await asyncio.gather(catalog.ping(), catalog.ping())
        assert catalog.engine.pool.checkedin() >= 1  # type: ignore[attr-defined]
        assert await _terminate(_admin_url(scratch_url), name) >= 1
        await asyncio.sleep(0.2)  # let the backends go
        if pre_ping:
            for _ in range(3):
                assert await catalog.ping()
            assert await catalog.count_entities() >= 0
        else:
            # The control: without pre-ping the dead pooled connection surfaces.
            with pytest.raises(CatalogError):
                await catalog.ping()


def test_pool_settings_reach_the_engine(postgres_url: str) -> None:
    pool = CatalogPoolSettings(size=7, max_overflow=3, timeout_seconds=4, recycle_seconds=60)
    engine = create_catalog_engine(postgres_url, pool=pool)
    try:
        sync_pool: Any = engine.pool
        assert sync_pool.size() == 7
        assert sync_pool._max_overflow == 3
        assert sync_pool._timeout == 4
        assert sync_pool._recycle == 60
        assert sync_pool._pre_ping is True
    finally:
        asyncio.run(engine.dispose())
