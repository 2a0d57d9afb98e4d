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

from dictamesh.auth import mint_dev_token
from tests.browser.conftest import Page, api, eventually
from tests.browser.mesh import ADMIN_KEY, JWT_SECRET, READER_KEY, RunningMesh

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


def at_source(mesh: RunningMesh) -> dict[str, Any]:
    """Customer 1 as its source holds it now (another test may have changed its email)."""
    record = mesh.sources.customers_store.get(1) or mesh.sources.customers_store.get(CUSTOMER)
    assert record is not None
    return dict(record)


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


def test_masked_for_the_reader_clear_for_the_admin(
    page: Page, mesh: RunningMesh, customer: dict[str, Any]
) -> None:
    customer = at_source(mesh)
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
    assert any("/api/v1/entities/customer/" in u for u in page.requested_urls())
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
    # the lineage: the customers' data product, fed by the source system's customer table
    lineage = "dataset/dictamesh/customers.customer"
    page.wait(lambda d: lineage in graph_ids(page), "the lineage drawn")
    assert "dataset/directus/customer" in graph_ids(page)
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
    assert any(u.startswith("ws://") and u.endswith("/graphql") for u in page.requested_urls())
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


def test_a_token_logs_in_and_a_refused_session_returns_to_the_login(
    page: Page, mesh: RunningMesh, customer: dict[str, Any]
) -> None:
    customer = at_source(mesh)
    page.open(f"#/entity/customer/{CUSTOMER}")
    token = mint_dev_token(JWT_SECRET, "ada", roles=["admin"])
    page.wait(lambda d: page.testid("login-jwt"), "the login form")[0].send_keys(token)
    page.testid("login-submit")[0].click()
    assert attributes(page)["email"] == (customer["email"], "false")
    assert "token" in page.testid("session-who")[0].text
    # the credentials stop working (revoked, expired): the next call lands on the login
    expired = mint_dev_token(JWT_SECRET, "ada", roles=["admin"], ttl_seconds=-120)
    page.driver.execute_script(
        "sessionStorage.setItem('dictamesh.session', JSON.stringify({jwt: arguments[0]}))", expired
    )
    page.open(f"#/graph/customer/{CUSTOMER}")
    page.wait(lambda d: page.testid("login-submit"), "the login form again")
    message = page.testid("error")[0].text
    assert "expired" in message.lower() or "invalid" in message.lower()
    assert page.driver.execute_script("return sessionStorage.getItem('dictamesh.session')") is None


def settled(page: Page) -> bool:
    """The results shown answer the route's current query, mode and filters."""
    found = page.testid("search-results")
    return bool(found) and found[0].get_attribute("data-answer") == "current"


def type_facet(page: Page, value: str) -> Any:
    found = [
        f
        for f in page.testid("facet")
        if f.get_attribute("data-facet") == "type" and f.get_attribute("data-value") == value
    ]
    return found[0] if found else None


def test_facets_filter_and_the_mode_switch_keeps_the_query(
    page: Page, mesh: RunningMesh, customer: dict[str, Any]
) -> None:
    page.open()
    login(page, READER_KEY)
    query = customer["last_name"]
    page.testid("search-input")[0].send_keys(query)
    page.wait(lambda d: page.testid("search-result"), "results")
    answer = api(mesh, "/api/v1/search", READER_KEY, q=query, mode="hybrid", limit=25)
    types = {r["entity_type"] for r in answer["results"]}
    if "facets" not in answer:  # a node without facets: none drawn, results all the same
        assert page.testid("facet") == []
    else:
        facet = page.wait(lambda d: type_facet(page, "customer"), "the customer type facet")
        facet.click()
        page.wait(lambda d: "type=customer" in d.current_url, "the filter in the route")
        page.wait(lambda d: settled(page), "the filtered answer")
        page.wait(
            lambda d: (
                {r.get_attribute("data-entity-type") for r in page.testid("search-result")}
                == {"customer"}
            ),
            "customers only",
        )
        # the facets were drawn again with the filtered answer: read the new one
        pressed = page.wait(lambda d: type_facet(page, "customer"), "the customer type facet")
        assert pressed.get_attribute("aria-pressed") == "true" or page.testid("active-filter")
    assert "customer" in types
    page.testid("mode-text")[0].click()
    page.wait(lambda d: "mode=text" in d.current_url, "the mode in the route")
    page.wait(lambda d: settled(page), "the text answer")
    assert page.testid("search-input")[0].get_attribute("value") == query
    page.wait(
        lambda d: any(
            r.get_attribute("data-entity-id") == CUSTOMER for r in page.testid("search-result")
        ),
        f"customer {CUSTOMER} among the text results",
    )


UNLABELLED = """
return [...document.querySelectorAll('input, select, textarea')]
  .filter((el) => el.type !== 'hidden' && el.labels.length === 0 && !el.getAttribute('aria-label'))
  .map((el) => el.outerHTML.slice(0, 120));
"""


@pytest.mark.parametrize(
    "route", ["", f"#/entity/customer/{CUSTOMER}", f"#/graph/customer/{CUSTOMER}"]
)
def test_landmarks_and_a_label_on_every_input(
    page: Page, customer: dict[str, Any], route: str
) -> None:
    page.open(route)
    assert page.driver.execute_script(UNLABELLED) == []  # the login form
    login(page, READER_KEY)
    page.wait(lambda d: page.css("main h1"), "the page")
    for landmark in ("header", "nav[aria-label]", "main", "form[role=search]"):
        assert page.css(landmark), landmark
    assert page.driver.execute_script(UNLABELLED) == []


def test_the_tenant_typed_at_login_scopes_every_read(page: Page, customer: dict[str, Any]) -> None:
    page.open(f"#/entity/customer/{CUSTOMER}")
    page.wait(lambda d: page.testid("login-api-key"), "the login form")[0].send_keys(ADMIN_KEY)
    page.testid("login-tenant")[0].send_keys("another-tenant")
    page.testid("login-submit")[0].click()
    error = page.wait(lambda d: page.testid("error"), "the entity missing in that tenant")[0]
    assert "not found" in error.text.lower()
    assert page.testid("attribute") == []
    assert "tenant another-tenant" in page.testid("session-who")[0].text
