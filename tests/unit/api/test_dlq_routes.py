"""``/api/v1/admin/dlq``: dead letters read over HTTP from the embedded bus and from Kafka
(marker ``kafka``), admin-only, tenant-filtered, payloads masked."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from tests.unit.api.conftest import Node
from tests.unit.api.dlq_support import customer_event, send_to_dlq

from dictamesh.auth import hash_api_key
from dictamesh.core.errors import EventBusError
from dictamesh.core.settings import AccessRule, AuthSettings
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.inspect import InspectableBus
from dictamesh.events.kafka import KafkaBus

KEYS = {
    "admin": ("dmk_admin_dlq_test_0123456789", ["admin"], None),
    "ops": ("dmk_ops_dlq_test_0123456789ab", ["ops"], None),  # admin routes, not clear PII
    "reader": ("dmk_reader_dlq_test_012345678", ["reader"], None),
    "acme_admin": ("dmk_acme_admin_dlq_test_01234", ["admin"], "acme"),
}
AUTH = AuthSettings(
    mode="required",
    api_keys=[
        {"sha256": hash_api_key(key), "subject": name, "roles": roles, "tenant": tenant}
        for name, (key, roles, tenant) in KEYS.items()
    ],
    rules=[AccessRule(path="/api/v1/admin", roles=["admin", "ops"])],
)


def as_(who: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[who][0]}


class DlqRoutes:
    """The same checks on every bus backend."""

    @pytest.fixture
    def topic(self) -> str:
        return f"customers.crm{uuid.uuid4().hex[:8]}.entity_changed"

    @pytest.fixture
    async def http(self, bus: InspectableBus) -> AsyncIterator[httpx.AsyncClient]:
        async with Node(bus=bus, auth=AUTH).client() as client:
            yield client

    async def test_topics_and_newest_letters_for_the_admin(
        self, bus: InspectableBus, http: httpx.AsyncClient, topic: str
    ) -> None:
        for i in range(3):
            await send_to_dlq(bus, topic, customer_event(f"c-{i}", f"c{i}@example.com"))
        listed = (await http.get("/api/v1/admin/dlq", headers=as_("admin"))).json()
        [row] = [t for t in listed["topics"] if t["topic"] == f"{topic}.dlq"]
        assert row["source_topic"] == topic
        assert row["messages"] == 3
        assert sum(row["end_offsets"].values()) == 3
        assert row["replayed"] == 0
        response = await http.get(f"/api/v1/admin/dlq/{topic}.dlq?limit=2", headers=as_("admin"))
        assert response.status_code == 200, response.text
        body = response.json()
        letters = body["dead_letters"]
        assert [d["key"] for d in letters] == ["c-2", "c-1"]  # newest first, limited
        first = letters[0]
        assert first["error_type"].endswith("SerializationError")
        assert first["error"]
        assert "not a valid address" in first["error"]
        assert first["original_topic"] == topic
        assert first["attempts"] == 3
        assert first["headers"]["dlq-original-topic"] == topic
        assert first["payload_size"] > 0
        assert first["replayed"] is False
        assert first["event"]["entity_id"] == "c-2"
        assert first["event"]["payload"]["after"]["email"] == "c2@example.com"  # admin: clear

    async def test_payloads_are_masked_for_an_operator_without_clear_access(
        self, bus: InspectableBus, http: httpx.AsyncClient, topic: str
    ) -> None:
        await send_to_dlq(bus, topic, customer_event("c-9", "secret9@example.com"))
        response = await http.get(f"/api/v1/admin/dlq/{topic}.dlq", headers=as_("ops"))
        assert response.status_code == 200
        assert "secret9@example.com" not in response.text
        [letter] = response.json()["dead_letters"]
        assert letter["event"]["payload"]["after"]["email"] != "secret9@example.com"
        assert letter["event"]["payload"]["after"]["name"] == "Customer c-9"

    async def test_undecodable_payloads_are_never_shown(
        self, bus: InspectableBus, http: httpx.AsyncClient, topic: str
    ) -> None:
        await send_to_dlq(bus, topic, customer_event("c-1", "x@example.com"))
        await bus.publish(f"{topic}.dlq", b"card=4111111111111111", key="raw")
        response = await http.get(f"/api/v1/admin/dlq/{topic}.dlq", headers=as_("admin"))
        assert "4111111111111111" not in response.text
        raw = response.json()["dead_letters"][0]
        assert raw["key"] == "raw"
        assert raw["event"] is None
        assert raw["undecodable"]
        assert raw["payload_size"] == len(b"card=4111111111111111")
        assert raw["original_topic"] == topic  # no dlq-* headers: named by its topic

    async def test_a_tenant_bound_admin_sees_only_its_tenants_letters(
        self, bus: InspectableBus, http: httpx.AsyncClient, topic: str
    ) -> None:
        await send_to_dlq(bus, topic, customer_event("c-1", "a@acme.io", "acme"), tenant="acme")
        await send_to_dlq(bus, topic, customer_event("c-2", "b@globex.io", "globex"))
        response = await http.get(f"/api/v1/admin/dlq/{topic}.dlq", headers=as_("acme_admin"))
        body = response.json()
        assert [d["key"] for d in body["dead_letters"]] == ["c-1"]
        assert body["withheld"] == 1
        assert "globex" not in response.text

    async def test_readers_are_refused_and_bad_input_is_a_4xx(
        self, bus: InspectableBus, http: httpx.AsyncClient, topic: str
    ) -> None:
        await send_to_dlq(bus, topic, customer_event("c-1", "x@example.com"))
        for path in ("/api/v1/admin/dlq", f"/api/v1/admin/dlq/{topic}.dlq"):
            assert (await http.get(path, headers=as_("reader"))).status_code == 403
            assert (await http.get(path)).status_code == 401
        checks = {
            f"/api/v1/admin/dlq/{topic}": 400,  # not a .dlq topic
            f"/api/v1/admin/dlq/{topic}.dlq?limit=0": 400,
            f"/api/v1/admin/dlq/{topic}.dlq?limit=101": 400,
            f"/api/v1/admin/dlq/{topic}.dlq?limit=x": 400,
            "/api/v1/admin/dlq/nope.entity_changed.dlq": 404,
            "/api/v1/admin/dlq/" + "a" * 300 + ".dlq": 400,
        }
        for path, status in checks.items():
            response = await http.get(path, headers=as_("admin"))
            assert response.status_code == status, (path, response.text)
            assert response.json()["error"]["code"] in ("VALIDATION_ERROR", "NOT_FOUND")


class TestEmbeddedBus(DlqRoutes):
    @pytest.fixture
    async def bus(self) -> AsyncIterator[InspectableBus]:
        async with EmbeddedBus(":memory:") as bus:
            yield bus


@pytest.mark.kafka
class TestKafka(DlqRoutes):
    @pytest.fixture
    async def bus(self, kafka_bootstrap: str) -> AsyncIterator[InspectableBus]:
        bus = KafkaBus(kafka_bootstrap, client_id="dictamesh-dlq-api", topic_specs=())
        try:
            await bus.connect()
        except EventBusError as exc:
            await bus.aclose()
            if os.environ.get("CI"):
                pytest.fail(f"Kafka not reachable: {exc.message}")
            pytest.skip(f"Kafka not reachable at {kafka_bootstrap}")
        try:
            yield bus
        finally:
            await bus.aclose()


async def test_no_bus_no_routes() -> None:
    async with Node().client() as http:
        assert (await http.get("/api/v1/admin/dlq")).status_code == 404
