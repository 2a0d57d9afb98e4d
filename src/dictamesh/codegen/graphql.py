"""``dictamesh codegen graphql``: the node's GraphQL SDL (``schema.graphql``).

The schema is built by the gateway exactly as a node builds it for ``/graphql``
(:func:`dictamesh.api.app.create_app`): the data products, the catalog fields, the
``Subscription`` type of the change feed, and the saga and notification fields when
``saga.enabled`` / ``notifications.enabled``. Nothing is connected: the parts only need
stand-ins to print their fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.codegen.files import GeneratedFile
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.fanout import ChangeFeed
from dictamesh.gateway.catalog import CatalogPart
from dictamesh.gateway.notifications import NotificationPart
from dictamesh.gateway.sagas import SagaPart
from dictamesh.gateway.schema_builder import SchemaPart
from dictamesh.gateway.subscriptions import build_live_schema
from dictamesh.saga.runtime import BUILT_IN_SAGAS

__all__ = ["SDL_FILE", "generate", "schema_sdl"]

SDL_FILE = "schema.graphql"


class _SagaDefinitions:
    """What :class:`SagaPart` reads while its fields are built: the node's sagas."""

    def __init__(self) -> None:
        self.definitions: Mapping[str, Any] = {d.name: d for d in BUILT_IN_SAGAS}
        self.poll_interval_seconds = 1.0


class _NoInbox:
    """What :class:`NotificationPart` reads while its fields are built (nothing is called)."""

    inbox: Any = None


def schema_sdl(settings: DictaMeshSettings, registry: AdapterRegistry) -> str:
    """The SDL a node with ``settings`` and ``registry``'s adapters serves at ``/graphql``."""
    parts: list[SchemaPart] = [CatalogPart(None)]
    if settings.saga.enabled:
        parts.append(SagaPart(_SagaDefinitions()))  # type: ignore[arg-type]
    if settings.notifications.enabled:
        parts.append(NotificationPart(_NoInbox()))  # type: ignore[arg-type]
    schema = build_live_schema(registry, ChangeFeed(), parts=parts, max_depth=None)
    return schema.as_str().rstrip("\n") + "\n"


def generate(settings: DictaMeshSettings, registry: AdapterRegistry) -> list[GeneratedFile]:
    return [GeneratedFile(SDL_FILE, schema_sdl(settings, registry))]
