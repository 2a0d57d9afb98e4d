"""``/api/v1/quality`` and the admin run over a real SQLite catalog and the embedded bus:
bad input is a 4xx before anything runs; results show ids, never values."""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.quality_support import RULES, bad_data, good_data, ingest

from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.api import ApiContext, create_app
from dictamesh.catalog.service import CatalogService
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.quality.runtime import NodeQuality


async def test_scores_results_and_runs(sqlite_catalog: CatalogService, tmp_path: Path) -> None:
    settings = DictaMeshSettings.from_mapping(
        {"state_dir": str(tmp_path), "quality": {"rules": RULES}}
    )
    await ingest(sqlite_catalog, good_data() + bad_data())
    async with EmbeddedBus(tmp_path / "bus.sqlite3") as bus:
        quality = NodeQuality.build(settings, sqlite_catalog.database, bus, ingest=False)
        app = create_app(
            ApiContext(registry=AdapterRegistry(plugins=[]), catalog=sqlite_catalog,
                       quality=quality)
        )  # fmt: skip
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as http:
            assert (await http.get("/api/v1/quality")).json()["data_products"] == []
            bad = await http.post("/api/v1/admin/quality/run", json={"rules": ["nope"]})
            assert bad.status_code == 400
            assert "unknown quality rule" in bad.text
            assert await quality.store.runs("default") == []  # nothing ran
            extra = await http.post("/api/v1/admin/quality/run", json={"rule": ["x"]})
            assert extra.status_code in (400, 422)
            run = await http.post("/api/v1/admin/quality/run", json={})
            assert run.status_code == 200, run.text
            assert run.json()["failed"] == 7
            assert run.json()["failed_errors"] == 5
            assert "ada@example.com" not in run.text
            assert "not-an-email" not in run.text

            scores = (await http.get("/api/v1/quality")).json()["data_products"]
            assert [s["entity_type"] for s in scores] == ["customer", "invoice"]
            detail = await http.get("/api/v1/quality/invoice", params={"limit": 3})
            assert detail.status_code == 200
            body = detail.json()
            assert len(body["results"]) == 6
            assert len(body["history"]) == 3
            assert body["score"]["failed_errors"] == 3
            unknown = await http.get("/api/v1/quality/gadget")
            assert unknown.status_code == 404
            assert (await http.get("/api/v1/quality/Not-A-Type")).status_code in (400, 422)
            assert (
                await http.get("/api/v1/quality/invoice", params={"limit": 10_000})
            ).status_code in (400, 422)
            answer = await http.post(
                "/graphql",
                json={"query": "{ dataQuality { entityType score results { ruleId passed } } }"},
            )
            products = answer.json()["data"]["dataQuality"]
            assert [p["entityType"] for p in products] == ["customer", "invoice"]
