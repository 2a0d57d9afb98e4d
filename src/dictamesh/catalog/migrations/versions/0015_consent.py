"""Consent records: one append-only row per consent change of a data subject and purpose
(``docs/governance.md``, "Consent and purpose"). A tenant table under row-level security
like the catalog's.

Revision ID: 0015_consent
Revises: 0014_quality
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_consent"
down_revision: str | Sequence[str] | None = "0014_quality"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CONSENT = "dictamesh_consent_records"
APP_ROLE = "dictamesh_app"
POLICY = "dictamesh_tenant_isolation"
_CONDITION = "tenant_id = current_setting('dictamesh.tenant_id', true)"

_GRANT = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN
        RETURN;
    END IF;
    GRANT SELECT, INSERT ON {CONSENT} TO {APP_ROLE};
    EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO {APP_ROLE}',
                   pg_catalog.pg_get_serial_sequence('{CONSENT}', 'id'));
END
$$
"""


def upgrade() -> None:
    op.create_table(
        CONSENT,
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(64), server_default="default", nullable=False),
        sa.Column("subject", sa.String(320), nullable=False),
        sa.Column("purpose", sa.String(63), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("evidence", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{CONSENT}"),
    )
    op.create_index(f"ix_{CONSENT}_subject", CONSENT, ["tenant_id", "subject", "purpose", "id"])
    op.create_index(f"ix_{CONSENT}_purpose", CONSENT, ["tenant_id", "purpose", "id"])
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE {CONSENT} ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY {POLICY} ON {CONSENT} USING ({_CONDITION}) WITH CHECK ({_CONDITION})"
    )
    op.execute(_GRANT)


def downgrade() -> None:
    op.drop_table(CONSENT)
