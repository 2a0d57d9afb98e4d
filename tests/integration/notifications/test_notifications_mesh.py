"""A whole mesh node notifying: a customer's e-mail changed at the source CMS (a real PATCH)
→ change event → rule → masked, rendered e-mail → a real SMTP server, exactly once. Embedded
(SQLite + the embedded bus) and on Kafka + PostgreSQL + Redis; plus the in-app inbox over
REST and a breaker opening as a mesh event."""

from __future__ import annotations

import asyncio
import email
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest

from dictamesh.core.settings import DictaMeshSettings
from dictamesh.demo import ProductionUrls, demo_settings
from dictamesh.node import MeshNode
from dictamesh.sources.runner import SampleSources, run_sample_sources
from tests.notification_receivers import AnyPortController, Mailbox
from tests.postgres_fixtures import owner_url

pytestmark = pytest.mark.slow

CUSTOMER = "1"


@pytest.fixture(params=["embedded", pytest.param("production", marks=[
    pytest.mark.postgres, pytest.mark.kafka, pytest.mark.redis])])  # fmt: skip
def backend(request: pytest.FixtureRequest) -> tuple[str, ProductionUrls | None]:
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
def smtp() -> Any:
    mailbox = Mailbox()
    controller = AnyPortController(mailbox, hostname="127.0.0.1", port=0, server_hostname="mx")
    controller.start()
    yield controller, mailbox
    controller.stop()


def with_notifications(settings: DictaMeshSettings, notifications: dict[str, Any]) -> Any:
    raw = settings.model_dump(mode="python")
    for adapter in raw["adapters"]:  # SecretStr values back to text for the re-validation
        for key in ("api_key", "webhook_secret"):
            if adapter.get(key) is not None:
                adapter[key] = adapter[key].get_secret_value()
    raw["catalog"]["url"] = settings.catalog.url.get_secret_value()
    if settings.catalog.migration_url is not None:
        raw["catalog"]["migration_url"] = settings.catalog.migration_url.get_secret_value()
    if settings.cache.redis_url is not None:
        raw["cache"]["redis_url"] = settings.cache.redis_url.get_secret_value()
    if settings.governance.masking_key is not None:
        raw["governance"]["masking_key"] = settings.governance.masking_key.get_secret_value()
    raw["notifications"] = notifications
    return DictaMeshSettings.from_mapping(raw)


async def patch_email(sources: SampleSources, new_email: str) -> None:
    async with httpx.AsyncClient(
        base_url=sources.customers_url,
        headers={"Authorization": f"Bearer {sources.customers_token}"},
    ) as cms:
        answer = await cms.patch(f"/items/customers/{CUSTOMER}", json={"email": new_email})
        answer.raise_for_status()


async def source_phone(sources: SampleSources) -> str:
    async with httpx.AsyncClient(
        base_url=sources.customers_url,
        headers={"Authorization": f"Bearer {sources.customers_token}"},
    ) as cms:
        answer = await cms.get(f"/items/customers/{CUSTOMER}")
        answer.raise_for_status()
        return str(answer.json()["data"]["phone"])


def parts(message: Message) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found[part.get_content_type()] = payload.decode(part.get_content_charset() or "utf-8")
    return found


@pytest.fixture
async def sources() -> AsyncIterator[SampleSources]:
    async with run_sample_sources(products_rate_limit=None) as running:
        yield running


async def test_a_source_patch_of_an_email_mails_once_with_masked_fields(
    backend: tuple[str, ProductionUrls | None],
    tmp_path: Path,
    smtp: Any,
    sources: SampleSources,
) -> None:
    kind, urls = backend
    controller, mailbox = smtp
    run = uuid.uuid4().hex[:8]
    new_email = f"ada.{run}@notify.example.com"
    # the bus may hold other runs' email changes (production): this run's only
    predicate = f"after.email == '{new_email}'"
    notifications = {
        "channels": {
            "mail": {"kind": "email", "host": "127.0.0.1", "port": controller.port,
                     "security": "none", "sender": "mesh@example.com"}
        },
        "recipients": {"users": {"alice": {"email": "alice@example.com"}}},
        "templates": {
            "email_changed": {
                "en": {
                    "subject": "Customer {{ entity_id }} has a new e-mail address",
                    "text": "new: {{ after.email }}\nphone: {{ after.phone }}\n"
                            "last name: {{ after.last_name }}",
                    "html": "<p>new: {{ after.email }}</p><p>phone: {{ after.phone }}</p>",
                }
            }
        },
        "rules": [
            {"name": "customer-email-changed", "to": ["alice"], "channels": ["mail"],
             "template": "email_changed",
             "when": {"topics": ["customers.*.entity_changed"], "event_types": ["updated"],
                      "changed_fields": ["email"], "predicate": predicate}}
        ],
    }  # fmt: skip
    settings = with_notifications(
        demo_settings(sources, tmp_path, kind, poll=0.5, urls=urls),  # type: ignore[arg-type]
        notifications,
    )
    phone = await source_phone(sources)
    async with MeshNode(settings) as node:
        assert node.notifications is not None
        await asyncio.sleep(1.5)  # the first poll has seen the customer as it is
        started = time.perf_counter()
        await patch_email(sources, new_email)
        async with asyncio.timeout(60):
            while not mailbox.received:  # noqa: ASYNC110 - the SMTP server's thread fills it
                await asyncio.sleep(0.02)
        latency = time.perf_counter() - started
        await asyncio.sleep(3)  # more polls, more events: still one message
        [received] = mailbox.received
        message = email.message_from_bytes(received.content)
        assert received.rcpt_tos == ["alice@example.com"]
        assert message["Subject"] == f"Customer {CUSTOMER} has a new e-mail address"
        body = parts(message)
        text, html = body["text/plain"], body["text/html"]
        assert f"new: {new_email}" in text  # the demo policy lets everyone read emails
        assert phone not in text  # phone numbers are masked for alice (no roles)
        assert phone[-4:] in text  # partially: *** *** 1234
        assert phone not in html
        [record] = await node.notifications.service.store.search()
        assert record.status.value == "sent"
        assert message["Message-ID"] == f"<{record.id}@dictamesh>"
        print(f"PATCH at the source -> e-mail received: {latency * 1000:.0f} ms ({kind})")


async def test_a_breaker_opening_lands_in_the_on_call_users_inbox_over_rest(
    tmp_path: Path, sources: SampleSources
) -> None:
    token = "ops-api-key-" + uuid.uuid4().hex
    notifications = {
        "channels": {"inbox": {"kind": "in_app"}},
        "recipients": {"users": {"ops": {}}},
        "rules": [
            {"name": "breaker", "to": ["ops"], "channels": ["inbox"], "priority": "critical",
             "when": {"mesh_events": ["breaker_opened"]}}
        ],
    }  # fmt: skip
    settings = with_notifications(demo_settings(sources, tmp_path, "embedded", poll=30), {})
    raw = settings.model_dump(mode="json")
    for adapter, configured in zip(raw["adapters"], settings.adapters, strict=True):
        adapter["resilience"]["breaker_failure_threshold"] = 2
        adapter["resilience"]["max_attempts"] = 1
        for key in ("api_key", "webhook_secret"):
            secret = getattr(configured, key)
            adapter[key] = secret.get_secret_value() if secret is not None else None
    raw["catalog"]["url"] = settings.catalog.url.get_secret_value()
    raw["governance"]["masking_key"] = "dictamesh-demo"
    raw["notifications"] = notifications
    raw["auth"] = {
        "mode": "optional",
        "api_keys": [{"sha256": hashlib.sha256(token.encode()).hexdigest(), "subject": "ops"}],
    }
    settings = DictaMeshSettings.from_mapping(raw)
    async with MeshNode(settings) as node:
        transport = httpx.ASGITransport(app=node.asgi_app())
        async with (
            httpx.AsyncClient(base_url=sources.products_url) as products,
            httpx.AsyncClient(transport=transport, base_url="http://node") as api,
        ):
            (await products.post("/_admin/faults", json={"mode": "error500"})).raise_for_status()
            query = {"query": '{ product(id: "prd_1003") { sku } }'}
            for _ in range(3):  # two failures open the breaker
                await api.post("/graphql", json=query)
            headers = {"X-API-Key": token}
            async with asyncio.timeout(30):
                while not (  # noqa: ASYNC110 - a poll over REST
                    inbox := (await api.get("/api/v1/notifications", headers=headers)).json()
                )["items"]:
                    await asyncio.sleep(0.1)
            [item] = inbox["items"]
            assert item["rule"] == "breaker"
            assert item["priority"] == "critical"
            assert "products" in (item["subject"] + item["text"]).lower()
            assert inbox["unread"] == 1
            marked = await api.post(f"/api/v1/notifications/{item['id']}/read", headers=headers)
            assert marked.json() == {"marked": [item["id"]]}
            anonymous = await api.get("/api/v1/notifications")
            assert anonymous.status_code == 401
