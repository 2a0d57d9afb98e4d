"""The Apache Kafka backend of the event bus, on aiokafka.

:class:`KafkaBus` implements :class:`~dictamesh.events.bus.EventBus`: an idempotent producer
(``enable_idempotence``, ``acks=all``), topics created from :class:`TopicSpec` (partitions,
``retention.ms``, ``cleanup.policy``) and consumer groups with manual commits
(:class:`KafkaConsumer`, ``enable.auto.commit=false``, ``auto.offset.reset=earliest``,
``isolation.level=read_committed``; with ``initial_offsets``, a partition the group never
committed on starts there instead, sought and committed when it is assigned). ``bus.kafka``
(:class:`~dictamesh.core.bus_config.KafkaClientSettings`) gives every client it starts its
security (SASL, TLS) and tuning, and topics their default partitions (12 for domain topics,
3 for ``system.*``), replication factor and ``min.insync.replicas`` (``docs/events.md``,
"Kafka in production").

Keys are partitioned by aiokafka's default partitioner, which is the Java client's murmur2
(:func:`dictamesh.events.partitioner.partition_for_key`), so one entity's changes land on
the same partition here, in the embedded bus and from any Java producer. (librdkafka's
default, ``consistent_random``, differs: set ``partitioner=murmur2_random`` there.)

The same semantics as the embedded bus (the shared contract, ``tests/contract``), with
these differences, all inherent to Kafka:

* ``Message.delivery_count`` is always 0: Kafka does not count deliveries. The retry/DLQ
  logic (:mod:`dictamesh.events.consume`) counts attempts in-process instead; its "handed
  out ``max_attempts`` times without a commit" rule cannot fire here, so a message that
  crashes the whole process is retried from its committed offset on every restart.
* Group membership is coordinated by the broker, across processes. Rebalances revoke
  every partition (the classic eager protocol), so a member may get its own uncommitted
  messages again after another member joins or leaves. A :meth:`KafkaConsumer.commit` for
  a partition lost to a rebalance is skipped with a warning instead of failing: its new
  owner reads from the last commit, exactly as if this member had crashed.
* :meth:`KafkaBus.publish_many` is pipelined, not all-or-none.
* While the broker is unreachable, a publish waits (the idempotent producer keeps retrying
  in the background) for at most ``delivery_timeout_ms``, then raises
  :class:`~dictamesh.core.errors.EventBusError`. The record stays queued and may still be
  written once the broker is back, so publishing it again can make a duplicate: consumers
  dedupe (by ``event_id``), as they must under at-least-once delivery anyway.
* Topics are created by :meth:`KafkaBus.ensure_topic` (and, with ``auto_create_topics``,
  on first publish to / subscription of a topic this bus has not created yet); a topic that
  already exists is left as it is, even if its configuration differs from the spec.
* A client that cannot bootstrap (a refused login, an untrusted certificate) fails at once
  with an :class:`EventBusError` naming the cause, not after retrying.

Example::

    async with KafkaBus("127.0.0.1:9092") as bus:   # creates DEFAULT_TOPICS
        await bus.publish("customers.directus.entity_changed", value, key="c-1")
        async with bus.consumer("catalog-ingest", ["customers.directus.entity_changed"]) as c:
            for msg in await c.poll(max_records=100, timeout=1.0):
                handle(msg)
                await c.commit(msg)
        print(await bus.lag("catalog-ingest"))
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

from pydantic import ValidationError as PydanticValidationError

from dictamesh.core.bus_config import KafkaClientSettings, TopicSettings
from dictamesh.core.errors import (
    ConfigurationError,
    DictaMeshError,
    EventBusError,
    MissingDependencyError,
    ValidationError,
)
from dictamesh.core.lifecycle import AsyncResource
from dictamesh.events._start_offsets import start_positions
from dictamesh.events.bus import Message, PartitionLag, RecordMetadata, StartOffsets, TopicInfo
from dictamesh.events.kafka_client import (
    aiokafka_security,
    explain_connect_failure,
    hide_sasl_bytes_in_logs,
    ssl_context,
)
from dictamesh.events.topics import DEFAULT_TOPICS, TopicSpec, configured_spec

__all__ = ["KafkaBus", "KafkaConsumer", "PartitionLag", "Record", "topic_configs"]

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS: Final = 36
_DLQ_SUFFIX: Final = ".dlq"


def _aiokafka() -> Any:
    try:
        import aiokafka
        import aiokafka.admin
        import aiokafka.admin.config_resource
        import aiokafka.codec
        import aiokafka.errors
    except ImportError as exc:
        raise MissingDependencyError("aiokafka", "kafka") from exc
    return aiokafka


@contextmanager
def _kafka_errors(action: str, **details: Any) -> Iterator[None]:
    """Turn aiokafka's (and socket) errors into :class:`EventBusError` at the boundary."""
    errors = _aiokafka().errors
    try:
        yield
    except DictaMeshError:
        raise
    except (errors.KafkaError, OSError, TimeoutError) as exc:
        raise EventBusError(f"Kafka {action} failed: {exc!r}", **details) from exc


def topic_configs(spec: TopicSpec, *, min_insync_replicas: int | None = None) -> dict[str, str]:
    """The topic-level Kafka configs a :class:`TopicSpec` asks for.

    ``min_insync_replicas`` (``bus.kafka.min_insync_replicas``) applies when the spec sets
    none itself; with neither, the broker's default holds.
    """
    configs = {
        "retention.ms": "-1" if spec.retention_ms is None else str(spec.retention_ms),
        "cleanup.policy": spec.cleanup_policy.value,
    }
    # a per-topic value (a bus.topics entry) wins over bus.kafka's default
    min_isr = spec.min_insync_replicas or min_insync_replicas
    if min_isr is not None:
        configs["min.insync.replicas"] = str(min_isr)
    return configs


Record = tuple[bytes, str | None, Mapping[str, bytes] | None]
"""``(value, key, headers)`` for :meth:`KafkaBus.publish_many` (as for the embedded bus)."""
TopicRecord = tuple[str, bytes, str | None, Mapping[str, bytes] | None]
"""``(topic, value, key, headers)`` for :meth:`KafkaBus.enqueue_many`."""


def _check_record(value: object, key: object, headers: object) -> None:
    # Same checks and error type as the embedded bus, before anything reaches aiokafka.
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ValidationError(f"record value must be bytes, got {type(value).__name__}")
    if key is not None and not isinstance(key, str):
        raise ValidationError(f"record key must be str or None, got {type(key).__name__}")
    if headers is not None:
        if not isinstance(headers, Mapping):
            raise ValidationError(f"record headers must be a mapping, got {type(headers).__name__}")
        for name, val in headers.items():
            if not isinstance(name, str) or not isinstance(val, bytes | bytearray | memoryview):
                raise ValidationError("headers must map str to bytes")


def _kafka_value(value: bytes, key: str | None) -> bytes | None:
    """Empty is the mesh's tombstone; Kafka's is null (compaction drops that). A tombstone
    needs a key: Kafka refuses a record without key and value."""
    if value:
        return value if type(value) is bytes else bytes(value)
    return None if key is not None else b""


def _kafka_headers(headers: Mapping[str, bytes] | None) -> list[tuple[str, bytes]] | None:
    if not headers:
        return None
    return [(k, v if type(v) is bytes else bytes(v)) for k, v in headers.items()]


def _compression(wanted: str | None) -> str | None:
    """aiokafka's ``compression_type`` for ``bus.kafka.compression_type``."""
    codec = _aiokafka().codec
    if wanted == "auto":
        # aiokafka's lz4 needs the optional `cramjam` wheel; without it, send uncompressed
        # (events are small).
        return "lz4" if codec.has_lz4() else None
    if wanted in (None, "none"):
        return None
    available = getattr(codec, f"has_{wanted}", None)
    if available is None:
        raise ConfigurationError(f"unknown Kafka compression_type {wanted!r}")
    if not available():
        raise ConfigurationError(
            f"Kafka compression_type {wanted!r} needs the 'cramjam' package (aiokafka's"
            " codecs), which is not installed"
        )
    return wanted


def _with_overrides(
    settings: KafkaClientSettings, overrides: Mapping[str, Any]
) -> KafkaClientSettings:
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return settings
    try:
        # validated again as a whole: an override must not break a combination rule
        return KafkaClientSettings.model_validate({**dict(settings), **given})
    except PydanticValidationError as exc:
        problems = "; ".join(
            ".".join(str(p) for p in e["loc"])
            + (": " if e["loc"] else "")
            + str(e["msg"]).removeprefix("Value error, ")
            for e in exc.errors()
        )
        raise ConfigurationError(f"invalid Kafka client options: {problems}") from None


class KafkaBus(AsyncResource):
    """An :class:`~dictamesh.events.bus.EventBus` on Apache Kafka (aiokafka).

    ``topic_specs`` are the topics this bus knows how to create; :meth:`connect` creates
    them when ``auto_create_topics`` is on (the default), and they give the partitions and
    retention of their ``.dlq`` topics too. Topics outside them are created with
    :class:`TopicSpec` defaults on first use. Set ``auto_create_topics=False`` where topics
    are managed outside the application (and the principal may not create topics).
    ``topic_settings`` (``bus.topics``) override the partitions, replication, min ISR,
    retention and cleanup policy of every topic this bus creates.

    ``delivery_timeout_ms`` bounds how long :meth:`publish` waits for the broker's
    acknowledgement (see the module docstring for what a timeout means).

    ``settings`` (``bus.kafka``, :class:`KafkaClientSettings`) give the security (SASL,
    TLS) of every client this bus starts — producer, consumers, admin and offsets clients —
    their tuning, and the partitions, replication factor and ``min.insync.replicas`` of the
    topics it creates when the spec does not set them (``system.*`` topics
    ``system_partitions``, others ``domain_partitions``). The tuning keywords
    (``linger_ms``, ``request_timeout_ms``, ...) override single settings.

    Consumer group timings default to a quick failover (``session_timeout_ms=10000``,
    ``heartbeat_interval_ms=1000``): a member that dies without leaving the group holds its
    partitions for up to the session timeout. Any other aiokafka option goes through
    ``producer_config``/``consumer_config``.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        settings: KafkaClientSettings | None = None,
        client_id: str = "dictamesh",
        topic_specs: Iterable[TopicSpec] = DEFAULT_TOPICS,
        auto_create_topics: bool = True,
        linger_ms: int | None = None,
        compression_type: str | None = None,
        request_timeout_ms: int | None = None,
        delivery_timeout_ms: int | None = None,
        session_timeout_ms: int | None = None,
        heartbeat_interval_ms: int | None = None,
        max_poll_interval_ms: int | None = None,
        producer_config: Mapping[str, Any] | None = None,
        consumer_config: Mapping[str, Any] | None = None,
        topic_settings: Sequence[TopicSettings] = (),
    ) -> None:
        _aiokafka()  # fail at construction, not at first use, if the extra is missing
        overrides = {
            "linger_ms": linger_ms,
            "compression_type": compression_type,
            "request_timeout_ms": request_timeout_ms,
            "delivery_timeout_ms": delivery_timeout_ms,
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": heartbeat_interval_ms,
            "max_poll_interval_ms": max_poll_interval_ms,
        }
        cfg = _with_overrides(settings or KafkaClientSettings(), overrides)
        self.settings = cfg
        self.bootstrap_servers = bootstrap_servers
        self.delivery_timeout_ms = cfg.delivery_timeout_ms
        self.client_id = client_id
        self.auto_create_topics = auto_create_topics
        self.request_timeout_ms = cfg.request_timeout_ms
        self.ping_timeout = 5.0
        #: ``bus.topics``: applied to every topic this bus creates (:meth:`_resolve`)
        self.topic_settings = tuple(topic_settings)
        self._specs: dict[str, TopicSpec] = {s.name: self._resolve(s) for s in topic_specs}
        if cfg.security_protocol.uses_sasl:
            hide_sasl_bytes_in_logs()
        # Built once (TLS files are read here: a bad one fails now), shared by every client.
        self._ssl_context = ssl_context(cfg) if cfg.security_protocol.uses_tls else None
        self.producer_config: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "client_id": client_id,
            "enable_idempotence": cfg.enable_idempotence,
            "acks": cfg.acks if cfg.acks == "all" else int(cfg.acks),
            "linger_ms": cfg.linger_ms,
            "max_batch_size": cfg.max_batch_size,
            "max_request_size": cfg.max_request_size,
            "compression_type": _compression(cfg.compression_type),
            "request_timeout_ms": cfg.request_timeout_ms,
            **(producer_config or {}),
        }
        self.consumer_config: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "client_id": client_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "isolation_level": "read_committed",
            "max_poll_records": cfg.max_poll_records,
            "fetch_max_bytes": cfg.fetch_max_bytes,
            "max_partition_fetch_bytes": cfg.max_partition_fetch_bytes,
            "session_timeout_ms": cfg.session_timeout_ms,
            "heartbeat_interval_ms": cfg.heartbeat_interval_ms,
            "max_poll_interval_ms": cfg.max_poll_interval_ms,
            "request_timeout_ms": cfg.request_timeout_ms,
            **(consumer_config or {}),
        }
        self._producer: Any = None
        self._admin_client: Any = None
        self._offsets_client: Any = None
        self._reader_client: Any = None
        self._clients_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()
        self._created: set[str] = set()
        self._lock = asyncio.Lock()
        self._closed = False
        self._consumers: weakref.WeakSet[KafkaConsumer] = weakref.WeakSet()

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        """Start the producer (and create ``topic_specs``); idempotent."""
        if self._closed:
            raise EventBusError("KafkaBus is closed", bootstrap_servers=self.bootstrap_servers)
        if self._producer is not None:
            return
        async with self._lock:
            if self._producer is not None:
                return
            aiokafka = _aiokafka()
            producer = aiokafka.AIOKafkaProducer(**self.producer_config, **self._security())
            await self._start(producer, producer.stop, "connect")
            self._producer = producer
        if self.auto_create_topics and self._specs:
            await self.ensure_topics(self._specs.values())

    def _security(self) -> dict[str, Any]:
        # Built for each client, never stored: it holds the SASL password in clear.
        return aiokafka_security(self.settings, self._ssl_context)

    async def _start(self, client: Any, stop: Any, action: str, **details: Any) -> None:
        """``client.start()``, its failure an :class:`EventBusError` saying why.

        aiokafka reports a failed bootstrap only as "Unable to bootstrap" (the cause, say a
        refused password, goes to its log): one direct connection then finds the cause.
        """
        errors = _aiokafka().errors
        details.setdefault("bootstrap_servers", self.bootstrap_servers)
        try:
            try:
                with _kafka_errors(action, **details):
                    await client.start()
            except EventBusError as exc:
                if not isinstance(exc.__cause__, errors.KafkaConnectionError):
                    raise
                timeout = min(self.request_timeout_ms / 1000, 10.0)
                reason = await explain_connect_failure(
                    self.bootstrap_servers, self._security(), timeout
                )
                if reason is None:
                    raise
                raise EventBusError(f"Kafka {action} failed: {reason}", **details) from exc
        except BaseException:
            await stop()
            raise

    async def aclose(self) -> None:
        """Close live consumers, the producer (flushing it) and the admin clients.

        Records the broker has not acknowledged within ``delivery_timeout_ms`` (it is
        unreachable) are dropped, with a warning, rather than blocking the shutdown.
        """
        self._closed = True
        for consumer in list(self._consumers):
            try:
                await consumer.aclose()
            except EventBusError:
                log.warning("closing a consumer of group %s failed", consumer.group, exc_info=True)
        producer, self._producer = self._producer, None
        admin, self._admin_client = self._admin_client, None
        offsets, self._offsets_client = self._offsets_client, None
        reader, self._reader_client = self._reader_client, None
        try:
            if producer is not None:
                with _kafka_errors("closing the producer"):
                    await self._stop_producer(producer)
        finally:
            if admin is not None:
                await admin.close()
            if offsets is not None:
                await offsets.stop()
            if reader is not None:
                await reader.stop()

    async def _stop_producer(self, producer: Any) -> None:
        # stop() flushes first, and the idempotent producer never gives up on a batch: with
        # the broker down it would wait for the whole outage (forever, if it never ends).
        stopping = asyncio.ensure_future(producer.stop())
        timeout = self.delivery_timeout_ms / 1000
        done, _ = await asyncio.wait({stopping}, timeout=timeout)
        if done:
            stopping.result()
            return
        sender_task = getattr(getattr(producer, "_sender", None), "sender_task", None)
        accumulator = getattr(producer, "_message_accumulator", None)
        if sender_task is None or accumulator is None:  # not the aiokafka we know: wait
            await stopping
            return
        log.warning(
            "Kafka producer: records not acknowledged within %gs of closing (broker"
            " unreachable?); dropping them",
            timeout,
        )
        # Without its sender task stop() gives up flushing and closes the connections;
        # then the dropped records' futures (and the abandoned flush) are failed.
        sender_task.cancel()
        try:
            await stopping
        finally:
            _fail_unsent(accumulator, _aiokafka().errors.KafkaTimeoutError("producer closed"))

    async def ping(self) -> bool:
        """True if the cluster answers a metadata request within ``ping_timeout`` seconds."""
        producer = self._producer
        if producer is None or self._closed:
            return False
        try:
            async with asyncio.timeout(self.ping_timeout):
                await producer.client.fetch_all_metadata()
        except Exception:
            log.debug("kafka ping failed", exc_info=True)
            return False
        return True

    async def _ready_producer(self) -> Any:
        if self._producer is None:
            await self.connect()
        return self._producer

    async def _admin(self) -> Any:
        if self._closed:
            raise EventBusError("KafkaBus is closed")
        if self._admin_client is None:
            # locked: concurrent first callers (lag of many groups) must share one client
            async with self._clients_lock:
                if self._admin_client is None:
                    aiokafka = _aiokafka()
                    admin = aiokafka.admin.AIOKafkaAdminClient(
                        bootstrap_servers=self.bootstrap_servers,
                        client_id=f"{self.client_id}-admin",
                        request_timeout_ms=self.request_timeout_ms,
                        **self._security(),
                    )
                    await self._start(admin, admin.close, "admin connect")
                    self._admin_client = admin
        return self._admin_client

    # -- topics ----------------------------------------------------------------------------

    def spec_for(self, topic: str) -> TopicSpec | None:
        """The spec this bus would create ``topic`` with (None: not a valid mesh topic name).

        A ``.dlq`` topic takes its base topic's partitions, replication and retention, but
        is never compacted (compaction would drop all but the last poison message per key).
        """
        spec = self._specs.get(topic)
        if spec is not None:
            return spec
        if topic.endswith(_DLQ_SUFFIX):
            base = self._specs.get(topic.removesuffix(_DLQ_SUFFIX))
            if base is not None:
                return TopicSpec(
                    name=topic,
                    partitions=base.partitions,
                    replication_factor=base.replication_factor,
                    retention_ms=base.retention_ms,
                    min_insync_replicas=base.min_insync_replicas,
                )
        try:
            return self._resolve(TopicSpec(name=topic))
        except ValueError:
            return None

    def _resolve(self, spec: TopicSpec) -> TopicSpec:
        """``spec`` with ``bus.kafka``'s partitions and replication factor where it sets none
        (``TopicSpec``'s own defaults are the embedded bus's), then the ``bus.topics`` entry
        matching it, which wins over both."""
        given = spec.model_fields_set
        update: dict[str, Any] = {}
        if "partitions" not in given:
            update["partitions"] = self.settings.partitions_for(spec.name)
        if "replication_factor" not in given:
            update["replication_factor"] = self.settings.replication_factor
        defaults = spec.model_copy(update=update) if update else spec
        return configured_spec(defaults, self.topic_settings)

    async def ensure_topic(self, spec: TopicSpec) -> None:
        """Create the topic if missing (idempotent); an existing topic is left untouched.

        ``bus.kafka``'s partitions and replication, then ``bus.topics``, apply to ``spec``."""
        spec = self._resolve(spec)
        self._specs.setdefault(spec.name, spec)
        await self.ensure_topics([spec])

    async def ensure_topics(self, specs: Iterable[TopicSpec]) -> None:
        """Create several topics in one request (those that exist are left untouched)."""
        wanted = {s.name: self._resolve(s) for s in specs}
        if not wanted:
            return
        aiokafka = _aiokafka()
        admin = await self._admin()
        new_topics = [
            aiokafka.admin.NewTopic(
                name=s.name,
                num_partitions=s.partitions,
                replication_factor=s.replication_factor,
                topic_configs=topic_configs(
                    s, min_insync_replicas=self.settings.min_insync_replicas
                ),
            )
            for s in wanted.values()
        ]
        with _kafka_errors("create topics", topics=sorted(wanted)):
            response = await admin.create_topics(new_topics)
        failures = []
        accepted = []
        for item in response.topic_errors:
            name, code = item[0], item[1]
            message = item[2] if len(item) > 2 else None
            if code in (0, _TOPIC_ALREADY_EXISTS):
                self._created.add(name)
                accepted.append(name)
                continue
            error = aiokafka.errors.for_code(code)
            failures.append(f"{name}: {error.__name__} ({message or error.description})")
        if failures:
            raise EventBusError(
                "Kafka refused to create topic(s): " + "; ".join(failures),
                topics=sorted(wanted),
            )
        # "Already exists" may mean another node created it a moment ago, and the broker we
        # describe through may not know it yet: wait for those as for our own.
        if accepted:
            await self._await_metadata(accepted)

    async def _await_metadata(self, topics: list[str]) -> None:
        """Wait (at most ``request_timeout_ms``) until the broker knows (freshly created) topics.

        The controller answers CreateTopics before the brokers have the new topic in their
        metadata; a describe (or produce) in that moment says "unknown topic".
        """
        admin = await self._admin()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout_ms / 1000
        pending = list(topics)
        while pending and loop.time() < deadline:
            with _kafka_errors("describe topics", topics=pending):
                described = await admin.describe_topics(pending)
            pending = [item["topic"] for item in described if item["error_code"]]
            if pending:
                await asyncio.sleep(0.05)

    async def _maybe_create(self, topics: Iterable[str]) -> None:
        if not self.auto_create_topics:
            return
        missing = [t for t in dict.fromkeys(topics) if t not in self._created]
        specs = [spec for t in missing if (spec := self.spec_for(t)) is not None]
        if specs:
            await self.ensure_topics(specs)

    async def describe_topic_configs(
        self, topic: str, *, overrides_only: bool = False
    ) -> dict[str, str]:
        """A topic's effective configuration (``retention.ms``, ``cleanup.policy``, ...);
        ``overrides_only``: just what is set on the topic itself (at creation or since), not
        the broker's defaults."""
        aiokafka = _aiokafka()
        admin = await self._admin()
        resource = aiokafka.admin.config_resource.ConfigResource(
            aiokafka.admin.config_resource.ConfigResourceType.TOPIC, topic
        )
        with _kafka_errors("describe configs", topic=topic):
            responses = await admin.describe_configs([resource])
        configs: dict[str, str] = {}
        for response in responses:
            for resource_result in response.resources:
                error_code, error_message = resource_result[0], resource_result[1]
                if error_code:
                    error = aiokafka.errors.for_code(error_code)
                    raise EventBusError(
                        f"Kafka describe configs of {topic!r} failed: {error.__name__}"
                        f" ({error_message or error.description})",
                        topic=topic,
                    )
                for entry in resource_result[4]:
                    if overrides_only and not _set_on_topic(response.API_VERSION, entry):
                        continue
                    configs[entry[0]] = entry[1]
        return configs

    async def partitions_for(self, topic: str) -> list[int]:
        """The partition ids of ``topic`` (EventBusError if it does not exist)."""
        return (await self._partitions([topic]))[topic]

    async def _partitions(self, topics: Sequence[str]) -> dict[str, list[int]]:
        aiokafka = _aiokafka()
        admin = await self._admin()
        with _kafka_errors("describe topics", topics=list(topics)):
            described = await admin.describe_topics(list(topics))
        result: dict[str, list[int]] = {}
        for item in described:
            if item["error_code"]:
                error = aiokafka.errors.for_code(item["error_code"])
                raise EventBusError(
                    f"Kafka topic {item['topic']!r}: {error.__name__}", topic=item["topic"]
                )
            result[item["topic"]] = sorted(p["partition"] for p in item["partitions"])
        return result

    async def topic_names(self) -> list[str]:
        """Every topic but Kafka's internal ones (``__consumer_offsets``...), sorted."""
        admin = await self._admin()
        with _kafka_errors("list topics"):
            return sorted(t for t in await admin.list_topics() if not t.startswith("__"))

    async def describe_topics(self, topics: Sequence[str]) -> list[TopicInfo]:
        """Partitions, ``retention.ms`` and ``cleanup.policy`` of ``topics`` (two requests
        however many topics: one DescribeTopics, one DescribeConfigs)."""
        if not topics:
            return []
        aiokafka = _aiokafka()
        partitions = await self._partitions(topics)
        admin = await self._admin()
        kind = aiokafka.admin.config_resource.ConfigResourceType.TOPIC
        resources = [aiokafka.admin.config_resource.ConfigResource(kind, t) for t in topics]
        with _kafka_errors("describe configs", topics=list(topics)):
            responses = await admin.describe_configs(resources)
        configs: dict[str, dict[str, str]] = {}
        for response in responses:
            for error_code, _message, _kind, name, entries, *_ in response.resources:
                if not error_code:
                    configs[name] = {entry[0]: entry[1] for entry in entries}
        infos = []
        for topic in topics:
            config = configs.get(topic, {})
            retention = int(config.get("retention.ms", "-1"))
            infos.append(
                TopicInfo(
                    topic,
                    len(partitions[topic]),
                    None if retention < 0 else retention,
                    config.get("cleanup.policy", "delete"),
                )
            )
        return infos

    async def consumer_groups(self) -> list[str]:
        """The ids of every consumer group the cluster knows, sorted."""
        admin = await self._admin()
        with _kafka_errors("list consumer groups"):
            groups = await admin.list_consumer_groups()
        return sorted({g[0] for g in groups})

    async def _reader(self) -> Any:
        # A group-less consumer for read(): assign + seek, never a group, never a commit.
        if self._closed:
            raise EventBusError("KafkaBus is closed")
        if self._reader_client is None:
            aiokafka = _aiokafka()
            config = self.consumer_config
            client = aiokafka.AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                client_id=f"{self.client_id}-reader",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",  # an offset retention removed: the oldest kept
                isolation_level=config.get("isolation_level", "read_committed"),
                request_timeout_ms=self.request_timeout_ms,
                fetch_max_bytes=config["fetch_max_bytes"],
                max_partition_fetch_bytes=config["max_partition_fetch_bytes"],
                **self._security(),
            )
            await self._start(client, client.stop, "reader connect")
            self._reader_client = client
        return self._reader_client

    async def read(
        self,
        topic: str,
        partition: int,
        offset: int = 0,
        max_records: int = 1000,
        timeout: float = 1.0,
    ) -> list[Message]:
        """Up to ``max_records`` messages of one partition from ``offset`` on, outside any
        consumer group (assign and seek: nothing joins, nothing is committed), as the
        embedded bus's ``read``. Waits up to ``timeout`` s when there is nothing there yet;
        may return fewer than exist (one fetch), so callers loop up to the end offset."""
        if max_records < 1:
            raise ValidationError("max_records must be >= 1")
        aiokafka = _aiokafka()
        tp = aiokafka.TopicPartition(topic, partition)
        async with self._read_lock:  # one reader, one assignment at a time
            client = await self._reader()
            with _kafka_errors("read", topic=topic, partition=partition):
                client.assign([tp])
                client.seek(tp, max(0, offset))
                batch = await client.getmany(
                    tp, timeout_ms=max(0, int(timeout * 1000)), max_records=max_records
                )
        return [_message(record) for record in batch.get(tp, [])]

    # -- producing -------------------------------------------------------------------------

    async def publish(
        self,
        topic: str,
        value: bytes,
        key: str | None = None,
        headers: Mapping[str, bytes] | None = None,
    ) -> RecordMetadata:
        """Append one record and wait until all in-sync replicas have it (``acks=all``).

        An empty ``value`` (:data:`~dictamesh.events.bus.TOMBSTONE`) with a key is written as
        Kafka's null value: a tombstone, which compaction uses to drop the key."""
        _check_record(value, key, headers)
        producer = await self._ready_producer()
        await self._maybe_create([topic])
        future = await self._send(producer, topic, value, key, headers)
        metadata = await self._delivered(future, topic)
        return RecordMetadata(metadata.topic, metadata.partition, metadata.offset)

    async def publish_many(self, topic: str, records: Iterable[Record]) -> list[RecordMetadata]:
        """Publish ``(value, key, headers)`` records to ``topic``, pipelined.

        Same partitioning and per-key order as calling :meth:`publish` for each in turn
        (the idempotent producer keeps per-partition order across retries), but batched:
        much faster than awaiting one publish after another. Unlike the embedded bus it is
        not all-or-none: on failure some records may have been written.
        """
        return await (await self.enqueue_many((topic, *record) for record in records))

    async def enqueue_many(
        self, records: Iterable[TopicRecord]
    ) -> asyncio.Task[list[RecordMetadata]]:
        """Hand ``(topic, value, key, headers)`` records to the producer in order and return
        once they are queued (it waits only while the producer's buffer for a partition is
        full), with a task that ends when the broker acknowledged them all (raising as
        :meth:`publish_many` would).

        A caller that queues more records meanwhile overlaps its own work with the sends;
        records queued by one caller, one call after another, keep their order per key.
        Interleaving the topics record by record (as they come) fills every partition's
        batch at once: one produce request carries them all. Await the returned task.
        """
        producer = await self._ready_producer()
        batch = list(records)
        for _, value, key, headers in batch:
            _check_record(value, key, headers)
        if batch:
            await self._maybe_create(t for t, *_ in batch)
        futures = []
        topics = {t for t, *_ in batch}
        what = next(iter(topics)) if len(topics) == 1 else "several topics"
        try:
            with _kafka_errors("publish", topic=what, records=len(batch)):  # once per call
                for topic, value, key, headers in batch:
                    futures.append(
                        await producer.send(
                            topic,
                            value=_kafka_value(value, key),
                            key=None if key is None else key.encode(),
                            headers=_kafka_headers(headers),
                        )
                    )
        except BaseException:
            for future in futures:  # queued already: their outcome is nobody's to await
                future.add_done_callback(_consume_result)
            raise
        return asyncio.ensure_future(self._acknowledged(futures, what))

    async def _acknowledged(self, futures: list[Any], topic: str) -> list[RecordMetadata]:
        if not futures:
            return []
        results = await self._delivered(asyncio.gather(*futures), topic, records=len(futures))
        return [RecordMetadata(m.topic, m.partition, m.offset) for m in results]

    async def _delivered(self, pending: asyncio.Future[Any], topic: str, **details: Any) -> Any:
        """``pending``'s result, waiting at most ``delivery_timeout_ms``.

        The idempotent producer never expires a batch (aiokafka retries it until the broker
        answers), so without this bound a publish would hang for the whole outage.
        """
        timeout = self.delivery_timeout_ms / 1000
        # asyncio.wait, not wait_for: a timeout must not cancel the queued record's future.
        done, _ = await asyncio.wait({pending}, timeout=timeout)
        if not done:
            pending.add_done_callback(_consume_result)
            raise EventBusError(
                f"Kafka publish to {topic!r} not acknowledged within {timeout:g}s (broker"
                " unreachable?); the record stays queued and may still be written",
                topic=topic,
                timeout_seconds=timeout,
                **details,
            )
        with _kafka_errors("publish", topic=topic, **details):
            return pending.result()

    async def _send(
        self,
        producer: Any,
        topic: str,
        value: bytes,
        key: str | None,
        headers: Mapping[str, bytes] | None,
    ) -> Any:
        _check_record(value, key, headers)
        with _kafka_errors("publish", topic=topic):
            return await producer.send(
                topic,
                value=_kafka_value(value, key),
                key=None if key is None else key.encode(),
                headers=_kafka_headers(headers),
            )

    # -- consuming -------------------------------------------------------------------------

    def consumer(
        self,
        group: str,
        topics: Sequence[str],
        *,
        initial_offsets: StartOffsets | None = None,
        **config: Any,
    ) -> KafkaConsumer:
        """A member of ``group`` subscribed to ``topics``; it joins on ``connect``
        (``async with``, or the first poll). ``initial_offsets``: where partitions the group
        never committed on start (see :meth:`EventBus.consumer
        <dictamesh.events.bus.EventBus.consumer>`). ``config`` overrides aiokafka consumer
        options for this member."""
        if self._closed:
            raise EventBusError("KafkaBus is closed")
        consumer = KafkaConsumer(
            self,
            group,
            topics,
            {**self.consumer_config, **config},
            initial_offsets=initial_offsets,
        )
        self._consumers.add(consumer)
        return consumer

    # -- offsets and lag -------------------------------------------------------------------

    async def _offsets(self) -> Any:
        # A group-less consumer only used for ListOffsets (the admin client has no API for it).
        if self._closed:
            raise EventBusError("KafkaBus is closed")
        if self._offsets_client is None:
            async with self._clients_lock:  # one client for concurrent first callers
                if self._offsets_client is None:
                    aiokafka = _aiokafka()
                    client = aiokafka.AIOKafkaConsumer(
                        bootstrap_servers=self.bootstrap_servers,
                        client_id=f"{self.client_id}-offsets",
                        isolation_level=self.consumer_config.get(
                            "isolation_level", "read_committed"
                        ),
                        request_timeout_ms=self.request_timeout_ms,
                        enable_auto_commit=False,
                        **self._security(),
                    )
                    await self._start(client, client.stop, "offsets client connect")
                    self._offsets_client = client
        return self._offsets_client

    async def end_offsets(self, topics: Sequence[str] | None = None) -> dict[str, dict[int, int]]:
        """Next offset to be written per partition (``{topic: {partition: offset}}``); under
        ``read_committed`` that is the last stable offset. ``None``: every non-internal topic.
        """
        return _nest(await self._list_offsets(topics, end=True))

    async def beginning_offsets(
        self, topics: Sequence[str] | None = None
    ) -> dict[str, dict[int, int]]:
        """Earliest offset still retained per partition (``{topic: {partition: offset}}``)."""
        return _nest(await self._list_offsets(topics, end=False))

    async def _list_offsets(
        self, topics: Sequence[str] | None, *, end: bool
    ) -> dict[tuple[str, int], int]:
        if topics is None:
            admin = await self._admin()
            with _kafka_errors("list topics"):
                topics = sorted(t for t in await admin.list_topics() if not t.startswith("__"))
        if not topics:
            return {}
        aiokafka = _aiokafka()
        partitions = await self._partitions(topics)
        tps = [aiokafka.TopicPartition(t, p) for t, ps in partitions.items() for p in ps]
        client = await self._offsets()
        with _kafka_errors("list offsets", topics=list(topics)):
            # ListOffsets goes to each partition's leader; aiokafka (0.12-0.14 internals)
            # learns unknown topics' leaders one topic per metadata round trip (~0.1 s
            # each, 10 s for 100 topics): ask for all of them in one.
            pending = [client._client.add_topic(t) for t in partitions]
            await asyncio.gather(*pending)
            offsets = await (client.end_offsets(tps) if end else client.beginning_offsets(tps))
        return {(tp.topic, tp.partition): int(offset) for tp, offset in offsets.items()}

    async def committed_offsets(
        self, group: str, topics: Sequence[str] | None = None
    ) -> dict[str, dict[int, int]]:
        """Next offset the group reads per partition it committed on."""
        return _nest(await self._committed(group, topics))

    async def _committed(
        self, group: str, topics: Sequence[str] | None
    ) -> dict[tuple[str, int], int]:
        admin = await self._admin()
        with _kafka_errors("list consumer group offsets", group=group):
            offsets = await admin.list_consumer_group_offsets(group)
        wanted = None if topics is None else set(topics)
        return {
            (tp.topic, tp.partition): int(meta.offset)
            for tp, meta in offsets.items()
            if meta.offset >= 0 and (wanted is None or tp.topic in wanted)
        }

    async def lag(
        self, group: str, topics: Sequence[str] | None = None
    ) -> dict[str, dict[int, int]]:
        """Messages the group has yet to commit, per partition (as the embedded bus reports).

        Without ``topics``: the topics the group has committed offsets on. A partition the
        group never committed on counts from its earliest retained offset (where the group
        would start: ``auto.offset.reset=earliest``).
        """
        out: dict[str, dict[int, int]] = {}
        for item in await self.lag_details(group, topics):
            out.setdefault(item.topic, {})[item.partition] = item.lag
        return out

    async def lag_details(
        self, group: str, topics: Sequence[str] | None = None
    ) -> list[PartitionLag]:
        """:meth:`lag` with the committed and end offsets behind each number."""
        committed = await self._committed(group, topics)
        names = sorted({t for t, _ in committed} if topics is None else set(topics))
        if not names:
            return []
        ends = await self._list_offsets(names, end=True)
        starts = await self._list_offsets(names, end=False)
        result = []
        for (topic, partition), end in sorted(ends.items()):
            done = committed.get((topic, partition))
            start = starts.get((topic, partition), 0)
            position = start if done is None else max(done, start)
            result.append(PartitionLag(topic, partition, done, end, max(0, end - position)))
        return result

    async def total_lag(self, group: str, topics: Sequence[str] | None = None) -> int:
        return sum(p.lag for p in await self.lag_details(group, topics))


def _set_on_topic(version: int, entry: Sequence[Any]) -> bool:
    # DescribeConfigs v0 says is_default; v1+ says config_source (1: DYNAMIC_TOPIC_CONFIG)
    return not entry[3] if version == 0 else entry[3] == 1


def _nest(flat: Mapping[tuple[str, int], int]) -> dict[str, dict[int, int]]:
    out: dict[str, dict[int, int]] = {}
    for (topic, partition), value in sorted(flat.items()):
        out.setdefault(topic, {})[partition] = value
    return out


class KafkaConsumer(AsyncResource):
    """A consumer group member (:class:`~dictamesh.events.bus.Consumer`) on aiokafka.

    Offsets are committed only by :meth:`commit` (never automatically) and never move
    backwards through it. ``Message.delivery_count`` is always 0 on Kafka (see the module
    docstring): redelivery counting belongs to the in-process retry logic.
    """

    def __init__(
        self,
        bus: KafkaBus,
        group: str,
        topics: Sequence[str],
        config: dict[str, Any],
        *,
        initial_offsets: StartOffsets | None = None,
    ) -> None:
        if not group or not isinstance(group, str):
            raise ValidationError("consumer group must be a non-empty string")
        if isinstance(topics, str) or not topics:
            raise ValidationError("topics must be a non-empty list of topic names")
        self.bus = bus
        self.group = group
        self.topics: tuple[str, ...] = tuple(dict.fromkeys(topics))
        self.config = config
        self._initial = start_positions(initial_offsets)
        #: why the start of newly assigned partitions failed; the next poll raises it
        self._start_error: BaseException | None = None
        self._consumer: Any = None
        self._committed: dict[tuple[str, int], int] = {}
        self._start_lock = asyncio.Lock()
        self._closed = False

    async def connect(self) -> None:
        """Join the group and wait for a partition assignment; idempotent."""
        if self._closed:
            raise EventBusError("consumer is closed", group=self.group)
        if self._consumer is not None:
            return
        async with self._start_lock:
            if self._consumer is not None:
                return
            await self.bus._ready_producer()
            # Subscribing to a missing topic would wait request_timeout_ms, then fail.
            await self.bus._maybe_create(self.topics)
            aiokafka = _aiokafka()
            if self._initial is None:
                consumer = aiokafka.AIOKafkaConsumer(
                    *self.topics, group_id=self.group, **self.config, **self.bus._security()
                )
            else:
                consumer = aiokafka.AIOKafkaConsumer(
                    group_id=self.group, **self.config, **self.bus._security()
                )
                aiokafka.ConsumerRebalanceListener.register(_StartUncommitted)
                consumer.subscribe(list(self.topics), listener=_StartUncommitted(self, consumer))
            await self.bus._start(
                consumer, consumer.stop, "consumer join", group=self.group, topics=list(self.topics)
            )
            self._consumer = consumer

    async def poll(self, max_records: int = 100, timeout: float = 1.0) -> list[Message]:
        """Up to ``max_records`` next messages, waiting up to ``timeout`` s for the first.

        Messages come grouped by partition (topic, then partition number), each partition's
        in offset order. At most ``max_poll_records`` (``bus.kafka``) whatever is asked.
        """
        if max_records < 1:
            raise ValidationError("max_records must be >= 1")
        await self.connect()
        if self._start_error is not None:
            raise EventBusError(
                f"group {self.group}: cannot start the newly assigned partitions at their"
                f" initial offsets: {self._start_error!r}",
                group=self.group,
            ) from self._start_error
        limit = min(max_records, self.config.get("max_poll_records") or max_records)
        with _kafka_errors("poll", group=self.group):
            batch = await self._consumer.getmany(
                timeout_ms=max(0, int(timeout * 1000)), max_records=limit
            )
        messages: list[Message] = []
        for tp in sorted(batch, key=lambda tp: (tp.topic, tp.partition)):
            messages.extend(_message(record) for record in batch[tp])
        return messages

    async def commit(self, message: Message) -> None:
        """Commit ``message`` and everything before it on its partition (offset + 1).

        A commit at or below what this member already committed is a no-op. If a rebalance
        took the partition away since the poll, nothing is committed and a warning logged:
        the partition's new owner gets the message again (at-least-once), just as it would
        had this member crashed. Other failures raise :class:`EventBusError`.
        """
        await self.commit_many([message])

    async def commit_many(self, messages: Iterable[Message]) -> None:
        """Commit the highest offset per partition among ``messages``, in one request."""
        if self._closed:
            raise EventBusError(f"consumer of group {self.group!r} is closed", group=self.group)
        top: dict[tuple[str, int], int] = {}
        for m in messages:
            key = (m.topic, m.partition)
            top[key] = max(top.get(key, -1), m.offset + 1)
        todo = {k: n for k, n in top.items() if n > self._committed.get(k, -1)}
        if not todo:
            return
        await self.connect()
        aiokafka = _aiokafka()
        owned = self.assignment
        revoked = sorted(k for k in todo if k not in owned)
        if revoked:
            log.warning(
                "group %s: not committing %s, no longer assigned to this member after a"
                " rebalance (its new owner gets those messages again)",
                self.group,
                revoked,
            )
        todo = {k: n for k, n in todo.items() if k in owned}
        if not todo:
            return
        offsets = {aiokafka.TopicPartition(t, p): n for (t, p), n in todo.items()}
        try:
            with _kafka_errors("commit", group=self.group, partitions=sorted(todo)):
                await self._consumer.commit(offsets)
        except EventBusError as exc:
            # A rebalance between poll and commit is routine on Kafka, not a failure of the
            # bus: at-least-once holds, the partitions' new owner reads from the last commit.
            rebalanced = (aiokafka.errors.CommitFailedError, aiokafka.errors.IllegalStateError)
            if not isinstance(exc.__cause__, rebalanced):
                raise
            log.warning(
                "group %s: commit of %s lost to a rebalance; those messages will be delivered"
                " again",
                self.group,
                sorted(todo),
            )
            return
        for k, n in todo.items():
            self._committed[k] = max(n, self._committed.get(k, -1))

    async def seek(self, topic: str, partition: int, offset: int) -> None:
        """Make the next poll of this partition start at ``offset`` (nothing is committed)."""
        if offset < 0:
            raise ValidationError("offset must be >= 0")
        await self.connect()
        if (topic, partition) not in self.assignment:
            raise EventBusError(
                f"{topic}[{partition}] is not assigned to this consumer",
                topic=topic,
                partition=partition,
            )
        with _kafka_errors("seek", group=self.group, topic=topic, partition=partition):
            self._consumer.seek(_aiokafka().TopicPartition(topic, partition), offset)

    async def seek_to_committed(self) -> None:
        """Rewind every assigned partition to the group's committed offset (redelivers
        whatever was polled but not committed; partitions never committed go to their
        initial offset, else to the earliest offset, as on join)."""
        await self.connect()
        consumer = self._consumer
        assigned = list(consumer.assignment())
        if not assigned:
            return
        with _kafka_errors("seek to committed", group=self.group):
            committed = await consumer.seek_to_committed(*assigned)
            # aiokafka leaves partitions with no (or a zero) committed offset where they are
            uncommitted = [tp for tp in assigned if not committed.get(tp)]
            if self._initial is None:
                if uncommitted:
                    await consumer.seek_to_beginning(*uncommitted)
                return
            for tp in uncommitted:
                start = committed.get(tp)  # None: never committed; else 0
                if start is None:
                    start = self._initial.get((tp.topic, tp.partition), 0)
                consumer.seek(tp, start)

    async def _start_uncommitted(self, client: Any, assigned: Iterable[Any]) -> None:
        """On assignment: each partition the group never committed on goes to its initial
        offset, and that start is committed, before anything of it is handed out."""
        tps = list(assigned)
        if not tps or self._initial is None:
            return
        # Paused before the first await: the fetcher may already read from the reset
        # position (the earliest message), and a paused partition returns nothing.
        client.pause(*tps)
        try:
            committed = await self.bus._committed(self.group, sorted({t.topic for t in tps}))
            fresh = {
                tp: self._initial.get((tp.topic, tp.partition), 0)
                for tp in tps
                if (tp.topic, tp.partition) not in committed
            }
            for tp, offset in fresh.items():
                client.seek(tp, offset)  # also drops whatever was fetched from elsewhere
        except Exception as exc:
            # aiokafka would only log a listener's error and go on from the earliest
            # message: stay paused and fail the next poll instead.
            self._start_error = exc
            return
        if fresh:
            try:
                await client.commit(fresh)
            except Exception as exc:  # the seek holds; only lag reports the earliest start
                log.warning("group %s: could not commit the start offsets: %r", self.group, exc)
            else:
                for tp, offset in fresh.items():
                    key = (tp.topic, tp.partition)
                    self._committed[key] = max(offset, self._committed.get(key, -1))
        client.resume(*tps)

    @property
    def assignment(self) -> frozenset[tuple[str, int]]:
        """The ``(topic, partition)`` pairs currently assigned to this member."""
        if self._consumer is None:
            return frozenset()
        return frozenset((tp.topic, tp.partition) for tp in self._consumer.assignment())

    async def aclose(self) -> None:
        """Leave the group (its partitions are reassigned at once) and stop fetching."""
        self._closed = True
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with _kafka_errors("consumer close", group=self.group):
                await consumer.stop()


class _StartUncommitted:
    """aiokafka rebalance listener of a consumer with ``initial_offsets`` (registered as a
    virtual ``ConsumerRebalanceListener``: aiokafka is imported lazily)."""

    def __init__(self, owner: KafkaConsumer, client: Any) -> None:
        self.owner = owner
        self.client = client

    def on_partitions_revoked(self, revoked: Any) -> None:
        return None  # commits happen after each handled batch, never here

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.owner._start_uncommitted(self.client, assigned)


def _fail_unsent(accumulator: Any, exc: BaseException) -> None:
    """Fail every record still queued in an aiokafka producer's accumulator (aiokafka
    0.12-0.14 internals; used only once its sender task is gone)."""
    batches = [b for queue in accumulator._batches.values() for b in queue]
    batches += list(accumulator._pending_batches)
    # A batch sent once and re-queued (no answer) left the pending set, but the callback
    # that removes it from there still fires when it completes: keep that a no-op error.
    accumulator._pending_batches.update(batches)
    accumulator.fail_all(exc)
    for batch in batches:
        # Each batch's drain waiter gets the error too, and nobody drains any more.
        waiter = getattr(batch, "_drain_waiter", None)
        if waiter is not None and waiter.done() and not waiter.cancelled():
            waiter.exception()


def _consume_result(future: asyncio.Future[Any]) -> None:
    # Nobody awaits a timed-out publish any more: retrieve its outcome so asyncio does not
    # log "exception was never retrieved" when it finally fails.
    if not future.cancelled():
        future.exception()


def _message(record: Any) -> Message:
    key = record.key
    return Message(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=None if key is None else bytes(key).decode("utf-8", errors="backslashreplace"),
        value=b"" if record.value is None else bytes(record.value),
        headers={k: (b"" if v is None else bytes(v)) for k, v in (record.headers or ())},
        timestamp_ms=int(record.timestamp),
    )
