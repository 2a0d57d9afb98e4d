"""Is row-level security really enforced for the role the catalog connects as?

Migration 0004 enables RLS with a tenant policy on every catalog table, but PostgreSQL
exempts superusers, roles with ``BYPASSRLS`` and the tables' owner (and whoever may become
it). :func:`rls_status` checks all of that for the current connection's role; a node logs a
warning at start when the answer is no (ADR 0004, ``docs/tenancy.md``).

Example::

    status = await rls_status(catalog)
    if not status.enforced:
        print(status.reasons)   # ["role 'dictamesh' owns dictamesh_entity_catalog", ...]
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, text

from dictamesh.catalog.service import CatalogService

__all__ = [
    "POLICY",
    "RLS_EXEMPT_TABLES",
    "TENANT_GUC",
    "TENANT_TABLES",
    "RlsStatus",
    "rls_status",
]

TENANT_GUC = "dictamesh.tenant_id"
"""The setting the policies compare ``tenant_id`` with (set per transaction)."""
POLICY = "dictamesh_tenant_isolation"
TENANT_TABLES = (
    "dictamesh_entity_catalog",
    "dictamesh_entity_relationships",
    "dictamesh_schemas",
    "dictamesh_schema_config",
    "dictamesh_event_log",
    "dictamesh_data_lineage",
    "dictamesh_cache_status",
    "dictamesh_audit_log",
    "dictamesh_sagas",
    "dictamesh_saga_steps",
    "dictamesh_notifications",
    "dictamesh_notification_attempts",
    "dictamesh_notification_inbox",
    "dictamesh_notification_preferences",
    "dictamesh_search_vectors",
    "dictamesh_quality_runs",
    "dictamesh_quality_results",
    "dictamesh_consent_records",
)
#: tables with a ``tenant_id`` deliberately *not* under the policy: the saga lease queue
#: (migration 0006) and the notification claim queue (0009) hold ids, tenants and times
#: only, and nodes claim from them across tenants before working on each row in its
#: tenant's transaction; the system-topic outbox (0010) holds identities only (types, ids,
#: relationship names, event ids, times) and the node's relay reads it across tenants
RLS_EXEMPT_TABLES = (
    "dictamesh_saga_queue",
    "dictamesh_notification_queue",
    "dictamesh_system_outbox",
)

_ROLE = text(
    "SELECT current_user AS role, rolsuper, rolbypassrls FROM pg_catalog.pg_roles"
    " WHERE rolname = current_user"
)
_TABLES = text(
    """
    SELECT c.relname, c.relrowsecurity,
           pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER') AS owner,
           EXISTS (SELECT FROM pg_catalog.pg_policy AS p
                   WHERE p.polrelid = c.oid AND p.polname = :policy) AS policy
    FROM pg_catalog.pg_class AS c
    WHERE c.relkind = 'r' AND c.relname IN :tables
      AND c.relnamespace = ANY (pg_catalog.current_schemas(false)::regnamespace[])
    """
).bindparams(bindparam("tables", expanding=True))


@dataclass(frozen=True, slots=True)
class RlsStatus:
    #: True when every tenant table is protected against the connected role
    enforced: bool
    role: str | None = None
    #: why not, one line each
    reasons: list[str] = field(default_factory=list)


async def rls_status(catalog: CatalogService) -> RlsStatus:
    """Whether row-level security binds the role ``catalog`` connects as, and if not, why."""
    if catalog.dialect != "postgresql":
        return RlsStatus(
            False, None, [f"{catalog.dialect} has no row-level security (PostgreSQL has)"]
        )
    async with catalog.engine.connect() as conn:
        role = (await conn.execute(_ROLE)).one()
        tables = (
            await conn.execute(_TABLES, {"policy": POLICY, "tables": list(TENANT_TABLES)})
        ).all()
    reasons: list[str] = []
    if role.rolsuper:
        reasons.append(f"role {role.role!r} is a superuser")
    if role.rolbypassrls:
        reasons.append(f"role {role.role!r} has BYPASSRLS")
    found = {t.relname: t for t in tables}
    for name in TENANT_TABLES:
        table = found.get(name)
        if table is None:
            reasons.append(f"table {name} not found (is the catalog migrated?)")
            continue
        if not table.relrowsecurity:
            reasons.append(f"{name}: row-level security is off (migrate to 0004)")
        if not table.policy:
            reasons.append(f"{name}: no {POLICY} policy")
        if table.owner:
            reasons.append(
                f"role {role.role!r} owns {name} (or may become its owner), so it is exempt"
                " and may switch RLS off: connect as a role that owns nothing"
            )
    return RlsStatus(not reasons, role.role, reasons)
