"""The OpenAPI 3.1 document of a node's REST API, for ``dictamesh codegen openapi``.

It is the document the node itself serves at ``/openapi.json``
(:mod:`dictamesh.api.openapi`): a node is started on the given settings, with an
embedded bus and a catalog in a temporary directory and no adapters (the routes are the
same for every data product), so generating touches no source, broker or database.
What the settings change is kept: ``auth`` (security), ``saga`` and ``notifications``
(their routes), ``tenancy`` (429s), ``api.max_body_bytes`` (413s).

Example::

    doc = generate(DictaMeshSettings.from_yaml("mesh.yaml"))
    doc["openapi"]   # '3.1.0'
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import strawberry

from dictamesh.core.settings import BusSettings, CatalogSettings, DictaMeshSettings
from dictamesh.node import MeshNode

__all__ = ["generate", "generate_async"]


def generate(settings: DictaMeshSettings) -> dict[str, Any]:
    """The OpenAPI document of a node on ``settings`` (runs its own event loop)."""
    return asyncio.run(generate_async(settings))


async def generate_async(settings: DictaMeshSettings) -> dict[str, Any]:
    """:func:`generate` inside a running event loop."""
    with tempfile.TemporaryDirectory(prefix="dictamesh-openapi-") as tmp:
        async with MeshNode(_offline(settings, Path(tmp)), adapters=[]) as node:
            # /graphql is not in the document: any schema will do (entity types need adapters)
            app = node.asgi_app(graphql_schema=strawberry.Schema(query=_Query))
            return dict(app.openapi())


@strawberry.type
class _Query:
    @strawberry.field
    def ping(self) -> bool:
        return True


def _offline(settings: DictaMeshSettings, state: Path) -> DictaMeshSettings:
    """``settings`` with every backend local to ``state`` and nothing sent anywhere."""
    defaults = DictaMeshSettings.model_construct()
    return settings.model_copy(
        update={
            "state_dir": state,
            "adapters": [],
            "bus": BusSettings(path=state / "bus.sqlite3"),
            "catalog": CatalogSettings(
                url=f"sqlite+aiosqlite:///{state / 'catalog.sqlite3'}",
                schema_registry=settings.catalog.schema_registry,
            ),
            "cache": defaults.cache,
            "observability": defaults.observability,
            "openlineage": defaults.openlineage,
            "router": defaults.router,
        }
    )
