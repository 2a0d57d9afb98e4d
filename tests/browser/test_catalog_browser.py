"""The browser UI in a real browser (headless Chromium) against a real node with the sample
sources, auth on and a masking policy (``tests/browser/mesh.py``): search with a typo,
masking per caller, the relationship graph, the live timeline, keyboard-only use."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import Page, api, eventually
from tests.browser.mesh import ADMIN_KEY, READER_KEY, RunningMesh

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

CUSTOMER = "1"


def neighbourhood(mesh: RunningMesh) -> set[str]:
    """customer → invoices → items → products of customer 1, from the sources' own data."""
    invoices = [i for i in mesh.sources.invoices_store.all() if i["customer_id"] == CUSTOMER]
    assert invoices
    expected = {f"customer/{CUSTOMER}"}
    for invoice in invoices:
        expected.add(f"invoice/{invoice['id']}")
        for item in invoice["line_items"]:
            expected.add(f"invoice_item/{invoice['id']}:{item['id']}")
            expected.add(f"product/{item['product_id']}")
    return expected


@pytest.fixture(scope="module")
def customer(mesh: RunningMesh) -> dict[str, Any]:
    """Customer 1 as its source holds it, once the node has ingested its neighbourhood."""
    record = mesh.sources.customers_store.get(1) or mesh.sources.customers_store.get(CUSTOMER)
    assert record is not None
    expected = neighbourhood(mesh)

    def ingested() -> bool:
        graph = api(mesh, f"/api/v1/entities/customer/{CUSTOMER}/graph", depth=3)
        return expected <= {f"{n['type']}/{n['id']}" for n in graph["nodes"]}

    eventually(ingested, "the sample sources' data in the catalog")
    return record


def login(page: Page, key: str) -> None:
    page.wait(lambda d: page.testid("login-api-key"), "the login form")
    field = page.testid("login-api-key")[0]
    field.clear()
    field.send_keys(key)
    page.testid("login-submit")[0].click()
    page.wait(lambda d: not page.testid("login-submit"), "the login to be accepted")


def misspelled(name: str) -> str:
    """``name`` with its last two letters swapped (Torvalds → Torvadls)."""
    return name[:-2] + name[-1] + name[-2]


def test_search_finds_a_customer_by_a_misspelled_name(page: Page, customer: dict[str, Any]) -> None:
    page.open()
    login(page, READER_KEY)
    query = f"{customer['first_name']} {misspelled(customer['last_name'])}"
    box = page.testid("search-input")[0]
    box.send_keys(query)
    assert query.lower() != f"{customer['first_name']} {customer['last_name']}".lower()

    def hit() -> Any:
        found = [
            r
            for r in page.testid("search-result")
            if r.get_attribute("data-entity-type") == "customer"
            and r.get_attribute("data-entity-id") == CUSTOMER
        ]
        return found[0] if found else None

    result = page.wait(lambda d: hit(), f"customer {CUSTOMER} among the results for {query!r}")
    assert "#/search?q=" in page.driver.current_url  # the route holds the query (shareable)
    result.click()
    page.wait(lambda d: page.testid("attribute"), "the entity page")
    assert page.driver.current_url.endswith(f"#/entity/customer/{CUSTOMER}")


def attributes(page: Page) -> dict[str, tuple[str, str]]:
    """field → (shown text, data-masked) of the entity page's attribute rows."""
    rows = page.wait(lambda d: page.testid("attribute"), "the attribute rows")
    return {
        row.get_attribute("data-field"): (
            row.find_element("css selector", "td").text,
            row.get_attribute("data-masked"),
        )
        for row in rows
    }


def test_masked_for_the_reader_clear_for_the_admin(page: Page, customer: dict[str, Any]) -> None:
    email, phone = customer["email"], customer["phone"]
    page.open(f"#/entity/customer/{CUSTOMER}")
    # a wrong key is refused with the node's message, and nothing is shown
    login_field = page.wait(lambda d: page.testid("login-api-key"), "the login form")[0]
    login_field.send_keys("not-a-key")
    page.testid("login-submit")[0].click()
    error = page.wait(lambda d: page.testid("error"), "the refusal")[0]
    assert "credential" in error.text.lower() or "api key" in error.text.lower()

    login(page, READER_KEY)
    shown = attributes(page)
    assert shown["email"][1] == "true"
    assert shown["phone"][1] == "true"
    assert email not in shown["email"][0]
    assert shown["first_name"] == (customer["first_name"], "false")  # clear for readers
    assert shown["country"][1] == "false"
    page.wait(lambda d: page.testid("timeline-event"), "the timeline")
    # the clear values reached this browser nowhere: not the DOM, not one network answer
    source = page.driver.page_source
    bodies = page.network_bodies()
    assert len(bodies) >= 3  # the entity, its events, its graph... were read
    for secret in (email, phone):
        assert secret not in source
        assert not [b for b in bodies if secret in b]
    assert customer["first_name"] in source

    page.testid("logout")[0].click()
    login(page, ADMIN_KEY)
    shown = attributes(page)
    assert shown["email"] == (email, "false")
    assert shown["phone"] == (phone, "false")


def graph_ids(page: Page) -> set[str]:
    ids = page.driver.execute_script(
        "const cy = window.__dictameshGraph; return cy ? cy.nodes().map(n => n.id()) : null"
    )
    return set(ids or [])


def test_the_graph_draws_the_customers_neighbourhood(
    page: Page, mesh: RunningMesh, customer: dict[str, Any]
) -> None:
    expected = neighbourhood(mesh)
    invoices = [i for i in mesh.sources.invoices_store.all() if i["customer_id"] == CUSTOMER]
    page.open(f"#/graph/customer/{CUSTOMER}?depth=3")
    login(page, READER_KEY)
    drawn = page.wait(
        lambda d: expected <= graph_ids(page) and graph_ids(page), "the neighbourhood drawn"
    )
    assert expected <= drawn
    cy_edges = page.driver.execute_script(
        "return window.__dictameshGraph.edges().map(e => [e.source().id(), e.target().id()])"
    )
    first = invoices[0]
    assert [f"invoice/{first['id']}", f"customer/{CUSTOMER}"] in cy_edges
    assert page.testid("graph")[0].size["height"] > 300
    legend = page.testid("graph-legend")[0].text
    assert "customers" in legend
    assert "products" in legend
    # domains get different colours
    colours = page.driver.execute_script(
        "const cy = window.__dictameshGraph;"
        f"return [cy.$id('customer/{CUSTOMER}').data('colour'),"
        f" cy.$id('product/{first['line_items'][0]['product_id']}').data('colour')]"
    )
    assert colours[0] != colours[1]
    # a click on a node expands it: an invoice of another customer's product joins
    before = len(drawn)
    product = f"product/{first['line_items'][0]['product_id']}"
    page.driver.execute_script(f"window.__dictameshGraph.$id('{product}').emit('tap')")
    page.wait(lambda d: len(graph_ids(page)) > before, "the expanded node's neighbours")


def test_a_source_change_appears_in_the_timeline_without_reload(
    page: Page, mesh: RunningMesh, customer: dict[str, Any]
) -> None:
    page.open(f"#/entity/customer/{CUSTOMER}")
    login(page, ADMIN_KEY)
    page.wait(lambda d: page.testid("timeline-event"), "the timeline")
    page.wait(
        lambda d: page.testid("timeline-mode")[0].get_attribute("data-mode") == "subscription",
        "the live subscription",
    )
    before = [e.get_attribute("data-event-id") for e in page.testid("timeline-event")]
    page.driver.execute_script("window.__notReloaded = true")
    new_email = f"browser.{uuid.uuid4().hex[:8]}@example.com"
    response = httpx.patch(
        f"{mesh.sources.customers_url}/items/customers/{CUSTOMER}",
        json={"email": new_email},
        headers={"Authorization": f"Bearer {mesh.sources.customers_token}"},
    )
    response.raise_for_status()
    started = time.monotonic()
    top = page.wait(
        lambda d: (
            (events := page.testid("timeline-event"))
            and events[0].get_attribute("data-event-id") not in before
            and events[0]
        ),
        "the change at the top of the timeline",
        timeout=30,
    )
    print(f"source change → timeline: {time.monotonic() - started:.2f} s")
    assert "email" in top.text
    assert page.driver.execute_script("return window.__notReloaded === true")
    # the attributes follow the change too
    page.wait(lambda d: attributes(page)["email"][0] == new_email, "the new email shown")


def press(page: Page, *keys: str) -> None:
    for key in keys:
        ActionChains(page.driver).send_keys(key).perform()


def test_keyboard_only_search_to_entity(page: Page, customer: dict[str, Any]) -> None:
    page.open()
    login(page, READER_KEY)
    page.driver.execute_script("document.activeElement.blur()")
    for _ in range(5):  # the brand link, then the search box
        press(page, Keys.TAB)
        if page.driver.switch_to.active_element.get_attribute("data-testid") == "search-input":
            break
    assert page.driver.switch_to.active_element.get_attribute("data-testid") == "search-input"
    press(page, f"{customer['first_name']} {customer['last_name']}")
    page.wait(lambda d: page.testid("search-result"), "results")
    press(page, Keys.ARROW_DOWN, Keys.ARROW_DOWN, Keys.ARROW_UP)
    focused = page.driver.switch_to.active_element
    assert focused.get_attribute("data-testid") == "search-result"
    assert focused == page.testid("search-result")[0]
    target = (focused.get_attribute("data-entity-type"), focused.get_attribute("data-entity-id"))
    press(page, Keys.ENTER)
    page.wait(lambda d: page.testid("attribute"), "the entity page")
    assert page.driver.current_url.endswith(f"#/entity/{target[0]}/{target[1]}")
    # focus is visible: the outline of :focus-visible is drawn
    press(page, Keys.TAB)
    outline = page.driver.execute_script(
        "return getComputedStyle(document.activeElement).outlineStyle"
    )
    assert outline != "none"
