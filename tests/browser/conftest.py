"""Fixtures of the browser tests: Debian's headless Chromium driven through
/usr/bin/chromedriver (selenium never runs selenium-manager, so nothing is downloaded), and
one running mesh for the whole suite (``tests/browser/mesh.py``).

Without chromium or chromedriver the tests skip, and fail in CI (``CI`` set) like a missing
server: ``scripts/browser.sh`` installs both. Each test leaves a screenshot in
``.artifacts/browser/<test>.png`` (CI keeps the folder).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.selenium_manager import SeleniumManager
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from tests.browser.mesh import ADMIN_KEY, MeshThread, RunningMesh
from tests.postgres_fixtures import truncate_catalog

CHROMIUM = Path(os.environ.get("DICTAMESH_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("DICTAMESH_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "browser"
WAIT = 20.0
#: the node and the sample sources (tests may serve more than one app on this machine)
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
T = TypeVar("T")


def _require_chromium() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        message = f"{', '.join(missing)} not installed: run `bash scripts/browser.sh`"
        if os.environ.get("CI"):
            pytest.fail(message + " — CI must run the browser tests")
        pytest.skip(message)


@pytest.fixture(scope="package")
def browser() -> Iterator[WebDriver]:
    _require_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--window-size=1280,800",
                     "--disable-gpu", "--disable-dev-shm-usage", "--lang=en-US",
                     # nothing but the node: no component, translation or hint downloads
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-features=Translate,OptimizationHints,MediaRouter"):  # fmt: skip
        options.add_argument(argument)
    # the console (CSP violations, errors) and the network answers the page received
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    mp = pytest.MonkeyPatch()
    mp.setenv("SE_OFFLINE", "true")

    def no_manager(self: Any, args: list[str]) -> dict[str, str]:
        raise AssertionError(f"selenium-manager must not run here (asked for {args})")

    mp.setattr(SeleniumManager, "binary_paths", no_manager)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()
        mp.undo()


@pytest.fixture(scope="package")
def mesh(
    migrated_postgres: str, postgres_owner_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningMesh]:
    _require_chromium()  # no mesh to start when the tests will skip anyway
    asyncio.run(truncate_catalog(postgres_owner_url))
    thread = MeshThread(tmp_path_factory.mktemp("browser-mesh"), migrated_postgres,
                        postgres_owner_url)  # fmt: skip
    running = thread.start()
    try:
        yield running
    finally:
        thread.stop()


def api(mesh: RunningMesh, path: str, key: str = ADMIN_KEY, **params: Any) -> Any:
    response = httpx.get(f"{mesh.url}{path}", params=params, headers={"X-API-Key": key})
    response.raise_for_status()
    return response.json()


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """``probe()``'s first truthy answer, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = probe()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


class Page:
    """The browser on the mesh's UI, with the waits and checks every test needs."""

    def __init__(self, driver: WebDriver, mesh: RunningMesh) -> None:
        self.driver = driver
        self.mesh = mesh
        self._events: list[dict[str, Any]] = []

    def open(self, route: str = "") -> None:
        self.driver.get(f"{self.mesh.url}/ui/{route}")

    def wait(self, condition: Callable[[WebDriver], T], what: str, timeout: float = WAIT) -> T:
        try:
            # the UI re-renders as answers arrive: an element read a moment ago may be gone
            return WebDriverWait(
                self.driver,
                timeout,
                poll_frequency=0.1,
                ignored_exceptions=(StaleElementReferenceException,),
            ).until(condition)
        except TimeoutException:
            raise AssertionError(f"timed out waiting for {what}") from None

    def css(self, selector: str) -> list[Any]:
        return list(self.driver.find_elements("css selector", selector))

    def testid(self, name: str) -> list[Any]:
        return self.css(f'[data-testid="{name}"]')

    def devtools(self) -> list[dict[str, Any]]:
        """Every DevTools event of this test so far (Chrome's performance log, read once)."""
        self._events.extend(
            json.loads(e["message"])["message"] for e in self.driver.get_log("performance")
        )
        return self._events

    def requested_urls(self) -> list[str]:
        return [
            m["params"]["request"]["url"]
            for m in self.devtools()
            if m["method"] == "Network.requestWillBeSent"
        ] + [
            m["params"]["url"] for m in self.devtools() if m["method"] == "Network.webSocketCreated"
        ]

    def network_bodies(self) -> list[str]:
        """The body of every answer the page received so far (while the page still has it)."""
        bodies = []
        for message in self.devtools():
            if message["method"] != "Network.loadingFinished":
                continue
            request_id = message["params"]["requestId"]
            try:
                body = self.driver.execute_cdp_cmd(
                    "Network.getResponseBody", {"requestId": request_id}
                )
            except Exception:  # preflights, redirects and evicted answers have no body
                continue
            bodies.append(body.get("body", ""))
        return bodies

    def console_errors(self) -> list[str]:
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.fixture
def page(browser: WebDriver, mesh: RunningMesh, request: pytest.FixtureRequest) -> Iterator[Page]:
    browser.get(f"{mesh.url}/ui/")
    browser.execute_script("window.sessionStorage.clear()")
    browser.get_log("performance")  # start each test with empty logs
    browser.get_log("browser")
    ui = Page(browser, mesh)
    try:
        yield ui
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{request.node.name}.png"
        browser.save_screenshot(str(shot))
        print(f"screenshot: {shot}")
        # the strict CSP holds: nothing the bundle does was refused
        violations = [m for m in ui.console_errors() if "Content Security Policy" in m]
        assert violations == []
        # offline: the page asked nothing of any other machine (no CDN, no font service)
        elsewhere = [
            u
            for u in ui.requested_urls()
            if not u.startswith("data:") and urlsplit(u).hostname not in LOOPBACK
        ]
        assert elsewhere == []
