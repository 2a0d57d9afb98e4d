"""What the transports (REST, GraphQL, CLI) use of a node's notifications."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.notifications.inbox_store import InboxStore
from dictamesh.notifications.store import NotificationStore

__all__ = ["NotificationService"]


def _nothing() -> None:
    return None


@dataclass(slots=True)
class NotificationService:
    store: NotificationStore
    inbox: InboxStore
    #: wakes this node's delivery worker (after an operator retry); a no-op without one
    wake: Callable[[], None] = field(default=_nothing)

    @classmethod
    def over(
        cls, database: CatalogDatabase, wake: Callable[[], None] | None = None
    ) -> NotificationService:
        return cls(NotificationStore(database), InboxStore(database), wake or _nothing)
