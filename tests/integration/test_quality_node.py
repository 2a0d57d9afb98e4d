"""Data quality through a running node on the sample sources: a customer archived at its
source while an invoice still names it → the referential-integrity rule fails on the next
run, ``system.quality.failed`` is published (and a notification rule on ``quality_failed``
fills an inbox), and the API shows the failure; the on-ingest checks counted the captured
invoices."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from dictamesh.core.settings import DictaMeshSettings
from dictamesh.demo import DEMO_USER, demo_settings
from dictamesh.events.inspect import InspectableBus, tail
from dictamesh.node import MeshNode
from dictamesh.quality.evaluator import QUALITY_TOPIC
from dictamesh.sources.runner import run_sample_sources

pytestmark = pytest.mark.slow

RULES: dict[str, Any] = {
    "invoice": [
        {"id": "invoice-customer-exists", "type": "referential_integrity",
         "field": "customer_id", "references": "customer", "severity": "error"},
        {"id": "invoice-customer-set", "type": "not_null", "field": "customer_id"},
        {"id": "invoice-status", "type": "accepted_values", "field": "status",
         "values": ["draft", "open", "paid", "void", "cancelled"], "severity": "warn"},
    ],
    "invoice_item": [
        {"id": "item-product-exists", "type": "referential_integrity", "field": "product_id",
         "references": "product"},
    ],
}  # fmt: skip


async def eventually(check: Any, seconds: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, "not in time"
        await asyncio.sleep(0.1)


async def test_an_archived_customer_fails_referential_integrity(tmp_path: Path) -> None:
    async with run_sample_sources() as sources:
        raw = demo_settings(sources, tmp_path, poll=0.5).model_dump()
        raw["quality"] = {"rules": RULES, "interval_seconds": 3600}
        rule = {**raw["notifications"]["rules"][0], "name": "quality"}
        raw["notifications"]["rules"].append({**rule, "when": {"mesh_events": ["quality_failed"]}})
        settings = DictaMeshSettings.model_validate(raw)
        async with MeshNode(settings) as node:
            app = node.asgi_app()
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as http:
                catalog = node.catalog

                async def captured() -> bool:
                    invoices = await catalog.count_entities("invoice")
                    return invoices > 0 and await catalog.count_entities("customer") > 0

                await eventually(captured)

                async def all_pass() -> bool:  # capture goes on: customers may come later
                    run = await http.post("/api/v1/admin/quality/run", json={})
                    assert run.status_code == 200, run.text
                    return bool(run.json()["failed"] == 0)

                await eventually(all_pass, 60)

                async with httpx.AsyncClient(
                    base_url=sources.customers_url,
                    headers={"Authorization": f"Bearer {sources.customers_token}"},
                ) as cms:
                    (await cms.delete("/items/customers/1")).raise_for_status()

                async def archived() -> bool:
                    location = await catalog.get_entity_location("customer", "1")
                    return location.status == "deleted"

                await eventually(archived)
                run = await http.post(
                    "/api/v1/admin/quality/run", json={"rules": ["invoice-customer-exists"]}
                )
                assert run.status_code == 200, run.text
                (result,) = run.json()["results"]
                assert result["passed"] is False
                assert result["failing"] >= 1
                for invoice_id in result["sample"]:  # ids of invoices, nothing else
                    assert (await catalog.get_entity_location("invoice", invoice_id)).entity_id

                scores = (await http.get("/api/v1/quality")).json()["data_products"]
                invoice = next(s for s in scores if s["entity_type"] == "invoice")
                assert invoice["score"] < 1.0
                assert invoice["failed_errors"] == 1
                adapters = (await http.get("/api/v1/adapters")).json()["adapters"]
                listed = {a["entity_type"]: a["quality"] for a in adapters}
                assert listed["invoice"]["score"] == invoice["score"]
                assert listed["customer"] is None  # no rule for customers
                detail = (await http.get("/api/v1/quality/invoice")).json()
                failing = [r for r in detail["results"] if not r["passed"]]
                assert [r["rule_id"] for r in failing] == ["invoice-customer-exists"]
                assert len(detail["history"]) >= 4
                graphql = await http.post(
                    "/graphql",
                    json={"query": '{ dataQuality(entityType: "invoice") { score failedErrors'
                          " results { ruleId passed sample } } }"},
                )  # fmt: skip
                (product,) = graphql.json()["data"]["dataQuality"]
                assert product["failedErrors"] == 1
                # the same in the catalog subgraph (`serve --subgraph catalog`, ingest nodes)
                subgraph = node.asgi_app(graphql_schema=node.catalog_subgraph())
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=subgraph), base_url="http://testserver"
                ) as federated:
                    answer = await federated.post(
                        "/graphql", json={"query": "{ dataQuality { entityType score } }"}
                    )
                    scored = {
                        p["entityType"]: p["score"] for p in answer.json()["data"]["dataQuality"]
                    }
                    assert scored["invoice"] == product["score"]

                # the failure event, once (a transition), with ids and counts only
                assert isinstance(node.bus, InspectableBus)

                async def published() -> list[Any]:
                    messages, _ = await tail(node.bus, QUALITY_TOPIC, from_beginning=True)
                    return messages

                async def this_run() -> list[dict[str, Any]]:
                    bodies = [json.loads(m.value) for m in await published()]
                    return [b for b in bodies if b["run_id"] == run.json()["run_id"]]

                # (runs while the capture was still going may have failed and told it too)
                (body,) = await eventually(this_run)
                assert body["rule_id"] == "invoice-customer-exists"
                assert body["entity_type"] == "invoice"
                assert body["failing"] == result["failing"]
                assert set(body) >= {"tenant_id", "severity", "checked", "message"}

                # …and a notification rule on quality_failed acted on it
                async def noticed() -> bool:
                    assert node.notifications is not None
                    inbox = await node.notifications.service.inbox.inbox(DEMO_USER, limit=50)
                    return any(n.rule == "quality" for n in inbox)

                await eventually(noticed)

                # the on-ingest checks counted the captured invoices
                assert node.quality is not None
                assert node.quality.checker is not None
                await node.quality.flush()
                ingest = (await http.get("/api/v1/quality/invoice")).json()["ingest"]
                assert {r["rule_id"] for r in ingest} >= {"invoice-customer-set"}
