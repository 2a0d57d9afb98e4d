"""The ``/graphql`` schema a node with given settings serves, built without opening anything
(``dictamesh schema export|check|diff`` compare it with a baseline).

Its parts are :func:`~dictamesh.api.app.one_node_schema`'s, chosen as
:class:`~dictamesh.node.MeshNode` chooses them (sagas and notifications when enabled). The
saga engine and the notification service are real objects over a catalog database that is
never connected: the parts read only their shape (the saga definitions) when the schema is
built, and nothing here runs a resolver.

Example::

    sdl = served_sdl(settings, registry)   # registry: adapters built, not connected
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import create_async_engine
from strawberry.printer import print_schema

from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.api.app import one_node_schema
from dictamesh.catalog.database import CatalogDatabase
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.fanout import ChangeFeed
from dictamesh.governance.writes import WriteGuard
from dictamesh.notifications.service import NotificationService
from dictamesh.saga.engine import SagaEngine
from dictamesh.saga.runtime import BUILT_IN_SAGAS
from dictamesh.saga.store import SagaStore
from dictamesh.saga.writer import GovernedWriters

__all__ = ["served_sdl"]


def served_sdl(settings: DictaMeshSettings, registry: AdapterRegistry) -> str:
    """The SDL of the one-node schema for ``settings`` over ``registry``'s adapters."""
    # in-memory SQLite, never connected: the engine object makes no connection until used
    database = CatalogDatabase(create_async_engine("sqlite+aiosqlite://"))
    sagas = None
    if settings.saga.enabled:
        sagas = SagaEngine(
            SagaStore(database),
            BUILT_IN_SAGAS,
            GovernedWriters(registry, WriteGuard(None)),
            node=settings.node_name,
        )
    notifications = NotificationService.over(database) if settings.notifications.enabled else None
    feed = ChangeFeed(queue_size=settings.graphql.subscription_queue_size)
    schema = one_node_schema(registry, feed, None, sagas, notifications)
    return print_schema(schema)
