"""A node's capture under leader election: one node polls a given source at a time.

:class:`CaptureLeadership` turns ``capture:`` settings into what the node needs: the
change-state store its adapters use (:meth:`state`) and, per adapter, a task that captures
only while it leads ``capture:<adapter>`` (:meth:`run`). Metrics:
``dictamesh_capture_leader{adapter}`` (1 while this node leads) and
``dictamesh_capture_leader_changes_total{adapter}``.

Example (what the node does)::

    leadership = CaptureLeadership.from_settings(settings, catalog.database, metrics.registry)
    state = leadership.state(SqliteChangeStateStore(state_dir / "changes.sqlite3"))
    ...
    supervisor.spawn(f"capture:{name}", partial(leadership.run, name, capture, stop))
"""

from __future__ import annotations

import asyncio
import os
import uuid
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.cluster.change_state import CatalogChangeStateStore
from dictamesh.cluster.leader import LeaderElector
from dictamesh.cluster.leases import FileLeases, Lease, LeaseBackend, LeaseStore
from dictamesh.cluster.webhook_inbox import CatalogWebhookInbox
from dictamesh.core.settings import CaptureSettings, DictaMeshSettings

__all__ = ["CaptureLeadership", "LeaderMetrics", "lease_name"]


def lease_name(adapter: str) -> str:
    """The lease a capture leader of ``adapter`` holds."""
    return f"capture:{adapter}"


class LeaderMetrics:
    """``dictamesh_capture_leader{adapter}`` and its changes, on ``registry``."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.leader = Gauge(
            "dictamesh_capture_leader",
            "1 while this node is the capture leader of the adapter, else 0",
            ["adapter"],
            registry=registry,
        )
        self.changes = Counter(
            "dictamesh_capture_leader_changes",
            "Times this node became or stopped being the adapter's capture leader",
            ["adapter"],
            registry=registry,
        )

    @classmethod
    def on(cls, registry: CollectorRegistry) -> LeaderMetrics:
        """The metrics on ``registry``, made once (a node started again reuses them)."""
        found = _METRICS.get(registry)
        if found is None:
            found = _METRICS[registry] = cls(registry)
        return found

    def listener(self, adapter: str) -> Callable[[bool], None]:
        self.leader.labels(adapter).set(0)

        def changed(leading: bool) -> None:
            self.leader.labels(adapter).set(1 if leading else 0)
            self.changes.labels(adapter).inc()

        return changed


_METRICS: weakref.WeakKeyDictionary[CollectorRegistry, LeaderMetrics] = weakref.WeakKeyDictionary()


class CaptureLeadership:
    def __init__(
        self,
        settings: CaptureSettings,
        *,
        backend: LeaseBackend | None,
        shared_state: CatalogChangeStateStore | None,
        shared_inbox: CatalogWebhookInbox | None = None,
        holder: str,
        metrics: LeaderMetrics | None = None,
    ) -> None:
        """``backend`` None: no election (every node captures)."""
        self.settings = settings
        self.backend = backend
        self.shared_state = shared_state
        self.shared_inbox = shared_inbox
        self.holder = holder
        self.metrics = metrics
        #: the elector of each adapter run so far (status, tests)
        self.electors: dict[str, LeaderElector] = {}

    @classmethod
    def from_settings(
        cls,
        settings: DictaMeshSettings,
        database: CatalogDatabase,
        registry: CollectorRegistry | None = None,
    ) -> CaptureLeadership:
        capture = settings.capture
        on_postgres = database.dialect == "postgresql"
        mode = capture.leader_election
        if mode == "auto":
            mode = "lease" if on_postgres else "file"
        store = LeaseStore(database)
        backend: LeaseBackend | None = None
        if mode == "lease":
            backend = store
        elif mode == "file":
            backend = FileLeases(Path(settings.state_dir) / "leases")
        shared = capture.change_state == "catalog" or (
            capture.change_state == "auto" and on_postgres
        )
        # fenced only when the lease lives in the same database as the state it guards
        fence = store if shared and backend is store else None
        return cls(
            capture,
            backend=backend,
            shared_state=CatalogChangeStateStore(database, leases=fence) if shared else None,
            # webhooks accepted by any node reach the leader through the same database
            shared_inbox=CatalogWebhookInbox(database) if shared else None,
            holder=f"{settings.node_name}/{os.getpid()}/{uuid.uuid4().hex[:8]}",
            metrics=LeaderMetrics.on(registry) if registry is not None else None,
        )

    def state(self, local: Any) -> Any:
        """The change-state store adapters use: the shared one, else ``local``."""
        return self.shared_state if self.shared_state is not None else local

    def webhook_inbox(self, local: Any) -> Any:
        """The webhook inbox adapters store accepted webhooks in: shared, else ``local``."""
        return self.shared_inbox if self.shared_inbox is not None else local

    async def run(
        self, adapter: str, capture: Callable[[], Awaitable[None]], stop: asyncio.Event
    ) -> None:
        """Run ``capture`` only while this node leads ``adapter``'s capture, until ``stop``."""
        if self.backend is None:
            await capture()
            return
        elector = self.electors.get(adapter)
        if elector is None:
            elector = self.electors[adapter] = LeaderElector(
                self.backend,
                lease_name(adapter),
                holder=self.holder,
                lease_seconds=self.settings.lease_seconds,
                retry_seconds=self.settings.retry_seconds,
                listener=self.metrics.listener(adapter) if self.metrics else None,
            )
        state = self.shared_state

        async def lead(lease: Lease) -> None:
            if state is not None:
                state.hold(adapter, lease)
            try:
                await capture()
            finally:
                if state is not None:
                    state.drop(adapter, lease)

        await elector.run(lead, stop)

    def leading(self) -> dict[str, bool]:
        """Each adapter's capture: led by this node now?"""
        return {name: e.is_leader for name, e in self.electors.items()}
