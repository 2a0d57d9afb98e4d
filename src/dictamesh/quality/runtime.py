"""A node's data quality: the on-ingest checker, the scheduled runs (one node of the
cluster at a time) and the failure events.

* on ingest nodes :attr:`NodeQuality.checker` is the ingest's ``on_outcome`` listener, and
  :meth:`NodeQuality.flush_forever` stores its counts every ``ingest_flush_seconds``;
* :meth:`NodeQuality.schedule` runs every rule over the catalog every
  ``interval_seconds`` — only while this node holds the ``quality:schedule`` lease
  (:class:`~dictamesh.cluster.leader.LeaderElector`, the backend ``capture``'s election
  uses: a lease row on PostgreSQL, a file lock on SQLite, none with
  ``capture.leader_election: off``);
* :meth:`NodeQuality.run_now` is ``POST /api/v1/admin/quality/run``;
* failure events go out through an :class:`~dictamesh.events.relay.EventRelay` on
  ``system.quality.failed`` (best effort, never blocking).

Example::

    quality = NodeQuality.build(settings, database, bus, registry=metrics.registry)
    spawn("quality-schedule", lambda: quality.schedule(stop))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.cluster.leader import LeaderElector
from dictamesh.cluster.leases import FileLeases, Lease, LeaseBackend, LeaseStore
from dictamesh.core.settings import DictaMeshSettings, QualitySettings
from dictamesh.events.bus import EventBus
from dictamesh.events.relay import EventRelay
from dictamesh.quality.evaluator import QUALITY_TOPIC_SPEC, QualityEvaluator
from dictamesh.quality.metrics import QualityMetrics
from dictamesh.quality.store import QualityStore, Run
from dictamesh.quality.streaming import IngestChecker

__all__ = ["LEASE_NAME", "NodeQuality", "lease_backend"]

log = logging.getLogger(__name__)

LEASE_NAME = "quality:schedule"


def lease_backend(settings: DictaMeshSettings, database: CatalogDatabase) -> LeaseBackend | None:
    """Where the schedule's lease lives: as capture's (``capture.leader_election``)."""
    mode = settings.capture.leader_election
    if mode == "auto":
        mode = "lease" if database.dialect == "postgresql" else "file"
    if mode == "lease":
        return LeaseStore(database)
    if mode == "file":
        return FileLeases(Path(settings.state_dir) / "leases")
    return None


class NodeQuality:
    def __init__(
        self,
        settings: QualitySettings,
        evaluator: QualityEvaluator,
        *,
        relay: EventRelay,
        checker: IngestChecker | None,
        elector: LeaderElector | None,
    ) -> None:
        self.settings = settings
        self.evaluator = evaluator
        self.store: QualityStore = evaluator.store
        self.relay = relay
        self.checker = checker
        self.elector = elector
        #: scheduled runs done by this node (status, tests)
        self.runs_done = 0

    @classmethod
    def build(
        cls,
        settings: DictaMeshSettings,
        database: CatalogDatabase,
        bus: EventBus,
        *,
        ingest: bool,
        metrics: QualityMetrics | None = None,
        registry: CollectorRegistry | None = None,
    ) -> NodeQuality:
        """``ingest``: check ingested events (ingest nodes)."""
        if metrics is None and registry is not None:
            metrics = QualityMetrics(registry)
        relay = EventRelay(bus, what="quality events")
        node = settings.node_name
        evaluator = QualityEvaluator(
            database, settings.quality, node=node, relay=relay, metrics=metrics
        )
        checker = IngestChecker(settings.quality, metrics) if ingest else None
        backend = lease_backend(settings, database)
        elector = None
        if backend is not None:
            elector = LeaderElector(
                backend,
                LEASE_NAME,
                holder=f"{node}/{os.getpid()}/{uuid.uuid4().hex[:8]}",
                lease_seconds=settings.capture.lease_seconds,
                retry_seconds=settings.capture.retry_seconds,
            )
        return cls(
            settings.quality,
            evaluator,
            relay=relay,
            checker=checker if checker is not None and checker.active else None,
            elector=elector,
        )

    async def start(self, bus: EventBus) -> None:
        await bus.ensure_topic(QUALITY_TOPIC_SPEC)

    async def run_now(
        self, tenant: str, *, rule_ids: Sequence[str] | None = None, trigger: str = "manual"
    ) -> Run:
        return await self.evaluator.run(tenant, trigger=trigger, rule_ids=rule_ids)

    async def schedule(self, stop: asyncio.Event) -> None:
        """Every rule over the catalog every ``interval_seconds``, while leading."""
        if not self.settings.all_rules():
            return
        if self.elector is None:
            await self._every_interval(stop)
            return

        async def lead(_lease: Lease) -> None:
            await self._every_interval(stop)

        await self.elector.run(lead, stop)

    async def _every_interval(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.evaluator.run_all(trigger="schedule")
                self.runs_done += 1
            except Exception:  # the next interval tries again; a crash loop helps nobody
                log.warning("scheduled quality run failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.interval_seconds)

    async def flush(self) -> int:
        """Store the on-ingest counts gathered since the last flush; runs stored."""
        if self.checker is None:
            return 0
        runs = self.checker.drain(node=self.evaluator.node)
        for run in runs:
            await self.store.save(run, keep=self.settings.history_runs)
        return len(runs)

    async def flush_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.ingest_flush_seconds)
            try:
                await self.flush()
            except Exception:
                log.warning("could not store the on-ingest quality counts", exc_info=True)
