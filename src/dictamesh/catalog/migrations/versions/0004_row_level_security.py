"""Multi-tenancy: row-level security on every tenant table; event ids unique per tenant.

Both engines:

* the event log's idempotency key becomes ``(tenant_id, event_id)`` (was ``event_id``):
  deterministic event ids (ADR 0002) do not contain the tenant, so two tenants running the
  same adapter over equal data produce equal ids, and one tenant's event must never be
  dropped as a "duplicate" of another's.

PostgreSQL only (ADR 0004, ``docs/tenancy.md``):

* ``ENABLE ROW LEVEL SECURITY`` and one policy ``dictamesh_tenant_isolation`` per table with
  a ``tenant_id``: ``tenant_id = current_setting('dictamesh.tenant_id', true)`` for reading
  (USING) and writing (WITH CHECK). :class:`~dictamesh.catalog.service.CatalogService` sets
  the setting at the start of every transaction; without it a query sees no rows at all.
  RLS is *enabled*, not forced: the role running this migration owns the tables and is
  exempt. That role must not be the one the application connects as (``dictamesh_owner``
  vs ``dictamesh`` in ``scripts/postgres-init.sql``): a table owner can switch RLS off;
* privileges for the application: ``SELECT, INSERT, UPDATE, DELETE`` on the catalog tables,
  ``USAGE, SELECT`` on their id sequences and ``SELECT`` on the version table, granted to
  the group role ``dictamesh_app`` when it exists (make the application's login role a
  member). Nothing else: no ``TRUNCATE`` (it ignores row-level security), no ``TRIGGER``,
  no ``REFERENCES``, no default privileges — a table added later is closed to the
  application until its migration grants access *and* enables RLS on it;
* search keeps its indexes: under RLS PostgreSQL may only use an index for operators that
  are ``LEAKPROOF``, and pg_trgm's ``<%`` is not, so the trigram search of 0002 would scan
  all of a tenant's rows. 0002's function becomes ``dictamesh_search_entities_any_tenant``
  (executable by the owner only) behind a new ``dictamesh_search_entities`` with the same
  signature that runs it as the owner (``SECURITY DEFINER``) and enforces the policy's rule
  itself: it answers only for ``p_tenant`` = the transaction's tenant, unless the caller
  would be exempt from RLS anyway (the owner, a superuser, ``BYPASSRLS``);
* ``dictamesh_catalog_tenants()``: the tenants having rows, for cross-tenant jobs
  (retention) that then work tenant by tenant. ``SECURITY DEFINER`` (it runs as the owner,
  so it sees every tenant) and ``BEGIN ATOMIC`` (names are bound when it is created, so no
  caller's ``search_path`` can redirect it); one index probe per tenant and table (a "loose
  index scan" on each table's ``tenant_id``-led index). Executable by ``dictamesh_app``
  only. It reveals tenant names, never rows.

Revision ID: 0004_row_level_security
Revises: 0003_governance
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004_row_level_security"
down_revision: str | Sequence[str] | None = "0003_governance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUC = "dictamesh.tenant_id"
POLICY = "dictamesh_tenant_isolation"
APP_ROLE = "dictamesh_app"
VERSION_TABLE = "dictamesh_alembic_version"
TENANT_FUNCTION = "dictamesh_catalog_tenants()"

#: every table with a ``tenant_id``: each gets RLS and the policy
TENANT_TABLES = (
    "dictamesh_entity_catalog",
    "dictamesh_entity_relationships",
    "dictamesh_schemas",
    "dictamesh_schema_config",
    "dictamesh_event_log",
    "dictamesh_data_lineage",
    "dictamesh_cache_status",
    "dictamesh_audit_log",
)
#: tables whose ``id`` is a serial (its sequence must be usable by the application)
SERIAL_TABLES = (
    "dictamesh_entity_catalog",
    "dictamesh_entity_relationships",
    "dictamesh_schemas",
    "dictamesh_event_log",
    "dictamesh_data_lineage",
    "dictamesh_audit_log",
)
#: tables with an index led by ``tenant_id`` over *all* rows, scanned for tenant names.
#: Relationships have one only over current edges; a tenant with relationships only is
#: not listed (no cross-tenant job touches relationships).
TENANT_INDEXED_TABLES = (
    "dictamesh_entity_catalog",
    "dictamesh_schemas",
    "dictamesh_schema_config",
    "dictamesh_event_log",
    "dictamesh_data_lineage",
    "dictamesh_cache_status",
    "dictamesh_audit_log",
)

SEARCH = "dictamesh_search_entities"
SEARCH_ANY_TENANT = "dictamesh_search_entities_any_tenant"
_SEARCH_ARGS = "(text, text, text, integer)"

_OLD_EVENT_KEY = "uq_dictamesh_event_log_event_id"
_NEW_EVENT_KEY = "uq_dictamesh_event_log_tenant_id_event_id"

_CONDITION = f"tenant_id = current_setting('{GUC}', true)"


def _loose_scan(table: str) -> str:
    # min() over "tenant_id > previous" is one index probe per distinct tenant.
    return f"""
    (WITH RECURSIVE t(tenant) AS (
        SELECT min(tenant_id) FROM {table}
        UNION ALL
        SELECT (SELECT min(tenant_id) FROM {table} WHERE tenant_id > t.tenant)
        FROM t WHERE t.tenant IS NOT NULL
    ) SELECT tenant FROM t WHERE tenant IS NOT NULL)"""


_TENANTS = f"""
CREATE FUNCTION {TENANT_FUNCTION} RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    {" UNION ".join(_loose_scan(t) for t in TENANT_INDEXED_TABLES)}
    ORDER BY 1;
END
"""

# The guard does not refer to the search's rows, so it is a one-time filter: the search
# does not even run for another tenant. Caller exempt from RLS: session_user is the login
# role (current_user is this function's owner here).
_SEARCH_GUARDED = f"""
CREATE FUNCTION {SEARCH}(
    q text,
    p_tenant text DEFAULT 'default',
    p_type text DEFAULT NULL,
    p_limit integer DEFAULT 20
)
RETURNS TABLE (entity_type text, entity_id text, domain text, score real, matched text[])
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT s.entity_type, s.entity_id, s.domain, s.score, s.matched
    FROM {SEARCH_ANY_TENANT}(q, p_tenant, p_type, p_limit) WITH ORDINALITY
         AS s(entity_type, entity_id, domain, score, matched, position)
    WHERE p_tenant = current_setting('{GUC}', true)
       OR pg_has_role(session_user, current_user, 'MEMBER')
       OR EXISTS (SELECT FROM pg_roles AS r
                  WHERE r.rolname = session_user AND (r.rolsuper OR r.rolbypassrls))
    ORDER BY s.position;
END
"""

_SEQUENCES = ", ".join(f"'{t}'" for t in SERIAL_TABLES)
_TABLES = ", ".join(TENANT_TABLES)

# The group role is a deployment choice (scripts/postgres-init.sql creates it); a database
# without it (a developer's single-role setup) migrates all the same.
_GRANT = f"""
DO $$
DECLARE
    seq text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN
        RETURN;
    END IF;
    GRANT SELECT, INSERT, UPDATE, DELETE ON {_TABLES} TO {APP_ROLE};
    GRANT SELECT ON {VERSION_TABLE} TO {APP_ROLE};
    FOREACH seq IN ARRAY ARRAY[{_SEQUENCES}] LOOP
        EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO {APP_ROLE}',
                       pg_catalog.pg_get_serial_sequence(seq, 'id'));
    END LOOP;
    GRANT EXECUTE ON FUNCTION {TENANT_FUNCTION} TO {APP_ROLE};
    GRANT EXECUTE ON FUNCTION {SEARCH}{_SEARCH_ARGS} TO {APP_ROLE};
END
$$
"""

_REVOKE = f"""
DO $$
DECLARE
    seq text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN
        RETURN;
    END IF;
    REVOKE SELECT, INSERT, UPDATE, DELETE ON {_TABLES} FROM {APP_ROLE};
    REVOKE SELECT ON {VERSION_TABLE} FROM {APP_ROLE};
    FOREACH seq IN ARRAY ARRAY[{_SEQUENCES}] LOOP
        EXECUTE format('REVOKE USAGE, SELECT ON SEQUENCE %s FROM {APP_ROLE}',
                       pg_catalog.pg_get_serial_sequence(seq, 'id'));
    END LOOP;
END
$$
"""


def upgrade() -> None:
    with op.batch_alter_table("dictamesh_event_log") as batch:
        batch.drop_constraint(_OLD_EVENT_KEY, type_="unique")
        batch.create_unique_constraint(_NEW_EVENT_KEY, ["tenant_id", "event_id"])
    if op.get_context().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {POLICY} ON {table} USING ({_CONDITION}) WITH CHECK ({_CONDITION})"
        )
    op.execute(_TENANTS)
    op.execute(f"REVOKE ALL ON FUNCTION {TENANT_FUNCTION} FROM PUBLIC")
    op.execute(f"ALTER FUNCTION {SEARCH}{_SEARCH_ARGS} RENAME TO {SEARCH_ANY_TENANT}")
    op.execute(f"REVOKE ALL ON FUNCTION {SEARCH_ANY_TENANT}{_SEARCH_ARGS} FROM PUBLIC")
    op.execute(_SEARCH_GUARDED)
    op.execute(f"REVOKE ALL ON FUNCTION {SEARCH}{_SEARCH_ARGS} FROM PUBLIC")
    op.execute(_GRANT)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(_REVOKE)
        op.execute(f"DROP FUNCTION IF EXISTS {TENANT_FUNCTION}")
        op.execute(f"DROP FUNCTION IF EXISTS {SEARCH}{_SEARCH_ARGS}")
        op.execute(f"ALTER FUNCTION {SEARCH_ANY_TENANT}{_SEARCH_ARGS} RENAME TO {SEARCH}")
        op.execute(f"GRANT EXECUTE ON FUNCTION {SEARCH}{_SEARCH_ARGS} TO PUBLIC")
        for table in TENANT_TABLES:
            op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    # Fails if two tenants logged the same event id since the upgrade: resolve by hand.
    with op.batch_alter_table("dictamesh_event_log") as batch:
        batch.drop_constraint(_NEW_EVENT_KEY, type_="unique")
        batch.create_unique_constraint(_OLD_EVENT_KEY, ["event_id"])
