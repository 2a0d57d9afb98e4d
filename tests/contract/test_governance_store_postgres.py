"""Audit log, retention and erasure on real PostgreSQL, plus the append-only trigger."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dictamesh.catalog import CatalogService
from dictamesh.core.models import Classification
from dictamesh.governance.audit import AuditLog

from .governance_store_contract import GovernanceStoreContract, decision

pytestmark = pytest.mark.postgres


class TestGovernanceOnPostgres(GovernanceStoreContract):
    @pytest.fixture
    def catalog(self, postgres_catalog: CatalogService) -> CatalogService:
        return postgres_catalog

    async def test_audit_rows_cannot_be_deleted_outside_retention(
        self, catalog: CatalogService
    ) -> None:
        await AuditLog(catalog).record([decision("email", Classification.PII_EMAIL)])
        async with catalog.engine.connect() as conn:
            await catalog.set_tenant(conn)  # row-level security: see the rows to delete
            with pytest.raises(DBAPIError, match="append-only"):
                await conn.execute(text("DELETE FROM dictamesh_audit_log"))
        assert len(await AuditLog(catalog).query()) == 1
