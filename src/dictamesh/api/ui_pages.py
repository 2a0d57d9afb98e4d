"""The HTML pages of the API's browser tools, every asset from the node itself
(:mod:`dictamesh.api.ui_assets`), none from a CDN or a font service:

* ``GET /docs`` — Swagger UI over ``/openapi.json``; ``GET /redoc`` — ReDoc over it;
* :func:`graphiql_html` — GraphiQL, which ``/graphql`` answers a browser with.

``api.docs`` and ``api.graphiql`` switch them (and ``/openapi.json``) on or off; unset,
they are on unless the node runs with ``environment: production`` (``docs/api.md``).

Example::

    app.include_router(docs_router(title="DictaMesh"))   # /docs, /redoc
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from dictamesh.api.ui_assets import (
    GRAPHIQL_CSS,
    GRAPHIQL_JS,
    REACT_DOM_JS,
    REACT_JS,
    REDOC_JS,
    SWAGGER_CSS,
    SWAGGER_FAVICON,
    SWAGGER_JS,
)

__all__ = ["DOCS_PATH", "OPENAPI_PATH", "REDOC_PATH", "docs_router", "graphiql_html"]

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"


def docs_router(*, title: str, openapi_url: str = OPENAPI_PATH) -> APIRouter:
    """``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) over ``openapi_url``."""
    router = APIRouter()

    @router.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS,
            swagger_favicon_url=SWAGGER_FAVICON,
            # validatorUrl: Swagger UI would send the document to validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )

    @router.get(REDOC_PATH, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=REDOC_JS,
            redoc_favicon_url=SWAGGER_FAVICON,
            with_google_fonts=False,
        )

    return router


def graphiql_html(title: str = "DictaMesh GraphiQL") -> str:
    """The GraphiQL page: queries go to the page's own URL, subscriptions over WebSocket
    (``graphql-transport-ws``) to the same path."""
    return _GRAPHIQL.format(
        title=title,
        react=REACT_JS,
        react_dom=REACT_DOM_JS,
        css=GRAPHIQL_CSS,
        js=GRAPHIQL_JS,
    )


_GRAPHIQL = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <style>
    body {{ height: 100%; margin: 0; width: 100%; overflow: hidden; }}
    #graphiql {{ height: 100vh; }}
  </style>
  <link rel="stylesheet" href="{css}">
  <script src="{react}"></script>
  <script src="{react_dom}"></script>
  <script src="{js}"></script>
</head>
<body>
  <div id="graphiql">Loading...</div>
  <script>
    const url = window.location.href.split("?")[0].split("#")[0];
    const ws = new URL(url);
    ws.protocol = ws.protocol === "https:" ? "wss:" : "ws:";
    const fetcher = GraphiQL.createFetcher({{ url: url, subscriptionUrl: ws.toString() }});
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, {{
        fetcher: fetcher,
        defaultEditorToolsVisibility: true,
        isHeadersEditorEnabled: true,
        shouldPersistHeaders: true,
      }})
    );
  </script>
</body>
</html>
"""
