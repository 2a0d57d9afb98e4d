"""OpenLineage emission: run events for adapter syncs and catalog ingest, dataset events for
data products, over HTTP (Marquez), Kafka, a JSON-lines file or the console
(``docs/lineage.md``). Needs the ``lineage`` extra (openlineage-python).

A node builds one :class:`NodeLineage` when ``openlineage.enabled`` is set; the events are
queued and sent by a background thread, so neither capture nor ingest ever waits for them.

Example::

    lineage = NodeLineage(settings, registry.adapters(), registry.schemas)
    lineage.start()
    lineage.ingested([(event, "sales.crm.entity_changed")])   # START of an ingest run
    lineage.tick()                                            # COMPLETE once idle
    await lineage.aclose()
"""

from __future__ import annotations

try:
    import openlineage.client  # noqa: F401
except ImportError as exc:  # pragma: no cover - the extra is part of dev installs
    from dictamesh.core.errors import MissingDependencyError

    raise MissingDependencyError("openlineage-python", "lineage") from exc

from dictamesh.lineage.emitter import EmitterStats, LineageEmitter
from dictamesh.lineage.facets import PRODUCER
from dictamesh.lineage.runs import RunWindow
from dictamesh.lineage.runtime import INGEST_JOB, SYNC_JOB_PREFIX, NodeLineage, topic_namespace
from dictamesh.lineage.transports import build_transport

__all__ = [
    "INGEST_JOB",
    "PRODUCER",
    "SYNC_JOB_PREFIX",
    "EmitterStats",
    "LineageEmitter",
    "NodeLineage",
    "RunWindow",
    "build_transport",
    "topic_namespace",
]
