"""The HTTP app of a node that serves no API (``dictamesh serve --role router``, ``capture``,
``saga``, ``notify``): ``/health``, ``/ready`` and ``/metrics``; with ``webhooks`` (a
``capture`` node) also ``POST /webhooks/{adapter}``, which feeds the adapters' change
streams and so belongs where they are captured.

Example::

    app = create_ops_app(node.readiness, node.metrics)
    app = create_ops_app(node.readiness, node.metrics, webhooks=ApiContext(...))
"""

from __future__ import annotations

from fastapi import FastAPI

from dictamesh import __version__ as _package_version
from dictamesh.api.context import ApiContext, Readiness
from dictamesh.api.errors import install_error_handlers
from dictamesh.api.observability import instrument_app
from dictamesh.api.rest import health_router, ops_router
from dictamesh.observability.metrics import MeshMetrics

__all__ = ["create_ops_app"]


def create_ops_app(
    readiness: Readiness | None,
    metrics: MeshMetrics | None = None,
    *,
    timeout: float = 5.0,
    webhooks: ApiContext | None = None,
) -> FastAPI:
    """``webhooks``: serve ``/webhooks/{adapter}`` for the adapters of this context, and
    ``/ready`` from its ``readiness`` (the ``readiness`` argument is then unused)."""
    app = FastAPI(title="DictaMesh", version=_package_version, docs_url=None, redoc_url=None)
    if webhooks is None:
        app.include_router(health_router(readiness, version=_package_version, timeout=timeout))
    else:
        install_error_handlers(app)  # 404 unknown adapter, 401 bad signature, as JSON
        app.include_router(ops_router(webhooks))  # webhooks, /health, /ready
    instrument_app(app, metrics)  # /metrics, request metrics
    return app
