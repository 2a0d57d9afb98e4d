"""The browser UI at ``/ui``: catalog search, entity pages, the relationship graph and the
operations pages (``docs/ui.md``).

The UI is a Preact application bundled at build time (``make ui``: ``ui/`` → esbuild) into
``api/static/ui/``, committed with the sources' hash in ``manifest.json``, so a node
installed from a wheel serves it without Node.js and without any CDN:

* ``GET /ui`` and ``/ui/`` — the page shell (no data: the page reads everything from the
  API with the credentials the user types in), with a strict Content-Security-Policy: no
  inline script or style, connections only to this node (HTTP and the GraphQL WebSocket);
* ``GET /ui/assets/<file>`` — the bundle; the names carry a content hash, so answers are
  ``immutable`` for a year;
* ``GET /`` redirects to ``/ui/`` (:class:`RootRedirect`, outside authentication, so a
  browser pointed at the node finds the login page instead of a 401).

``api.ui`` switches it (on by default, in production too: a catalog browser is meant for
the people using the mesh); ``/ui`` is among ``auth.public_paths`` by default since the shell
must load before the user has logged in.

Example::

    if ctx.api.ui_enabled(production=ctx.production):
        app.include_router(browser_ui_router(ctx))
        app.add_middleware(RootRedirect)   # after install_auth: wraps it
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from dictamesh.api.context import ApiContext
from dictamesh.api.errors import GRAPHQL_PATH
from dictamesh.api.ui_assets import STATIC_DIR, file_response, media_type_of
from dictamesh.auth import Authenticator
from dictamesh.core.errors import NotFoundError

__all__ = [
    "UI_DIR",
    "UI_PREFIX",
    "RootRedirect",
    "UiBundle",
    "browser_ui_router",
    "content_security_policy",
    "load_bundle",
]

UI_PREFIX = "/ui"
#: the committed bundle: ``manifest.json`` and ``assets/`` (written by ``ui/build.mjs``)
UI_DIR = STATIC_DIR / "ui"
_IMMUTABLE = "public, max-age=31536000, immutable"
# A Host header is reflected into the CSP's WebSocket source only when it is a plain host[:port].
_HOST = re.compile(r"^[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?$")


@dataclass(frozen=True)
class UiBundle:
    """The built bundle as ``manifest.json`` describes it."""

    #: sha256 of the ``ui/`` sources it was built from (checked by a unit test)
    sources_sha256: str
    #: the entry points' asset names, e.g. ``{"js": "app-3FQ2.js", "css": "app-3FQ2.css"}``
    entry: dict[str, str]
    #: every file under ``assets/`` by name, with its strong ETag
    assets: dict[str, str]


@cache
def load_bundle(directory: Path = UI_DIR) -> UiBundle | None:
    """The bundle in ``directory``; ``None`` when it has not been built."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    assets = {}
    for path in sorted((directory / "assets").glob("*")):
        if path.is_file():
            # the names carry esbuild's content hash; this ETag only spares re-sending
            digest = hashlib.sha256(f"{path.name}:{path.stat().st_size}".encode()).hexdigest()
            assets[path.name] = f'"{digest[:32]}"'
    entry = {str(k): str(v) for k, v in dict(manifest.get("entry", {})).items()}
    return UiBundle(str(manifest.get("sources_sha256", "")), entry, assets)


def content_security_policy(host: str | None, *, secure: bool) -> str:
    """The page's CSP: scripts, styles and connections from this node only (``'self'``
    plus the node's WebSocket origin, which not every browser counts as ``'self'``)."""
    connect = "'self'"
    if host and _HOST.match(host):
        connect += f" {'wss' if secure else 'ws'}://{host}"
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {connect}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def _page_settings(ctx: ApiContext) -> dict[str, str]:
    """What the page needs to know before its first call (no secret among them)."""
    auth = ctx.auth.settings if isinstance(ctx.auth, Authenticator) else ctx.auth
    return {
        "auth": auth.mode if auth is not None else "off",
        "tenant-header": auth.tenant_header if auth is not None else "X-Tenant-ID",
        "graphql": GRAPHQL_PATH,
        "version": ctx.version,
    }


def _index_html(bundle: UiBundle, settings: dict[str, str]) -> str:
    attrs = " ".join(f'data-{k}="{html.escape(v, quote=True)}"' for k, v in settings.items())
    css = html.escape(bundle.entry.get("css", ""), quote=True)
    js = html.escape(bundle.entry.get("js", ""), quote=True)
    return _INDEX.format(prefix=UI_PREFIX, css=css, js=js, attrs=attrs)


def browser_ui_router(ctx: ApiContext, *, directory: Path = UI_DIR) -> APIRouter:
    """``GET /ui``, ``/ui/`` (the page) and ``/ui/assets/{name}`` (the bundle)."""
    router = APIRouter()
    settings = _page_settings(ctx)

    def bundle() -> UiBundle:
        found = load_bundle(directory)
        if found is None or not found.entry.get("js"):
            raise NotFoundError("the browser UI is not built here (run `make ui`)")
        return found

    @router.api_route(UI_PREFIX, methods=["GET", "HEAD"], include_in_schema=False)
    @router.api_route(UI_PREFIX + "/", methods=["GET", "HEAD"], include_in_schema=False)
    async def index(request: Request) -> Response:
        body = _index_html(bundle(), settings)
        secure = request.url.scheme == "https"
        return HTMLResponse(
            "" if request.method == "HEAD" else body,
            headers={
                "Content-Security-Policy": content_security_policy(
                    request.headers.get("host"), secure=secure
                ),
                "Cache-Control": "no-cache",  # the asset names change with every build
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
                "X-Frame-Options": "DENY",
            },
        )

    @router.api_route(
        UI_PREFIX + "/assets/{name}", methods=["GET", "HEAD"], include_in_schema=False
    )
    async def asset(name: str, request: Request) -> Response:
        etag = bundle().assets.get(name)  # only files found there: no path is joined
        if etag is None:
            raise NotFoundError(f"no UI asset {name!r}")
        path = directory / "assets" / name
        return await file_response(
            request, path, media_type=media_type_of(path), etag=etag, cache_control=_IMMUTABLE
        )

    return router


class RootRedirect:
    """``GET /`` → ``307 /ui/``; every other request goes on to the app unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == "/"
            and scope.get("method") in ("GET", "HEAD")
        ):
            await RedirectResponse(UI_PREFIX + "/", status_code=307)(scope, receive, send)
            return
        await self.app(scope, receive, send)


_INDEX = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>DictaMesh</title>
<link rel="stylesheet" href="{prefix}/assets/{css}">
<script type="module" src="{prefix}/assets/{js}"></script>
</head>
<body>
<div id="app" {attrs}><noscript>The DictaMesh browser needs JavaScript; the REST API is
at /api/v1 and GraphQL at /graphql.</noscript></div>
</body>
</html>
"""
