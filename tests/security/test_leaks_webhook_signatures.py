"""Item 9: webhooks are signed (HMAC-SHA256) when the adapter has a ``webhook_secret``.

Before: ``POST /webhooks/{adapter}`` accepted anything from anyone, even with auth
``required`` (webhooks are a public path). Now an adapter with a secret answers 401 to an
unsigned, forged or stale body — before parsing it or calling its source — and the sample
sources sign what they send.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from dictamesh.core.errors import AuthenticationError
from dictamesh.core.settings import AdapterConfig, DictaMeshSettings
from dictamesh.core.webhook_signature import (
    HUB_HEADER,
    TIMESTAMPED_HEADER,
    signature_headers,
    verify_signature,
)
from dictamesh.sources._store import RecordStore
from tests.unit.api.conftest import Node

SECRET = "whsec-0123456789abcdef0123456789abcdef"
BODY = json.dumps({"ids": ["c-1"]}).encode()


def config(secret: str | None = SECRET, tolerance: float = 300.0) -> AdapterConfig:
    return AdapterConfig(
        name="customers_directus",
        kind="customers_directus",
        base_url="http://127.0.0.1:9",
        webhook_secret=None if secret is None else SecretStr(secret),
        webhook_tolerance_seconds=tolerance,
    )


@pytest.fixture
async def signed_node() -> AsyncIterator[tuple[Node, httpx.AsyncClient]]:
    node = Node()
    node.customers.config = config()  # type: ignore[attr-defined]
    async with node.client() as http:
        yield node, http


def only(headers: dict[str, str], name: str) -> dict[str, str]:
    return {name: headers[name], "Content-Type": "application/json"}


async def test_unsigned_and_forged_webhooks_get_401_before_any_source_call(
    signed_node: tuple[Node, httpx.AsyncClient],
) -> None:
    node, http = signed_node
    url = "/webhooks/customers_directus"
    forged = signature_headers(b"not-the-secret", BODY)
    stale = signature_headers(SECRET.encode(), BODY, timestamp=int(time.time()) - 3600)
    tampered = signature_headers(SECRET.encode(), BODY)
    cases = {
        "unsigned": {"Content-Type": "application/json"},
        "forged hub": only(forged, HUB_HEADER),
        "forged stamped": only(forged, TIMESTAMPED_HEADER),
        "stale (replay)": only(stale, TIMESTAMPED_HEADER),
        "stale with a hub signature too": stale,
        "malformed": {TIMESTAMPED_HEADER: "t=abc,v1=zz"},
        "other body": tampered,
    }
    for what, headers in cases.items():
        content = BODY if what != "other body" else BODY.replace(b"c-1", b"c-2")
        response = await http.post(url, content=content, headers=headers)
        assert response.status_code == 401, what
        assert response.json()["error"]["code"] == "UNAUTHENTICATED", what
    assert node.customers.webhooks == []  # nothing reached the adapter
    assert sum(node.customers.calls.values()) == 0


async def test_signed_webhooks_are_accepted(signed_node: tuple[Node, httpx.AsyncClient]) -> None:
    node, http = signed_node
    url = "/webhooks/customers_directus"
    headers = signature_headers(SECRET.encode(), BODY)
    for name in (HUB_HEADER, TIMESTAMPED_HEADER):
        response = await http.post(url, content=BODY, headers=only(headers, name))
        assert response.status_code == 202, response.text
    assert node.customers.webhooks == [{"ids": ["c-1"]}, {"ids": ["c-1"]}]
    # an adapter without a secret still takes unsigned webhooks (documented)
    assert (await http.post("/webhooks/products_rest", json={"ids": ["p-1"]})).status_code == 202


def test_verification_details() -> None:
    key = SECRET.encode()
    now = 1_800_000_000
    good = signature_headers(key, BODY, timestamp=now)
    verify_signature(key, BODY, good.get, now=now + 299)
    with pytest.raises(AuthenticationError, match="tolerance"):
        verify_signature(key, BODY, good.get, now=now + 301)
    with pytest.raises(AuthenticationError, match="tolerance"):
        verify_signature(key, BODY, good.get, now=now - 301)  # from the future
    rotated = {TIMESTAMPED_HEADER: good[TIMESTAMPED_HEADER].replace("v1=", "v1=00,v1=")}
    verify_signature(key, BODY, rotated.get, now=now)  # one of several v1 matches
    upper = {HUB_HEADER: good[HUB_HEADER].upper().replace("SHA256=", "sha256=")}
    verify_signature(key, BODY, upper.get)
    with pytest.raises(AuthenticationError, match="missing"):
        verify_signature(key, BODY, {}.get)
    with pytest.raises(AuthenticationError, match="malformed"):
        verify_signature(key, BODY, {HUB_HEADER: "md5=abc"}.get)
    with pytest.raises(AuthenticationError, match="malformed"):
        verify_signature(key, BODY, {TIMESTAMPED_HEADER: "t=1," + "v1=a," * 400}.get)


def test_the_secret_is_a_secret_in_settings() -> None:
    settings = DictaMeshSettings.from_mapping(
        {"adapters": [config().model_dump() | {"webhook_secret": SECRET}]}, origin="test"
    )
    adapter = settings.adapters[0]
    assert isinstance(adapter.webhook_secret, SecretStr)
    assert SECRET not in repr(settings)


async def test_sample_sources_sign_their_webhooks(
    signed_node: tuple[Node, httpx.AsyncClient],
) -> None:
    node, _ = signed_node
    store = RecordStore(
        "customers",
        records=[],
        payload_builder=lambda action, record, changes: {"ids": [record["id"]]},
        webhook_transport=httpx.ASGITransport(app=node.app),
        webhook_attempts=1,
    )
    store.subscribe("http://testserver/webhooks/customers_directus", secret=SECRET)
    store.subscribe("http://testserver/webhooks/customers_directus?wrong", secret="nope")
    store._notify("update", {"id": "c-1"}, {})
    await store.wait_deliveries()
    outcome = {d.target.rsplit("/", 1)[-1]: d.status for d in store.deliveries}
    assert outcome == {"customers_directus": 202, "customers_directus?wrong": 401}
