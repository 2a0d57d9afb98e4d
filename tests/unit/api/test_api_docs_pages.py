"""GraphiQL, Swagger UI and ReDoc work offline: every asset comes from the node's
``/static``, with the right content type; ``api.graphiql`` / ``api.docs`` switch them off
(by default in production mode)."""

from __future__ import annotations

import gzip
import re

import httpx
import pytest
from tests.unit.api.conftest import Node

from dictamesh.api.ui_assets import STATIC_DIR
from dictamesh.core.settings import ApiSettings, DictaMeshSettings

HTML = {"accept": "text/html"}
EXTERNAL = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)
ASSET = re.compile(r"""(?:src|href)=["'](/static/[^"']+)["']""")


async def page(client: httpx.AsyncClient, path: str) -> str:
    response = await client.get(path, headers=HTML)
    assert response.status_code == 200, (path, response.text[:200])
    assert response.headers["content-type"].startswith("text/html")
    return response.text


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/graphql"])
async def test_pages_reference_no_external_url_and_their_assets_are_served(
    client: httpx.AsyncClient, path: str
) -> None:
    html = await page(client, path)
    assert EXTERNAL.findall(html) == []
    assets = ASSET.findall(html)
    assert assets, "the page loads its scripts from /static"
    for url in assets:
        response = await client.get(url)
        assert response.status_code == 200, url
        expected = {"js": "text/javascript", "css": "text/css", "png": "image/png"}
        assert response.headers["content-type"].startswith(expected[url.rsplit(".", 1)[1]])
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.content == (STATIC_DIR / url.removeprefix("/static/")).read_bytes()


async def test_the_docs_page_loads_the_served_document(client: httpx.AsyncClient) -> None:
    assert "'/openapi.json'" in await page(client, "/docs")
    assert 'spec-url="/openapi.json"' in await page(client, "/redoc")
    doc = (await client.get("/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"


async def test_assets_are_compressed_cached_and_licensed(client: httpx.AsyncClient) -> None:
    url = "/static/graphiql-3.8.3/graphiql.min.js"
    raw = (STATIC_DIR / "graphiql-3.8.3/graphiql.min.js").read_bytes()
    async with client.stream("GET", url, headers={"accept-encoding": "gzip"}) as response:
        wire = b"".join([chunk async for chunk in response.aiter_raw()])
    assert response.headers["content-encoding"] == "gzip"
    assert len(wire) < len(raw) / 3
    assert gzip.decompress(wire) == raw
    etag = response.headers["etag"]
    again = await client.get(url, headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    head = await client.head(url, headers={"accept-encoding": "identity"})
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == len(raw)
    for folder in sorted(p for p in STATIC_DIR.iterdir() if p.is_dir()):
        licence = await client.get(f"/static/{folder.name}/LICENSE")
        assert licence.headers["content-type"].startswith("text/plain")
        assert "Permission is hereby granted" in licence.text or "Apache" in licence.text


@pytest.mark.parametrize(
    "path", ["/static/nope.js", "/static/../app.py", "/static/graphiql-3.8.3", "/static/"]
)
async def test_anything_else_under_static_is_a_404_envelope(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_vendored_assets_stay_small() -> None:
    size = sum(p.stat().st_size for p in STATIC_DIR.rglob("*") if p.is_file())
    assert size < 8_000_000  # a few MB in the wheel; source maps are left out


async def test_switches_off_answer_404() -> None:
    node = Node(api=ApiSettings(docs=False, graphiql=False))
    async with node.client() as client:
        for path in ("/docs", "/redoc", "/openapi.json", "/static/react-18.2.0/LICENSE"):
            assert (await client.get(path, headers=HTML)).status_code == 404, path
        graphiql = await client.get("/graphql", headers=HTML)
        assert graphiql.status_code == 404
        # the API itself is unchanged
        assert (await client.get("/graphql", params={"query": "{__typename}"})).status_code == 200
        assert (await client.get("/health")).status_code == 200


async def test_production_mode_turns_them_off_unless_set() -> None:
    async with Node(production=True).client() as client:
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/graphql", headers=HTML)).status_code == 404
    async with Node(production=True, api=ApiSettings(docs=True)).client() as client:
        assert (await client.get("/docs")).status_code == 200
        assert (await client.get("/graphql", headers=HTML)).status_code == 404


def test_production_mode_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DictaMeshSettings().environment == "development"
    monkeypatch.setenv("DICTAMESH_ENVIRONMENT", "production")
    monkeypatch.setenv("DICTAMESH_API__DOCS", "true")
    settings = DictaMeshSettings()
    assert settings.environment == "production"
    assert settings.api.docs_enabled(production=True) is True
    assert settings.api.graphiql_enabled(production=True) is False
