"""The operations pages in a real browser (headless Chromium from Debian, chromedriver):
adapters with breaker and latency, a dead letter on the DLQ page for the admin and the page
refused to a reader, a schema diff showing the added field, a saga's steps. Screenshots go
to ``$DICTAMESH_BROWSER_ARTIFACTS`` (default ``.artifacts/browser``)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from dictamesh.core.models import EntitySchema, FieldSpec, FieldType
from tests.browser.ops_support import ADMIN_KEY, READER_KEY, OpsMesh, ops_mesh
from tests.unit.api.dlq_support import customer_event, send_to_dlq

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 15.0
ARTIFACTS = Path(os.environ.get("DICTAMESH_BROWSER_ARTIFACTS", ".artifacts/browser"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsMesh]:
    with ops_mesh(tmp_path_factory.mktemp("ops-mesh")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        message = "chromium and chromium-driver (Debian packages) are needed"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"ops-{name}.png"))


def wait_for(driver: WebDriver, testid: str, timeout: float = WAIT) -> WebElement:
    locator = (By.CSS_SELECTOR, f'[data-testid="{testid}"]')
    element: WebElement = WebDriverWait(driver, timeout).until(
        ec.visibility_of_element_located(locator)
    )
    return element


def all_of(driver: WebDriver, testid: str) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def log_in(driver: WebDriver, mesh: OpsMesh, key: str, route: str) -> None:
    """A fresh session (sessionStorage is per tab) logged in with ``key``, on ``route``."""
    driver.get(f"{mesh.url}/ui/")
    driver.execute_script("window.sessionStorage.clear()")
    driver.get(f"{mesh.url}/ui/#/{route}")
    wait_for(driver, "login-api-key").send_keys(key)
    wait_for(driver, "login-submit").click()
    driver.execute_script(f"window.location.hash = '#/{route}'")


def until(driver: WebDriver, predicate: object, timeout: float = WAIT) -> None:
    WebDriverWait(driver, timeout).until(lambda d: predicate(d))  # type: ignore[operator]


def test_adapters_page_shows_each_adapter_with_breaker_and_latency(
    mesh: OpsMesh, browser: WebDriver
) -> None:
    names = sorted(a.name for a in mesh.node.registry.adapters())
    assert len(names) >= 3
    log_in(browser, mesh, ADMIN_KEY, "adapters")
    wait_for(browser, "adapters-table")

    def every_adapter_measured(driver: WebDriver) -> bool:
        rows = all_of(driver, "adapter-row")
        if sorted(r.get_attribute("data-adapter") or "" for r in rows) != names:
            return False
        # latency appears once the first sync called each source (auto-refresh picks it up)
        return all(
            r.find_element(By.CSS_SELECTOR, '[data-testid="adapter-p95"]').text.endswith("ms")
            for r in rows
        )

    until(browser, every_adapter_measured, timeout=30)
    for row in all_of(browser, "adapter-row"):
        breaker = row.find_element(By.CSS_SELECTOR, '[data-testid="adapter-breaker"]').text
        assert breaker.startswith("closed"), breaker
        p50 = row.find_element(By.CSS_SELECTOR, '[data-testid="adapter-p50"]').text
        assert p50.endswith(" ms")
        assert float(p50.split()[0]) >= 0
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "table.ops thead th")]
    assert "p99" in headers
    assert "Breaker" in headers
    shot(browser, "adapters")


def test_a_dead_letter_appears_for_the_admin_and_the_page_is_refused_to_a_reader(
    mesh: OpsMesh, browser: WebDriver
) -> None:
    topic = f"customers.ops{uuid.uuid4().hex[:6]}.entity_changed"
    bus = mesh.node.bus
    mesh.run(send_to_dlq(bus, topic, customer_event("c-77", "dead77@example.com")))  # type: ignore[arg-type]
    log_in(browser, mesh, ADMIN_KEY, "dlq")
    until(
        browser,
        lambda d: any(
            r.get_attribute("data-topic") == f"{topic}.dlq" for r in all_of(d, "dlq-topic")
        ),
    )
    [row] = [
        r for r in all_of(browser, "dlq-topic") if r.get_attribute("data-topic") == f"{topic}.dlq"
    ]
    assert row.find_element(By.CSS_SELECTOR, '[data-testid="dlq-count"]').text == "1"
    row.find_element(By.CSS_SELECTOR, '[data-testid="dlq-topic-link"]').click()
    letter = wait_for(browser, "dead-letter")
    assert letter.get_attribute("data-key") == "c-77"
    assert "SerializationError" in letter.text
    assert "not a valid address" in letter.text
    shot(browser, "dlq-admin")

    log_in(browser, mesh, READER_KEY, "dlq")
    refused = wait_for(browser, "dlq-refused")
    assert "administrators" in refused.text
    assert not all_of(browser, "dlq-topics")
    assert "c-77" not in browser.page_source
    shot(browser, "dlq-reader")


def test_a_schema_diff_between_two_registered_versions_shows_the_added_field(
    mesh: OpsMesh, browser: WebDriver
) -> None:
    base = EntitySchema(
        entity_type="ops_probe",
        domain="ops",
        fields=[FieldSpec(name="name", type=FieldType.STRING, required=True)],
    )
    grown = base.model_copy(
        update={"fields": [*base.fields, FieldSpec(name="loyalty_tier", type=FieldType.STRING)]}
    )
    mesh.run(mesh.node.catalog.register_schema(base))
    mesh.run(mesh.node.catalog.register_schema(grown))
    log_in(browser, mesh, READER_KEY, "schemas/ops_probe?from=1&to=2")
    change = wait_for(browser, "schema-change")
    assert change.get_attribute("data-code") == "FIELD_ADDED"
    assert "ops_probe.loyalty_tier added" in change.text
    assert wait_for(browser, "subject-compatibility").text == "BACKWARD"
    assert "compatible" in wait_for(browser, "diff-verdict").text
    [subject] = [
        r
        for r in all_of(browser, "schema-subject")
        if r.get_attribute("data-subject") == "ops_probe"
    ]
    assert subject.find_element(By.CSS_SELECTOR, '[data-testid="schema-versions"]').text == "1, 2"
    shot(browser, "schema-diff")


def test_a_saga_started_through_the_api_shows_its_steps(mesh: OpsMesh, browser: WebDriver) -> None:
    order = {
        "customer_id": "1",
        "currency": "EUR",
        "items": [{"product_id": "prd_1001", "quantity": 1}],
    }
    response = httpx.post(
        f"{mesh.url}/api/v1/sagas/create-invoice",
        json=order,
        headers={"X-API-Key": ADMIN_KEY, "Prefer": "wait=20"},
        timeout=30,
    )
    assert response.status_code in (200, 202), response.text
    saga_id = response.json()["saga_id"]
    log_in(browser, mesh, ADMIN_KEY, f"sagas/{saga_id}")
    wait_for(browser, "saga-detail")
    until(browser, lambda d: len(all_of(d, "saga-step")) >= 2)
    steps = {s.get_attribute("data-step") for s in all_of(browser, "saga-step")}
    recorded = httpx.get(
        f"{mesh.url}/api/v1/sagas/{saga_id}", headers={"X-API-Key": ADMIN_KEY}, timeout=10
    ).json()
    assert steps <= {s["step"] for s in recorded["steps"]}
    assert len(steps) >= 2
    assert wait_for(browser, "saga-id").text == saga_id
    assert any(r.get_attribute("data-saga-id") == saga_id for r in all_of(browser, "saga-row"))
    shot(browser, "saga-steps")


def test_a_source_change_lands_in_the_inbox_and_is_marked_read(
    mesh: OpsMesh, browser: WebDriver
) -> None:
    new_email = f"ops.{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(
        base_url=mesh.sources.customers_url,
        headers={"Authorization": f"Bearer {mesh.sources.customers_token}"},
    ) as cms:
        cms.patch("/items/customers/1", json={"email": new_email}).raise_for_status()
    log_in(browser, mesh, READER_KEY, "notifications")
    assert "administrators" in wait_for(browser, "outbox-admin-only").text  # a reader
    until(browser, lambda d: bool(all_of(d, "notification-mark-read")), timeout=30)
    before = wait_for(browser, "inbox-unread").text
    assert int(before.split()[0]) >= 1
    all_of(browser, "notification-mark-read")[0].click()
    until(
        browser,
        lambda d: int(wait_for(d, "inbox-unread").text.split()[0]) == int(before.split()[0]) - 1,
    )
    shot(browser, "inbox")

    log_in(browser, mesh, ADMIN_KEY, "notifications")
    until(browser, lambda d: bool(all_of(d, "outbox-row")))
    statuses = {r.text for r in all_of(browser, "outbox-status")}
    assert statuses & {"sent", "pending", "sending"}, statuses
    shot(browser, "outbox")
