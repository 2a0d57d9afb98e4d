"""Cross-tenant catalog work on SQLite (PostgreSQL: tests/integration/postgres): mixed
ingest batches, per-tenant event ids, the tenant list, retention, audit; and where
migrations run (``catalog.migration_url``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from tests.contract.catalog_contract import SCHEMAS, TOPIC, Clock, invoice_event
from tests.contract.governance_store_contract import Who, decision
from tests.unit.api.conftest import Node
from typer.testing import CliRunner

from dictamesh.catalog import CatalogIngestor, CatalogService, migrate
from dictamesh.cli.main import app as cli
from dictamesh.core.errors import CatalogError
from dictamesh.core.models import Classification
from dictamesh.core.settings import QuotaSettings
from dictamesh.governance.audit import AuditLog
from dictamesh.governance.retention import RetentionJob, RetentionRule
from dictamesh.tenancy import tenant_context


@pytest.fixture
def clocked(sqlite_catalog: CatalogService) -> tuple[CatalogService, Clock]:
    clock = Clock()
    return CatalogService(sqlite_catalog.engine, clock=clock), clock


async def test_a_mixed_batch_applies_per_tenant_with_per_tenant_event_ids(
    clocked: tuple[CatalogService, Clock],
) -> None:
    catalog, _ = clocked
    acme = invoice_event("i-1", tenant_id="acme")
    globex = acme.model_copy(update={"tenant_id": "globex"})  # the same event id
    ingestor = CatalogIngestor(catalog, SCHEMAS)
    assert await ingestor.handle_batch([(acme, TOPIC), (globex, TOPIC), (acme, TOPIC)]) == 2
    assert await ingestor.handle_batch([(globex, TOPIC)]) == 0
    assert ingestor.stats.duplicates == 2
    for tenant in ("acme", "globex"):
        with tenant_context(tenant):
            assert await catalog.count_entities() == 3  # the invoice and its two items
            assert len(await catalog.get_event_log()) == 1
    assert await catalog.tenants() == ["acme", "globex"]


async def test_retention_prune_and_audit_work_across_tenants(
    clocked: tuple[CatalogService, Clock],
) -> None:
    catalog, clock = clocked
    start = clock.now
    for tenant in ("acme", "globex", None):
        await catalog.record_event(invoice_event(f"i-{tenant}", tenant_id=tenant), TOPIC)
    audit = AuditLog(catalog)
    entries = [decision("email", Classification.PII_EMAIL, Who(tenant=t)) for t in ("acme", "b")]
    assert await audit.record(entries) == 2
    assert await catalog.tenants() == ["acme", "b", "default", "globex"]
    clock.now = start + timedelta(days=10)
    rules = [RetentionRule(target="audit", max_age="5d")]
    assert await RetentionJob(catalog, rules).run_once() == {"event_log": 0, "audit": 2}
    assert await catalog.prune_event_log(timedelta(days=5)) == 3
    for tenant in ("acme", "globex", None):
        with tenant_context(tenant):
            assert await catalog.get_event_log() == []


def test_migrate_uses_the_migration_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app_db, owner_db = tmp_path / "app.sqlite3", tmp_path / "owner.sqlite3"
    monkeypatch.setenv("DICTAMESH_CATALOG__URL", f"sqlite+aiosqlite:///{app_db}")
    monkeypatch.setenv("DICTAMESH_CATALOG__MIGRATION_URL", f"sqlite+aiosqlite:///{owner_db}")
    result = CliRunner().invoke(cli, ["migrate", "up"])
    assert result.exit_code == 0, result.output
    assert owner_db.exists()
    assert not app_db.exists()


async def test_open_migrates_through_the_migration_url(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'catalog.sqlite3'}"
    other = f"sqlite+aiosqlite:///{tmp_path / 'elsewhere.sqlite3'}"
    async with await CatalogService.open(url, migration_url=url) as catalog:
        assert await catalog.ping()
    assert (await migrate.status(url)).up_to_date
    # a migration URL naming another database is noticed: this one has no tables
    with pytest.raises(CatalogError, match="not migrated"):
        await CatalogService.open(other, migration_url=url)


async def test_create_app_installs_tenant_quotas() -> None:
    node = Node(quotas=QuotaSettings.model_validate({"default": {"requests_per_second": 1}}))
    async with node.client() as client:
        assert (await client.get("/api/v1/adapters")).status_code == 200
        refused = await client.get("/api/v1/adapters")
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        assert (await client.get("/health")).status_code == 200  # exempt
    assert isinstance(client, httpx.AsyncClient)
