"""A node's OpenLineage emission: the jobs, their datasets, and when their events go out.

Jobs (namespace ``openlineage.namespace``):

* ``dictamesh.adapter_sync.<adapter>``: capture of one adapter's changes; input the source's
  dataset (as the adapter's :meth:`get_lineage` declares it), output its change topic;
* ``dictamesh.catalog_ingest``: the catalog's ingest consumer; inputs the change topics,
  outputs the data products ``dictamesh/<domain>.<entity_type>`` (and their nested ones).

Each job's runs are windows of activity (:mod:`dictamesh.lineage.runs`). On start the node
also sends one DatasetEvent per data product (its schema, documentation, owners).

Example::

    lineage = NodeLineage(settings, registry.adapters(), registry.schemas())
    lineage.start()
    lineage.captured("crm", "sales.crm.entity_changed")
    lineage.ingested([(event, "sales.crm.entity_changed")])
    await lineage.aclose()
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    OutputDataset,
    StaticDataset,
)
from openlineage.client.generated.base import DatasetFacet
from openlineage.client.transport import Transport
from prometheus_client import CollectorRegistry

from dictamesh.adapters.base import AdapterBase
from dictamesh.adapters.contract import DataProductAdapter
from dictamesh.catalog.lineage_store import DATA_PRODUCT_NAMESPACE
from dictamesh.core.models import ChangeEvent, EntitySchema
from dictamesh.core.settings import BusSettings, DictaMeshSettings
from dictamesh.lineage.emitter import EmitterCollector, LineageEmitter
from dictamesh.lineage.facets import (
    PRODUCER,
    column_lineage,
    dataset_facets,
    input_statistics,
    job_facets,
    output_statistics,
    owners_for,
)
from dictamesh.lineage.runs import DatasetKey, RunWindow
from dictamesh.lineage.transports import build_transport

__all__ = ["INGEST_JOB", "SYNC_JOB_PREFIX", "NodeLineage", "topic_namespace"]

INGEST_JOB = "dictamesh.catalog_ingest"
SYNC_JOB_PREFIX = "dictamesh.adapter_sync."


def topic_namespace(bus: BusSettings, node_name: str) -> str:
    """The OpenLineage namespace of the bus's topics: ``kafka://<first bootstrap host:port>``
    (the naming spec's), else ``<backend>://<node name>`` (the embedded log is the node's)."""
    if bus.backend == "kafka":
        first = bus.kafka_bootstrap.split(",")[0].strip()
        return f"kafka://{first.split('://')[-1]}"
    return f"{bus.backend}://{node_name}"


def _base_topic(adapter: DataProductAdapter) -> str:
    return adapter.source.change_topic


@dataclass(frozen=True, slots=True)
class _Product:
    schema: EntitySchema
    #: where its fields sit in the change event (``after``, ``after.items``)
    path: str


class _SyncDatasets:
    """The datasets of one adapter's sync job."""

    def __init__(self, adapter: DataProductAdapter, topic_ns: str) -> None:
        self.schema = adapter.get_schema()
        edges = adapter.get_lineage().edges
        if edges:
            self.source: DatasetKey = (edges[0].upstream.namespace, edges[0].upstream.name)
            self.fields = edges[0].fields
        else:  # an adapter declaring no lineage: its system and entity type
            self.source, self.fields = (adapter.source.system, adapter.entity_type), {}
        base_url = adapter.config.base_url if isinstance(adapter, AdapterBase) else None
        self.source_facets: dict[str, DatasetFacet] = dataset_facets(
            self.schema, source=(adapter.source.system, base_url)
        )
        # the source's own schema is not known: only the data source describes it
        del self.source_facets["schema"]
        self.source_facets.pop("documentation", None)
        self.topic_ns = topic_ns
        self.topic_facets = dataset_facets(
            self.schema, topic=True, source=(topic_ns.split("://")[0], topic_ns)
        )

    def input(self, key: DatasetKey, rows: int | None) -> InputDataset:
        return InputDataset(
            namespace=key[0],
            name=key[1],
            facets=self.source_facets,
            inputFacets=input_statistics(rows) if rows is not None else {},
        )

    def output(
        self, key: DatasetKey, sources: Iterable[DatasetKey], rows: int | None
    ) -> OutputDataset:
        facets = dict(self.topic_facets)
        if self.fields:
            ns, name = self.source
            facets["columnLineage"] = column_lineage(
                {
                    f"after.{field}": [(ns, name, upstream) for upstream in upstreams]
                    for field, upstreams in self.fields.items()
                },
                description="read from the source by the adapter",
            )
        return OutputDataset(
            namespace=key[0],
            name=key[1],
            facets=facets,
            outputFacets=output_statistics(rows) if rows is not None else {},
        )


class _IngestDatasets:
    """The datasets of the catalog ingest job: topics in, data products out."""

    def __init__(
        self,
        topic_ns: str,
        schemas: Callable[[], Mapping[str, EntitySchema]],
        owners: Mapping[str, Sequence[str]],
    ) -> None:
        self.topic_ns = topic_ns
        self._schemas = schemas
        self._owners = owners
        #: topic → the entity type seen on it (its record's schema)
        self.topic_types: dict[str, str] = {}
        self.products: dict[DatasetKey, _Product | None] = {}

    def products_of(self, event: ChangeEvent) -> list[DatasetKey]:
        """The data products ``event`` writes: its type's, and its nested lists' ones."""
        top = (DATA_PRODUCT_NAMESPACE, f"{event.source.domain}.{event.entity.type}")
        if top not in self.products:
            schema = self._schemas().get(event.entity.type)
            self.products[top] = None if schema is None else _Product(schema, "after")
        keys = [top]
        todo = [self.products[top]]
        while todo:
            product = todo.pop()
            if product is None:
                continue
            for field, nested in product.schema.nested.items():
                key = (DATA_PRODUCT_NAMESPACE, f"{nested.domain}.{nested.entity_type}")
                child = _Product(nested, f"{product.path}.{field}")
                self.products.setdefault(key, child)
                keys.append(key)
                todo.append(child)
        return keys

    def input(self, key: DatasetKey, rows: int | None) -> InputDataset:
        entity_type = self.topic_types.get(key[1])
        schema = self._schemas().get(entity_type) if entity_type else None
        facets = {} if schema is None else dataset_facets(schema, topic=True)
        return InputDataset(
            namespace=key[0],
            name=key[1],
            facets=facets,
            inputFacets=input_statistics(rows) if rows is not None else {},
        )

    def output(
        self, key: DatasetKey, sources: Iterable[DatasetKey], rows: int | None
    ) -> OutputDataset:
        product = self.products.get(key)
        facets: dict[str, DatasetFacet] = {}
        if product is not None:
            facets = dataset_facets(product.schema, owners=owners_for(key[1], self._owners))
            inputs = list(sources)
            facets["columnLineage"] = column_lineage(
                {
                    spec.name: [(ns, topic, f"{product.path}.{spec.name}") for ns, topic in inputs]
                    for spec in product.schema.fields
                },
                description="copied from the change event by catalog ingest",
            )
        return OutputDataset(
            namespace=key[0],
            name=key[1],
            facets=facets,
            outputFacets=output_statistics(rows) if rows is not None else {},
        )


class NodeLineage:
    """Emits a node's OpenLineage events; every method returns at once (never blocks)."""

    def __init__(
        self,
        settings: DictaMeshSettings,
        adapters: Sequence[DataProductAdapter],
        schemas: Callable[[], Mapping[str, EntitySchema]],
        *,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``schemas``: entity type → schema, read when needed (adapters may be added);
        ``transport``: instead of the one ``settings.openlineage`` names."""
        ol = settings.openlineage
        self.settings = ol
        self.emitter = LineageEmitter(
            transport or build_transport(ol, kafka_bootstrap=settings.bus.kafka_bootstrap),
            queue_size=ol.queue_size,
        )
        self.topic_namespace = topic_namespace(settings.bus, settings.node_name)
        self._schemas = schemas
        self._clock = clock
        self._syncs: dict[str, tuple[RunWindow, _SyncDatasets]] = {}
        for adapter in adapters:
            datasets = _SyncDatasets(adapter, self.topic_namespace)
            job = Job(
                namespace=ol.namespace,
                name=SYNC_JOB_PREFIX + adapter.name,
                facets=job_facets(
                    "ADAPTER_SYNC",
                    f"Change capture of adapter {adapter.name!r}: {adapter.entity_type}"
                    f" changes of {adapter.source.system} onto {_base_topic(adapter)}.",
                ),
            )
            self._syncs[adapter.name] = (self._window(job, datasets), datasets)
        self._ingest_datasets = _IngestDatasets(self.topic_namespace, schemas, ol.owners)
        self._ingest = self._window(
            Job(
                namespace=ol.namespace,
                name=INGEST_JOB,
                facets=job_facets(
                    "CATALOG_INGEST",
                    "Catalog ingest: change events into the catalog's data products.",
                ),
            ),
            self._ingest_datasets,
        )
        self._adapters = list(adapters)
        self._collector = EmitterCollector(self.emitter)
        self._registry: CollectorRegistry | None = None

    def _window(self, job: Job, datasets: _SyncDatasets | _IngestDatasets) -> RunWindow:
        return RunWindow(
            job,
            self.emitter.emit,
            datasets,
            idle=self.settings.run_idle_seconds,
            longest=self.settings.run_max_seconds,
            clock=self._clock,
        )

    def start(self, registry: CollectorRegistry | None = None) -> None:
        """Start delivering (its counters on ``registry``, until :meth:`aclose`); a
        DatasetEvent for each adapter's data product and change topic."""
        if registry is not None and self._registry is None:
            registry.register(self._collector)
            self._registry = registry
        self.emitter.start()
        now = datetime.now(UTC).isoformat()
        for adapter in self._adapters:
            name = f"{adapter.source.domain}.{adapter.entity_type}"
            product = dataset_facets(
                adapter.get_schema(), owners=owners_for(name, self.settings.owners)
            )
            _, datasets = self._syncs[adapter.name]
            topic = (self.topic_namespace, _base_topic(adapter))
            for (namespace, dataset), facets in (
                ((DATA_PRODUCT_NAMESPACE, name), product),
                (topic, datasets.topic_facets),
            ):
                self.emitter.emit(
                    DatasetEvent(
                        eventTime=now,
                        dataset=StaticDataset(namespace=namespace, name=dataset, facets=facets),
                        producer=PRODUCER,
                    )
                )

    # --- hooks --------------------------------------------------------------------------------

    def captured(self, adapter: str, topic: str) -> None:
        """An event of ``adapter`` was published to ``topic``."""
        found = self._syncs.get(adapter)
        if found is None:
            return
        window, datasets = found
        window.record_one(datasets.source, (self.topic_namespace, topic))

    def capture_failed(self, adapter: str, error: BaseException) -> None:
        found = self._syncs.get(adapter)
        if found is not None:
            window, datasets = found
            window.fail(error, {datasets.source: 0})

    def ingested(self, events: Sequence[tuple[ChangeEvent, str]]) -> None:
        """A batch of events was applied to the catalog."""
        # grouped first: a batch holds few (topic, type) pairs and many events
        groups: dict[tuple[str, str, str], int] = {}
        samples: dict[tuple[str, str, str], ChangeEvent] = {}
        for event, topic in events:
            group = (topic, event.entity.type, event.source.domain)
            groups[group] = groups.get(group, 0) + 1
            samples.setdefault(group, event)
        inputs: dict[DatasetKey, int] = {}
        outputs: dict[DatasetKey, int] = {}
        feeds: dict[DatasetKey, set[DatasetKey]] = {}
        for group, count in groups.items():
            topic, entity_type, _ = group
            key = (self.topic_namespace, topic)
            self._ingest_datasets.topic_types.setdefault(topic, entity_type)
            inputs[key] = inputs.get(key, 0) + count
            for product in self._ingest_datasets.products_of(samples[group]):
                outputs[product] = outputs.get(product, 0) + count
                feeds.setdefault(product, set()).add(key)
        if inputs:
            self._ingest.record(inputs, outputs, feeds)

    def ingest_failed(
        self, events: Sequence[tuple[ChangeEvent, str]], error: BaseException
    ) -> None:
        """Applying a batch failed with ``error`` (the consumer retries it)."""
        inputs: dict[DatasetKey, int] = {}
        for event, topic in events:
            self._ingest_datasets.topic_types.setdefault(topic, event.entity.type)
            inputs[(self.topic_namespace, topic)] = 0
        self._ingest.fail(error, inputs)

    def tick(self) -> None:
        """Complete the runs that are due."""
        for window, _ in self._syncs.values():
            window.tick()
        self._ingest.tick()

    async def run(self) -> None:
        """Complete due runs until cancelled (a node's background task)."""
        every = min(1.0, self.settings.run_idle_seconds / 4)
        while True:
            await asyncio.sleep(every)
            self.tick()

    async def aclose(self) -> None:
        """Complete the open runs and deliver what is queued (for at most the transport
        timeout)."""
        for window, _ in self._syncs.values():
            window.close()
        self._ingest.close()
        # long enough for a send in flight to end: an HTTP post and its two retries
        await self.emitter.aclose(timeout=3 * self.settings.timeout_seconds + 1)
        if self._registry is not None:
            self._registry.unregister(self._collector)
            self._registry = None
