"""A node's governance at run time, built from the ``governance`` settings group.

:class:`NodeGovernance` holds the node's :class:`~dictamesh.governance.enforce.Governance`
(policy, masking key, audit sink), runs the :class:`~dictamesh.governance.audit_writer.AuditWriter`
and, when retention rules are configured, the
:class:`~dictamesh.governance.retention.RetentionJob` every
``retention_interval_seconds``. :class:`~dictamesh.node.MeshNode` starts it after its catalog
and closes it (draining the audit queue) before closing the catalog.

Without ``governance.policy_file`` the built-in default policy applies: the ``auth.admin_role``
reads every field unmasked, everyone else is denied every classified field.

Example::

    runtime = NodeGovernance.from_settings(settings, catalog, publisher)
    await runtime.start(metrics)
    app = create_app(ApiContext(..., governance=runtime.governance))
    await runtime.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from dictamesh.catalog.service import CatalogService
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.governance.audit import AuditLog
from dictamesh.governance.audit_writer import AuditWriter, AuditWriterCollector
from dictamesh.governance.consent import ConsentService
from dictamesh.governance.consent_store import ConsentStore
from dictamesh.governance.enforce import Governance, default_policy
from dictamesh.governance.masking import Masker
from dictamesh.governance.policy import PolicyEngine
from dictamesh.governance.retention import RetentionJob

__all__ = ["DEMO_POLICY_FILE", "NodeGovernance", "masker_from_settings"]

log = logging.getLogger("dictamesh.governance")

DEMO_POLICY_FILE = Path(__file__).parent / "policies" / "demo.yaml"
"""The policy ``dictamesh demo`` runs with (auth is off there: every caller is anonymous)."""

_warned_key = False


def masker_from_settings(settings: DictaMeshSettings) -> Masker:
    """The masker keyed with ``governance.masking_key`` (a per-process key, with one
    warning, when unset: hashes and tokens then differ between nodes and restarts)."""
    global _warned_key
    key = settings.governance.masking_key
    if key is None:
        if not _warned_key:
            _warned_key = True
            log.warning(
                "governance.masking_key is not set: hashed and tokenized values use a"
                " per-process random key (not comparable across nodes or restarts)"
            )
        return Masker()
    return Masker(key.get_secret_value().encode())


class NodeGovernance:
    def __init__(
        self,
        governance: Governance,
        *,
        writer: AuditWriter | None = None,
        retention: RetentionJob | None = None,
        retention_interval: float = 3600.0,
    ) -> None:
        self.governance = governance
        self.writer = writer
        self.retention = retention
        self.retention_interval = retention_interval
        self._retention_task: asyncio.Task[None] | None = None
        self._metrics: Any = None
        self._collector: AuditWriterCollector | None = None

    @classmethod
    def from_settings(
        cls, settings: DictaMeshSettings, catalog: CatalogService, publisher: Any = None
    ) -> NodeGovernance:
        """Load the policy (``ConfigurationError`` when the file is bad) and wire it up."""
        gs = settings.governance
        if gs.policy_file is not None:
            policy = PolicyEngine.from_file(gs.policy_file)
        else:
            log.info("no governance.policy_file: the built-in default policy applies")
            policy = default_policy(settings.auth.admin_role)
        audit_log = AuditLog(catalog)
        writer = (
            AuditWriter(
                audit_log,
                batch_size=gs.audit_batch_size,
                flush_interval=gs.audit_flush_interval_seconds,
                max_pending=gs.audit_queue_size,
                max_wait=gs.audit_max_wait_seconds,
            )
            if gs.audit
            else None
        )
        governance = Governance(
            policy,
            masker=masker_from_settings(settings),
            audit=writer,
            audit_log=audit_log,
            publisher=publisher,
            on_audit_overflow=gs.audit_on_overflow,
            consent=ConsentService(
                gs.consent, ConsentStore(catalog.database), audit=audit_log if gs.audit else None
            ),
        )
        retention = RetentionJob(catalog, gs.retention) if gs.retention else None
        return cls(
            governance,
            writer=writer,
            retention=retention,
            retention_interval=gs.retention_interval_seconds,
        )

    async def start(
        self,
        metrics: Any = None,
        spawn: Callable[[str, Callable[[], Awaitable[None]]], None] | None = None,
    ) -> None:
        """Start the audit writer and the retention job; ``metrics``: a
        :class:`~dictamesh.observability.metrics.MeshMetrics` to report the writer in.
        ``spawn(name, factory)``: who runs the retention job instead of a plain task (the
        node's :class:`~dictamesh.resilience.supervisor.TaskSupervisor`, which restarts it
        if it dies and stops it with the node)."""
        if self.writer is not None:
            self.writer.start()
            if metrics is not None and self._collector is None:
                governance = self.governance
                self._collector = AuditWriterCollector(
                    self.writer, withheld=lambda: governance.withheld
                )
                metrics.registry.register(self._collector)
                self._metrics = metrics
        if self.retention is not None and spawn is not None:
            retention, interval = self.retention, self.retention_interval
            spawn("retention", lambda: retention.run_periodically(interval))
        elif self.retention is not None and self._retention_task is None:
            self._retention_task = asyncio.get_running_loop().create_task(
                self.retention.run_periodically(self.retention_interval), name="retention"
            )

    async def aclose(self) -> None:
        """Stop retention, then write every queued audit entry (before the catalog closes)."""
        task, self._retention_task = self._retention_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.writer is not None:
            await self.writer.aclose()
        if self._collector is not None:
            self._metrics.registry.unregister(self._collector)
            self._collector = self._metrics = None
