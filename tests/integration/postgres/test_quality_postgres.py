"""The quality rules' SQL on PostgreSQL (JSONB ``->>``, ``jsonb_typeof``, the grouped and
``NOT EXISTS`` queries), the same cases as on SQLite (tests/unit/quality/test_rules.py), and
the results under row-level security."""

from __future__ import annotations

from pathlib import Path

import pytest

from dictamesh.catalog import CatalogService
from dictamesh.quality.evaluator import QualityEvaluator
from dictamesh.quality.store import QualityStore
from dictamesh.tenancy import tenant_context
from tests.quality_support import bad_data, good_data, ingest, settings
from tests.unit.quality import test_rules as on_sqlite
from tests.unit.quality.test_schedule import one_node_runs_the_schedule

pytestmark = pytest.mark.postgres


async def test_clean_data_passes(postgres_catalog: CatalogService) -> None:
    await on_sqlite.test_clean_data_passes_every_rule(postgres_catalog)


async def test_each_rule_type_finds_its_failures(postgres_catalog: CatalogService) -> None:
    await on_sqlite.test_each_rule_type_finds_its_failures(postgres_catalog)


async def test_referential_integrity_after_a_delete(postgres_catalog: CatalogService) -> None:
    await on_sqlite.test_referential_integrity_fails_when_the_customer_is_deleted(postgres_catalog)


async def test_freshness_and_row_count_change(postgres_catalog: CatalogService) -> None:
    await on_sqlite.test_freshness_and_row_count_change(postgres_catalog)


async def test_history_is_bounded(postgres_catalog: CatalogService) -> None:
    await on_sqlite.test_history_is_bounded(postgres_catalog)


async def test_results_stay_with_their_tenant(postgres_catalog: CatalogService) -> None:
    with tenant_context("acme"):
        await ingest(postgres_catalog, good_data() + bad_data())
    evaluator = QualityEvaluator(postgres_catalog.database, settings(), node="t")
    await evaluator.run("acme")
    store = QualityStore(postgres_catalog.database)
    assert len(await store.latest("acme")) == 9
    assert await store.latest("default") == []  # row-level security and the tenant filter
    assert (await store.scores("acme"))["customer"].score == 0.0


async def test_one_node_runs_the_schedule(postgres_catalog: CatalogService, tmp_path: Path) -> None:
    # the lease row in the catalog database (capture.leader_election: lease)
    await one_node_runs_the_schedule(postgres_catalog, tmp_path, "lease")
