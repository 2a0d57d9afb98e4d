"""The browser assets of GraphiQL, Swagger UI and ReDoc, served by the node under ``/static``
so those pages work on a network without internet access.

The files are vendored from npm by ``scripts/vendor_ui_assets.sh`` into ``api/static/``,
one folder per package and version, each with its licence. Only files found there are
served (no path is joined from the request); answers carry a strong ``ETag`` and a long
``Cache-Control`` (the paths name the versions), and are gzip-compressed for clients that
accept it (compressed once, off the event loop).

Example::

    app.include_router(static_router())   # GET /static/graphiql-3.8.3/graphiql.min.js
    GRAPHIQL_JS                            # '/static/graphiql-3.8.3/graphiql.min.js'
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dictamesh.core.errors import NotFoundError

__all__ = [
    "GRAPHIQL_CSS",
    "GRAPHIQL_JS",
    "REACT_DOM_JS",
    "REACT_JS",
    "REDOC_JS",
    "STATIC_DIR",
    "STATIC_PREFIX",
    "SWAGGER_CSS",
    "SWAGGER_FAVICON",
    "SWAGGER_JS",
    "file_response",
    "media_type_of",
    "static_router",
]

STATIC_PREFIX = "/static"
STATIC_DIR = Path(__file__).parent / "static"

GRAPHIQL_JS = f"{STATIC_PREFIX}/graphiql-3.8.3/graphiql.min.js"
GRAPHIQL_CSS = f"{STATIC_PREFIX}/graphiql-3.8.3/graphiql.min.css"
REACT_JS = f"{STATIC_PREFIX}/react-18.2.0/react.production.min.js"
REACT_DOM_JS = f"{STATIC_PREFIX}/react-dom-18.2.0/react-dom.production.min.js"
SWAGGER_JS = f"{STATIC_PREFIX}/swagger-ui-dist-5.36.0/swagger-ui-bundle.js"
SWAGGER_CSS = f"{STATIC_PREFIX}/swagger-ui-dist-5.36.0/swagger-ui.css"
SWAGGER_FAVICON = f"{STATIC_PREFIX}/swagger-ui-dist-5.36.0/favicon-32x32.png"
REDOC_JS = f"{STATIC_PREFIX}/redoc-2.5.2/redoc.standalone.js"

_TEXT = "text/plain; charset=utf-8"
_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": _TEXT,
}
#: compressing a PNG gains nothing
_COMPRESSIBLE = frozenset({".js", ".css", ".txt", ".svg", ".json", ""})
_MAX_AGE = 7 * 24 * 3600  # versioned paths: a week without revalidating


@dataclass(frozen=True)
class _Asset:
    path: Path
    media_type: str
    etag: str


def media_type_of(path: Path) -> str:
    """The ``Content-Type`` of a served file (plain text for unknown suffixes)."""
    return _MEDIA_TYPES.get(path.suffix, _TEXT)


@cache
def _assets() -> dict[str, _Asset]:
    """Every vendored file by its URL path below ``/static/``."""
    found: dict[str, _Asset] = {}
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            stat = path.stat()  # the files change only with a new install: no need to hash them
            digest = hashlib.sha256(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
            found[path.relative_to(STATIC_DIR).as_posix()] = _Asset(
                path, media_type_of(path), f'"{digest.hexdigest()[:32]}"'
            )
    return found


@cache
def _gzipped(path: Path) -> bytes:
    return gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)


def _accepts_gzip(request: Request) -> bool:
    return any(
        part.split(";")[0].strip() == "gzip"
        for part in request.headers.get("accept-encoding", "").split(",")
    )


async def file_response(
    request: Request, path: Path, *, media_type: str, etag: str, cache_control: str
) -> Response:
    """``path`` answered with ``etag`` (304 on a match), gzip when accepted, ``HEAD`` aware;
    shared by ``/static`` and the browser UI's ``/ui/assets`` (``api/browser_ui.py``)."""
    headers = {
        "ETag": etag,
        "Cache-Control": cache_control,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if path.suffix in _COMPRESSIBLE and _accepts_gzip(request):
        body = await asyncio.to_thread(_gzipped, path)
        headers["Content-Encoding"] = "gzip"
    else:
        body = await asyncio.to_thread(path.read_bytes)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=200, headers=headers, media_type=media_type)
    return Response(body, headers=headers, media_type=media_type)


def static_router() -> APIRouter:
    """``GET``/``HEAD /static/{path}``: the vendored assets (404 for anything else)."""
    router = APIRouter()

    @router.api_route(
        STATIC_PREFIX + "/{asset_path:path}", methods=["GET", "HEAD"], include_in_schema=False
    )
    async def static_asset(asset_path: str, request: Request) -> Response:
        asset = _assets().get(asset_path)
        if asset is None:
            raise NotFoundError(f"no static asset {asset_path!r}")
        return await file_response(
            request,
            asset.path,
            media_type=asset.media_type,
            etag=asset.etag,
            cache_control=f"public, max-age={_MAX_AGE}",
        )

    return router
