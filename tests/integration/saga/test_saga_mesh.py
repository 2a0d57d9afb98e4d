"""CreateInvoiceSaga on a whole mesh node over the real sample sources, through the REST API:
embedded (SQLite + the embedded bus) and on Kafka + PostgreSQL + Redis. What happened is
read at the sources (``/_admin/effects``, in the order the sources applied it)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dictamesh.demo import ProductionUrls, demo_settings
from dictamesh.node import MeshNode
from dictamesh.saga.events import saga_topic
from dictamesh.sources.runner import SampleSources, run_sample_sources
from tests.postgres_fixtures import owner_url

pytestmark = pytest.mark.slow

ORDER = {
    "customer_id": "1",
    "currency": "EUR",
    "items": [{"product_id": "prd_1001", "quantity": 2}, {"product_id": "prd_1002", "quantity": 1}],
}
START = "/api/v1/sagas/create-invoice"


@dataclass
class Mesh:
    node: MeshNode
    sources: SampleSources
    api: httpx.AsyncClient

    def headers(self, source: str) -> dict[str, str]:
        s = self.sources
        if source == "products":
            return {"X-API-Key": s.products_api_key}
        token = {"invoices": s.invoices_token, "payments": s.payments_token}[source]
        return {"Authorization": f"Bearer {token}"}

    def url(self, source: str) -> str:
        return str(getattr(self.sources, f"{source}_url"))

    async def admin(self, source: str, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient() as client:
            answer = await client.request(
                method, f"{self.url(source)}{path}", json=body, headers=self.headers(source)
            )
            answer.raise_for_status()
            return answer.json() if answer.content else None

    async def effects(self) -> list[tuple[str, str]]:
        """(kind, at) of every effect at the three writable sources, in the order applied."""
        found = []
        for source in ("products", "invoices", "payments"):
            for e in (await self.admin(source, "GET", "/_admin/effects"))["effects"]:
                found.append((e["at"], e["kind"]))
        return [(kind, at) for at, kind in sorted(found)]

    async def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for kind, _ in await self.effects():
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    async def saga(self, saga_id: str) -> dict[str, Any]:
        answer = await self.api.get(f"/api/v1/sagas/{saga_id}")
        answer.raise_for_status()
        return dict(answer.json())

    async def until(self, saga_id: str, check: Any, timeout: float = 30) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while not check(saga := await self.saga(saga_id)):  # noqa: ASYNC110 - a poll
                await asyncio.sleep(0.05)
        return saga


def _fast_breakers(settings: Any) -> Any:
    """Breakers that let a probe through after 1 s, so a source's outage ends fast."""
    adapters = [
        a.model_copy(
            update={"resilience": a.resilience.model_copy(update={"breaker_reset_seconds": 1.0})}
        )
        for a in settings.adapters
    ]
    return settings.model_copy(update={"adapters": adapters})


@pytest.fixture(params=["embedded", pytest.param("production", marks=[
    pytest.mark.postgres, pytest.mark.kafka, pytest.mark.redis])])  # fmt: skip
def backend(request: pytest.FixtureRequest) -> tuple[str, ProductionUrls | None]:
    """The backend, and the services' addresses on production (resolved outside the event
    loop: the PostgreSQL fixtures set the database up with their own)."""
    if request.param == "embedded":
        return "embedded", None
    catalog = request.getfixturevalue("empty_catalog_url")
    return "production", ProductionUrls(
        catalog_url=catalog,
        kafka_bootstrap=request.getfixturevalue("kafka_bootstrap"),
        redis_url=request.getfixturevalue("redis_url"),
        migration_url=owner_url(catalog),
    )


@pytest.fixture
async def mesh(backend: tuple[str, ProductionUrls | None], tmp_path: Path) -> AsyncIterator[Mesh]:
    kind, urls = backend
    async with run_sample_sources(products_rate_limit=None) as sources:
        settings = _fast_breakers(
            demo_settings(sources, tmp_path, kind, poll=30.0, urls=urls)  # type: ignore[arg-type]
        )
        async with MeshNode(settings) as node:
            transport = httpx.ASGITransport(app=node.asgi_app())
            async with httpx.AsyncClient(transport=transport, base_url="http://mesh") as api:
                yield Mesh(node, sources, api)


async def test_happy_path_with_one_saga_per_key_and_its_events(mesh: Mesh) -> None:
    stock = int(mesh.sources.products_store.live("prd_1001")["stock"])  # type: ignore[index]
    consumer = mesh.node.bus.consumer(
        f"test-{uuid.uuid4().hex[:6]}",
        [saga_topic("create_invoice", e) for e in ("started", "step_completed", "completed")],
    )
    headers = {"Idempotency-Key": "order-1", "Prefer": "wait=20"}
    first = await mesh.api.post(START, json=ORDER, headers=headers)
    again = await mesh.api.post(START, json=ORDER, headers=headers)
    assert first.status_code == 200, first.text
    assert again.status_code == 200
    saga = first.json()
    assert saga["status"] == "completed"
    assert again.json()["id"] == saga["id"]
    assert await mesh.counts() == {"reserve": 2, "create_invoice": 1, "charge": 1}
    assert int(mesh.sources.products_store.live("prd_1001")["stock"]) == stock - 2  # type: ignore[index]
    steps = [(s["step"], s["status"]) for s in saga["steps"]]
    assert steps[-1] == ("charge_customer", "completed")

    seen: list[str] = []
    async with consumer, asyncio.timeout(20):
        while len(seen) < 5:
            for message in await consumer.poll(timeout=0.5, max_records=100):
                body = json.loads(message.value)
                if body["saga_id"] == saga["id"]:
                    seen.append(body["event_type"])
    # one topic per event type: no order across them (each event carries occurred_at)
    assert sorted(seen) == ["completed", "started", "step_completed", "step_completed",
                            "step_completed"]  # fmt: skip


async def test_declined_payment_cancels_the_invoice_then_releases_the_stock(mesh: Mesh) -> None:
    await mesh.admin("payments", "POST", "/_admin/declines", {"customer_ids": ["1"]})
    answer = await mesh.api.post(START, json=ORDER, headers={"Prefer": "wait=20"})
    saga = answer.json()
    assert saga["status"] == "compensated", saga
    assert saga["failed_step"] == "charge_customer"
    assert saga["error"]["reason"] == "card_declined"
    kinds = [kind for kind, _ in await mesh.effects()]
    assert kinds == ["reserve", "reserve", "create_invoice", "cancel_invoice", "release", "release"]


async def test_bad_or_forbidden_requests_start_nothing(mesh: Mesh) -> None:
    bad = await mesh.api.post(START, json={**ORDER, "items": []})
    assert bad.status_code == 400
    unknown_field = await mesh.api.post(START, json={**ORDER, "coupon": "FREE"})
    assert unknown_field.status_code == 400
    listed = await mesh.api.get("/api/v1/sagas")
    assert listed.json()["sagas"] == []
    assert await mesh.counts() == {}


async def test_a_compensation_failing_for_a_while_is_retried_until_it_succeeds(
    mesh: Mesh,
) -> None:
    await mesh.admin("payments", "POST", "/_admin/declines", {"customer_ids": ["1"]})
    # the decline comes after a second: time to break the products API meanwhile
    await mesh.admin("payments", "POST", "/_admin/faults", {"mode": "latency", "delay_seconds": 1})
    started = await mesh.api.post(START, json=ORDER)
    saga_id = started.json()["saga_id"]
    await mesh.until(saga_id, lambda s: "create_invoice" in s["outputs"])
    await mesh.admin("products", "POST", "/_admin/faults", {"mode": "error500"})
    await mesh.until(
        saga_id,
        lambda s: any(
            x["step"] == "reserve_inventory" and x["status"] == "retrying" for x in s["steps"]
        ),
    )
    await mesh.admin("products", "DELETE", "/_admin/faults")
    done = await mesh.until(saga_id, lambda s: s["status"] != "compensating")
    assert done["status"] == "compensated"
    counts = await mesh.counts()
    assert counts["release"] == 2
    assert counts["cancel_invoice"] == 1


async def test_a_compensation_failing_for_good_needs_attention(mesh: Mesh) -> None:
    await mesh.admin("payments", "POST", "/_admin/declines", {"customer_ids": ["1"]})
    await mesh.admin("payments", "POST", "/_admin/faults", {"mode": "latency", "delay_seconds": 1})
    started = await mesh.api.post(START, json=ORDER)
    saga_id = started.json()["saga_id"]
    saga = await mesh.until(saga_id, lambda s: "create_invoice" in s["outputs"])
    invoice = saga["outputs"]["create_invoice"]["invoice_id"]
    # someone deletes the invoice at the shop: cancelling it is refused (404) for good
    async with httpx.AsyncClient() as client:
        gone = await client.delete(
            f"{mesh.url('invoices')}/api/invoices/{invoice}", headers=mesh.headers("invoices")
        )
        assert gone.status_code == 204
    done = await mesh.until(saga_id, lambda s: s["status"] not in ("running", "compensating"))
    assert done["status"] == "failed"
    assert done["error"]["compensating"] == "create_invoice"
    assert "release" not in await mesh.counts()  # stopped: nothing undone after the failure

    assert mesh.node.sagas is not None
    await mesh.node.sagas.refresh()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families((await mesh.api.get("/metrics")).text)
        for s in family.samples
    }
    saga = ("saga", "create_invoice")
    assert samples[("dictamesh_saga_needs_attention", (saga,))] == 1
    assert samples[("dictamesh_saga_completed_total", (("outcome", "failed"), saga))] == 1
