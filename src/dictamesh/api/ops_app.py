"""The HTTP app of a node that serves no API (``dictamesh serve --role router``):
``/health``, ``/ready`` and ``/metrics`` only.

Example::

    app = create_ops_app(node.readiness, node.metrics)
"""

from __future__ import annotations

from fastapi import FastAPI

from dictamesh import __version__ as _package_version
from dictamesh.api.context import Readiness
from dictamesh.api.observability import instrument_app
from dictamesh.api.rest import health_router
from dictamesh.observability.metrics import MeshMetrics

__all__ = ["create_ops_app"]


def create_ops_app(
    readiness: Readiness | None, metrics: MeshMetrics | None = None, *, timeout: float = 5.0
) -> FastAPI:
    app = FastAPI(title="DictaMesh", version=_package_version, docs_url=None, redoc_url=None)
    app.include_router(health_router(readiness, version=_package_version, timeout=timeout))
    instrument_app(app, metrics)  # /metrics, request metrics
    return app
