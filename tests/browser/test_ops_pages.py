"""The operations pages in a real browser (h4's fixtures: Debian's headless Chromium, the
sample-source mesh on PostgreSQL, a screenshot per test in ``.artifacts/browser``): adapters
with breaker and latency, a dead letter on the DLQ page for the admin and the page refused
to a reader, a schema diff showing the added field, a saga's steps, the inbox."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By

from dictamesh.core.models import EntitySchema, FieldSpec, FieldType
from tests.browser.conftest import Page, eventually
from tests.browser.mesh import ADMIN_KEY, READER_KEY, RunningMesh
from tests.browser.ops_support import INBOX_KEY, OpsSite, ops_site
from tests.unit.api.dlq_support import customer_event, send_to_dlq

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture(scope="module")
def ops(mesh: RunningMesh) -> Iterator[OpsSite]:
    with ops_site(mesh) as site:
        yield site


def log_in(page: Page, ops: OpsSite, key: str, route: str) -> None:
    """A fresh session (sessionStorage is per origin and tab) logged in with ``key``."""
    page.driver.get(f"{ops.url}/ui/")
    page.driver.execute_script("window.sessionStorage.clear()")
    page.driver.get(f"{ops.url}/ui/#/{route}")
    page.wait(lambda d: page.testid("login-api-key"), "the login form")
    page.testid("login-api-key")[0].send_keys(key)
    page.testid("login-submit")[0].click()
    page.wait(lambda d: not page.testid("login-submit"), "the login to be accepted")


def inside(element: Any, testid: str) -> str:
    return str(element.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]').text)


def test_adapters_page_shows_each_adapter_with_breaker_and_latency(
    page: Page, ops: OpsSite
) -> None:
    names = sorted(a.name for a in ops.mesh.node.registry.adapters())
    assert len(names) >= 3
    log_in(page, ops, READER_KEY, "adapters")

    def every_adapter_measured(_: Any) -> bool:
        rows = page.testid("adapter-row")
        if sorted(r.get_attribute("data-adapter") or "" for r in rows) != names:
            return False
        # latency shows once the first sync called each source (the page refreshes itself)
        return all(inside(r, "adapter-p95").endswith("ms") for r in rows)

    page.wait(every_adapter_measured, "every adapter with its latency", timeout=30)
    for row in page.testid("adapter-row"):
        assert inside(row, "adapter-breaker").startswith("closed")
        p50 = inside(row, "adapter-p50")
        assert p50.endswith(" ms")
        assert float(p50.split()[0]) >= 0
        assert "availability" in inside(row, "adapter-sla-availability")
    headers = [th.text for th in page.css("table.ops thead th")]
    assert {"Breaker", "p50", "p95", "p99", "Last sync"} <= set(headers)


def test_a_dead_letter_appears_for_the_admin_and_the_page_is_refused_to_a_reader(
    page: Page, ops: OpsSite
) -> None:
    topic = f"customers.ops{uuid.uuid4().hex[:6]}.entity_changed"
    bus: Any = ops.mesh.node.bus
    ops.mesh.run(lambda: send_to_dlq(bus, topic, customer_event("c-77", "dead77@example.com")))
    log_in(page, ops, ADMIN_KEY, "dlq")

    def our_topic(_: Any) -> Any:
        rows = [
            r for r in page.testid("dlq-topic") if r.get_attribute("data-topic") == f"{topic}.dlq"
        ]
        return rows[0] if rows else None

    row = page.wait(our_topic, "the new dead-letter topic")
    assert inside(row, "dlq-count") == "1"
    row.find_element(By.CSS_SELECTOR, '[data-testid="dlq-topic-link"]').click()
    letter = page.wait(lambda d: page.testid("dead-letter")[0:1], "the dead letter")[0]
    assert letter.get_attribute("data-key") == "c-77"
    assert "SerializationError" in letter.text
    assert "not a valid address" in letter.text

    log_in(page, ops, READER_KEY, "dlq")
    refused = page.wait(lambda d: page.testid("dlq-refused")[0:1], "the refusal")[0]
    assert "administrators" in refused.text
    assert not page.testid("dlq-topics")
    assert "c-77" not in page.driver.page_source


def test_a_schema_diff_between_two_registered_versions_shows_the_added_field(
    page: Page, ops: OpsSite
) -> None:
    entity_type = f"ops_probe_{uuid.uuid4().hex[:6]}"
    base = EntitySchema(
        entity_type=entity_type,
        domain="ops",
        fields=[FieldSpec(name="name", type=FieldType.STRING, required=True)],
    )
    grown = base.model_copy(
        update={"fields": [*base.fields, FieldSpec(name="loyalty_tier", type=FieldType.STRING)]}
    )
    catalog = ops.mesh.node.catalog
    ops.mesh.run(lambda: catalog.register_schema(base))
    ops.mesh.run(lambda: catalog.register_schema(grown))
    log_in(page, ops, READER_KEY, f"schemas/{entity_type}?from=1&to=2")
    change = page.wait(lambda d: page.testid("schema-change")[0:1], "the diff")[0]
    assert change.get_attribute("data-code") == "FIELD_ADDED"
    assert f"{entity_type}.loyalty_tier added" in change.text
    assert page.testid("subject-compatibility")[0].text == "BACKWARD"
    assert "compatible" in page.testid("diff-verdict")[0].text
    [subject] = [
        r for r in page.testid("schema-subject") if r.get_attribute("data-subject") == entity_type
    ]
    assert inside(subject, "schema-versions") == "1, 2"


def test_a_saga_started_through_the_api_shows_its_steps(page: Page, ops: OpsSite) -> None:
    item = {"product_id": "prd_1001", "quantity": 1}
    response = httpx.post(
        f"{ops.url}/api/v1/sagas/create-invoice",
        json={"customer_id": "1", "currency": "EUR", "items": [item]},
        headers={"X-API-Key": ADMIN_KEY, "Prefer": "wait=20"},
        timeout=30,
    )
    assert response.status_code in (200, 202), response.text
    saga_id = response.json()["saga_id"]
    log_in(page, ops, ADMIN_KEY, f"sagas/{saga_id}")
    page.wait(lambda d: len(page.testid("saga-step")) >= 2, "the saga's steps")
    shown = {s.get_attribute("data-step") for s in page.testid("saga-step")}
    recorded = httpx.get(
        f"{ops.url}/api/v1/sagas/{saga_id}", headers={"X-API-Key": ADMIN_KEY}, timeout=10
    ).json()
    assert shown <= {s["step"] for s in recorded["steps"]}
    assert page.testid("saga-id")[0].text == saga_id
    assert any(r.get_attribute("data-saga-id") == saga_id for r in page.testid("saga-row"))


def test_a_source_change_lands_in_the_inbox_and_is_marked_read(page: Page, ops: OpsSite) -> None:
    sources = ops.mesh.sources
    with httpx.Client(
        base_url=sources.customers_url,
        headers={"Authorization": f"Bearer {sources.customers_token}"},
    ) as cms:
        new_email = f"ops.{uuid.uuid4().hex[:8]}@example.com"
        cms.patch("/items/customers/1", json={"email": new_email}).raise_for_status()
    log_in(page, ops, INBOX_KEY, "notifications")
    note = page.wait(lambda d: page.testid("outbox-admin-only")[0:1], "the outbox note")[0]
    assert "administrators" in note.text  # not an admin
    page.wait(lambda d: page.testid("notification-mark-read"), "an unread notification", 30)

    button = '[data-testid="notification-mark-read"]'

    def unread_ids() -> list[str]:
        # fresh elements each time: the page re-renders its list every few seconds
        found = page.css(f'[data-testid="notification"]:has({button})')
        return [str(e.get_attribute("data-id")) for e in found]

    assert int(page.testid("inbox-unread")[0].text.split()[0]) >= 1
    message_id = unread_ids()[0]
    page.css(f'[data-testid="notification"][data-id="{message_id}"] {button}')[0].click()
    # by id, not by the unread count: another test's change may notify meanwhile
    page.wait(lambda d: message_id not in unread_ids(), "the message marked read")
    assert page.css(f'[data-testid="notification"][data-id="{message_id}"]')  # still listed

    log_in(page, ops, ADMIN_KEY, "notifications")
    page.wait(lambda d: page.testid("outbox-row"), "the outbox")
    statuses = {s.text for s in page.testid("outbox-status")}
    assert statuses & {"sent", "pending", "sending"}, statuses


def test_an_admin_aborts_a_failed_saga_from_its_page(page: Page, ops: OpsSite) -> None:
    s = ops.mesh.sources
    payments = httpx.Client(
        base_url=s.payments_url, headers={"Authorization": f"Bearer {s.payments_token}"}
    )
    invoices = httpx.Client(
        base_url=s.invoices_url, headers={"Authorization": f"Bearer {s.invoices_token}"}
    )
    with payments, invoices:
        # declined, slowly: time to delete the invoice, so cancelling it fails for good
        payments.post("/_admin/declines", json={"customer_ids": ["2"]}).raise_for_status()
        payments.post("/_admin/faults", json={"mode": "latency", "delay_seconds": 1})
        try:
            started = httpx.post(
                f"{ops.url}/api/v1/sagas/create-invoice",
                json={
                    "customer_id": "2",
                    "currency": "EUR",
                    "items": [{"product_id": "prd_1001", "quantity": 1}],
                },
                headers={"X-API-Key": ADMIN_KEY},
            )
            saga_id = started.json()["saga_id"]

            def saga() -> dict[str, Any]:
                answer = httpx.get(
                    f"{ops.url}/api/v1/sagas/{saga_id}", headers={"X-API-Key": ADMIN_KEY}
                )
                return dict(answer.json())

            invoice = eventually(lambda: saga()["outputs"].get("create_invoice"), "the invoice")
            invoices.delete(f"/api/invoices/{invoice['invoice_id']}").raise_for_status()
            eventually(lambda: saga()["status"] == "failed", "the saga to fail")
        finally:
            payments.delete("/_admin/faults")
            payments.delete("/_admin/declines")
    log_in(page, ops, READER_KEY, f"sagas/{saga_id}?status=failed")
    page.wait(lambda d: page.testid("saga-abort"), "the abort button")
    page.testid("saga-abort")[0].click()  # a reader: the API refuses, the page says so
    error = page.wait(lambda d: page.testid("error")[0:1], "the refusal")[0]
    assert "FORBIDDEN" in error.text
    log_in(page, ops, ADMIN_KEY, f"sagas/{saga_id}?status=failed")
    page.wait(lambda d: page.testid("saga-abort"), "the abort button")
    page.testid("saga-abort")[0].click()
    page.wait(lambda d: page.testid("saga-action-done"), "the abort to be done")
    assert saga()["status"] == "aborted"
    page.wait(lambda d: "aborted" in page.testid("saga-detail")[0].text, "the aborted state")
