"""The browser UI at ``/ui``: the committed bundle is built from the current sources, the
page and its assets are served offline with a strict CSP and the right caching, ``/``
redirects there, and ``api.ui`` switches it."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import httpx
import pytest
from tests.unit.api.conftest import Node

from dictamesh.api.browser_ui import UI_DIR, content_security_policy, load_bundle
from dictamesh.auth import hash_api_key
from dictamesh.core.settings import ApiKeyConfig, ApiSettings, AuthSettings, DictaMeshSettings

UI_SOURCES = Path(__file__).resolve().parents[3] / "ui"
EXTERNAL = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)
ASSET = re.compile(r"""(?:src|href)=["'](/ui/assets/[^"']+)["']""")
KEY = "reader-key-0123456789"


def sources_sha256(root: Path = UI_SOURCES) -> str:
    """The hash ``ui/build.mjs`` writes into the manifest (the same walk, the same order)."""
    files = ["build.mjs", "package.json", "package-lock.json"]
    files += [p.relative_to(root).as_posix() for p in (root / "src").rglob("*") if p.is_file()]
    digest = hashlib.sha256()
    for name in sorted(files):
        content = hashlib.sha256((root / name).read_bytes()).hexdigest()
        digest.update(f"{name}\0{content}\n".encode())
    return digest.hexdigest()


@pytest.mark.skipif(not UI_SOURCES.is_dir(), reason="an installed package has no ui/ sources")
def test_the_committed_bundle_is_built_from_the_current_sources() -> None:
    manifest = json.loads((UI_DIR / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["sources_sha256"] == sources_sha256(), (
        "src/dictamesh/api/static/ui/ is older than ui/: run `make ui` and commit the bundle"
    )
    for name in manifest["entry"].values():
        assert (UI_DIR / "assets" / name).is_file(), name


def test_the_bundle_stays_small_and_names_its_licences() -> None:
    size = sum(p.stat().st_size for p in (UI_DIR / "assets").iterdir())
    assert size < 1_500_000
    licences = (UI_DIR / "LICENSE").read_text(encoding="utf-8")
    for package in ("preact", "htm", "cytoscape"):
        assert f"==== {package} " in licences


async def test_the_page_loads_its_assets_from_the_node_only() -> None:
    async with Node().client() as client:
        for path in ("/ui", "/ui/"):
            page = await client.get(path)
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["cache-control"] == "no-cache"
            assert EXTERNAL.findall(page.text) == []
            assert "<script>" not in page.text  # no inline script: the CSP forbids it
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "connect-src 'self' ws://testserver" in csp
        assert "frame-ancestors 'none'" in csp
        assets = ASSET.findall(page.text)
        assert sorted(a.rsplit(".", 1)[1] for a in assets) == ["css", "js"]
        for url in assets:
            response = await client.get(url, headers={"accept-encoding": "identity"})
            assert response.status_code == 200, url
            kind = {"js": "text/javascript", "css": "text/css"}[url.rsplit(".", 1)[1]]
            assert response.headers["content-type"].startswith(kind)
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert response.content == (UI_DIR / "assets" / url.rsplit("/", 1)[1]).read_bytes()
            again = await client.get(url, headers={"if-none-match": response.headers["etag"]})
            assert again.status_code == 304


async def test_the_page_tells_the_script_the_auth_mode_and_tenant_header() -> None:
    async with Node().client() as client:
        page = (await client.get("/ui/")).text
    assert 'data-auth="off"' in page
    assert 'data-tenant-header="X-Tenant-ID"' in page
    auth = AuthSettings(
        mode="required",
        api_keys=[ApiKeyConfig(sha256=hash_api_key(KEY), subject="reader")],
        tenant_header="X-Org",
    )
    async with Node(auth=auth).client() as client:
        page = (await client.get("/ui/")).text  # public: the shell must load before login
        assert 'data-auth="required"' in page
        assert 'data-tenant-header="X-Org"' in page
        assert KEY not in page
        asset = ASSET.findall(page)[0]
        assert (await client.get(asset)).status_code == 200
        root = await client.get("/", follow_redirects=False)
        assert root.status_code == 307
        assert root.headers["location"] == "/ui/"
        # the data stays behind the credentials
        assert (await client.get("/api/v1/schemas")).status_code == 401
        ok = await client.get("/api/v1/schemas", headers={"X-API-Key": KEY})
        assert ok.status_code == 200


@pytest.mark.parametrize(
    "path", ["/ui/assets/nope.js", "/ui/assets/..%2Fmanifest.json", "/ui/manifest.json"]
)
async def test_anything_else_under_ui_is_a_404_envelope(path: str) -> None:
    async with Node().client() as client:
        response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_switched_off_neither_ui_nor_redirect() -> None:
    async with Node(api=ApiSettings(ui=False)).client() as client:
        assert (await client.get("/ui/")).status_code == 404
        assert (await client.get("/", follow_redirects=False)).status_code == 404
        assert (await client.get("/health")).status_code == 200
    async with Node(production=True).client() as client:  # on in production too
        assert (await client.get("/ui/")).status_code == 200
        assert (await client.post("/")).status_code in (404, 405)  # only GET/HEAD redirect


def test_the_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DictaMeshSettings().api.ui_enabled(production=True) is True
    monkeypatch.setenv("DICTAMESH_API__UI", "false")
    assert DictaMeshSettings().api.ui_enabled(production=False) is False
    assert "/ui" in AuthSettings().public_paths


@pytest.mark.parametrize(
    ("host", "secure", "expected"),
    [
        ("node:8000", False, "connect-src 'self' ws://node:8000;"),
        ("node.example", True, "connect-src 'self' wss://node.example;"),
        ("[::1]:9000", False, "connect-src 'self' ws://[::1]:9000;"),
        ("evil; script-src *", False, "connect-src 'self';"),
        (None, False, "connect-src 'self';"),
    ],
)
def test_only_a_plain_host_is_reflected_into_the_policy(
    host: str | None, secure: bool, expected: str
) -> None:
    assert expected in content_security_policy(host, secure=secure)


def test_a_missing_bundle_is_none(tmp_path: Path) -> None:
    assert load_bundle(tmp_path) is None


async def test_head_answers_without_a_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/ui/")
    assert response.status_code == 200
    assert response.content == b""
