"""``dictamesh governance erase``: the right to erasure from the command line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml
from typer.testing import CliRunner

from dictamesh.catalog.service import CatalogService
from dictamesh.cli.main import app
from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.governance.audit import AuditLog

runner = CliRunner()


def node_yaml(tmp_path: Path, catalog_url: str) -> Path:
    path = tmp_path / "node.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "bus": {"path": str(tmp_path / "bus.sqlite3")},
                "catalog": {"url": catalog_url},
            }
        )
    )
    return path


async def seed(catalog_url: str) -> None:
    async with await CatalogService.open(catalog_url, migrate=False) as catalog:
        entity = Entity(
            type="customer",
            id="c-1",
            attributes={"email": "ada@example.com"},
            source=SourceRef(domain="crm", system="directus"),
        )
        await catalog.register_entity(entity)
        event = ChangeEvent.for_change(EventType.CREATED, entity)
        await catalog.record_event(event, event.topic)


async def state(tmp_path: Path, catalog_url: str) -> tuple[dict[str, object], list[str], int]:
    async with await CatalogService.open(catalog_url, migrate=False) as catalog:
        location = await catalog.get_entity_location("customer", "c-1")
        rows = await AuditLog(catalog).query(entity_id="c-1")
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    await bus.connect()
    try:
        lag = await bus.lag("nobody", ["crm.directus.entity_changed"])
    finally:
        await bus.aclose()
    published = sum(lag.get("crm.directus.entity_changed", {}).values())
    return location.attributes, [f"{r.channel}:{r.subject}:{r.action}" for r in rows], published


def test_erase_scrubs_the_catalog_publishes_and_audits(
    tmp_path: Path, sqlite_catalog_url: str
) -> None:
    config = node_yaml(tmp_path, sqlite_catalog_url)
    asyncio.run(seed(sqlite_catalog_url))
    args = ["governance", "erase", "-c", str(config), "--type", "customer", "--id", "c-1"]
    result = runner.invoke(app, [*args, "--by", "dpo@example.com"])
    assert result.exit_code == 0, result.output
    assert "erased customer c-1" in result.output
    attributes, audit, published = asyncio.run(state(tmp_path, sqlite_catalog_url))
    assert attributes == {}
    assert audit == ["cli:dpo@example.com:admin"]
    assert published == 1  # the DELETED event every node's cache consumer will see


def test_erase_errors(tmp_path: Path, sqlite_catalog_url: str) -> None:
    config = node_yaml(tmp_path, sqlite_catalog_url)
    asyncio.run(seed(sqlite_catalog_url))
    base = ["governance", "erase", "-c", str(config), "--type", "customer"]
    missing = runner.invoke(app, [*base, "--id", "c-404"])
    assert missing.exit_code == 1
    assert "c-404" in missing.output
    bad = runner.invoke(app, [*base, "--id", "c 1"])
    assert bad.exit_code == 2
    no_config = runner.invoke(app, [*base, "--id", "c-1", "-c", str(tmp_path / "none.yaml")])
    assert no_config.exit_code == 2
