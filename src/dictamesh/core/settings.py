"""Configuration: one settings object, nested per layer, from arguments, env, ``.env`` and YAML.

Sources, highest first: init arguments > environment (``DICTAMESH_``) > ``.env`` file >
YAML file > defaults. Nested env vars use a double underscore:
``DICTAMESH_BUS__BACKEND=kafka``. String values of the YAML file may use ``${VAR}`` and
``${VAR:-default}`` (:mod:`dictamesh.core.yaml_env`). Secrets are ``SecretStr``: printed
as ``**********``; read them with ``.get_secret_value()`` where they are used.

Example::

    settings = DictaMeshSettings.from_yaml("mesh.yaml")  # env vars override the file
    settings.bus.backend  # 'embedded'
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from dictamesh.core.bus_config import (
    AvroTimestamps,
    KafkaClientSettings,
    Serialization,
    TopicSettings,
)
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.notification_config import ChannelConfig, NotificationRule, RecipientDirectory
from dictamesh.core.quality_config import QualityRule, check_rule_ids
from dictamesh.core.retention import RetentionRule
from dictamesh.core.router_config import RouterSettings
from dictamesh.core.yaml_env import config_problem, load_yaml_file, message_path

__all__ = [
    "AccessRule",
    "AdapterConfig",
    "ApiKeyConfig",
    "ApiSettings",
    "AuthSettings",
    "BusSettings",
    "CacheSettings",
    "CaptureSettings",
    "CatalogPoolSettings",
    "CatalogSettings",
    "DictaMeshSettings",
    "EmbeddingSettings",
    "GovernanceSettings",
    "GraphQLSettings",
    "NotificationSettings",
    "NotificationWorkerSettings",
    "ObservabilitySettings",
    "OpenLineageSettings",
    "QualitySettings",
    "QuotaSettings",
    "ResilienceSettings",
    "RouterSettings",
    "SagaSettings",
    "SchemaRegistryLimits",
    "SearchSettings",
    "SentrySettings",
    "SlaOverride",
    "SlaSettings",
    "TemplateText",
    "TenancySettings",
    "TenantQuota",
    "default_node_name",
    "usable_cores",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResilienceSettings(_Section):
    """Timeouts, retries, circuit breaker and bulkhead of one adapter's source calls
    (``docs/adapters.md``, "Resilience", explains every knob)."""

    #: per attempt
    timeout_seconds: float = Field(default=5.0, gt=0)
    #: budget of one logical call (bulkhead wait + attempts + backoff); None: no overall cap
    deadline_seconds: float | None = Field(default=None, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=10)
    backoff_initial_seconds: float = Field(default=0.1, ge=0)
    backoff_max_seconds: float = Field(default=5.0, ge=0)
    #: longest 429 ``Retry-After`` honoured by waiting (None: backoff_max_seconds)
    retry_after_max_seconds: float | None = Field(default=None, ge=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    #: trip at this share of failed calls (0-1] in the window; None: count rule only
    breaker_failure_rate: float | None = Field(default=0.5, gt=0, le=1)
    #: calls in the window before the rate rule applies
    breaker_minimum_calls: int = Field(default=20, ge=1)
    breaker_window_seconds: float = Field(default=30.0, gt=0)
    breaker_reset_seconds: float = Field(default=15.0, gt=0)
    #: successful probes in HALF_OPEN that close the breaker (also: probes at once)
    breaker_half_open_probes: int = Field(default=1, ge=1)
    max_concurrency: int = Field(default=32, ge=1)
    #: seconds a call waits for a bulkhead slot (None: timeout_seconds)
    bulkhead_queue_timeout_seconds: float | None = Field(default=None, ge=0)
    #: callers allowed to wait for a slot at once (None: unlimited)
    bulkhead_max_waiting: int | None = Field(default=None, ge=0)


class SlaOverride(_Section):
    """An adapter's SLA targets set in ``mesh.yaml`` (``adapters[].sla``), over those its
    class declares; unset fields keep the class's (``docs/sla.md``)."""

    freshness_seconds: float | None = Field(default=None, gt=0)
    availability_target: float | None = Field(default=None, gt=0, le=1)
    latency_p95_ms: float | None = Field(default=None, gt=0)


class AdapterConfig(_Section):
    """One adapter of a node: ``kind`` names an entry point of group ``dictamesh.adapters``."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    kind: str
    base_url: str
    api_key: SecretStr | None = None
    poll_interval_seconds: float | None = Field(default=2.0, gt=0)
    options: dict[str, Any] = Field(default_factory=dict)
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)
    #: HMAC-SHA256 key of this adapter's webhooks: when set, unsigned or wrongly signed
    #: ones get 401 (``docs/security.md``, ``docs/api.md``)
    webhook_secret: SecretStr | None = None
    #: how far a timestamped signature (``X-DictaMesh-Signature: t=...``) may be from now
    webhook_tolerance_seconds: float = Field(default=300.0, gt=0, le=86_400)
    #: SLA targets over the adapter class's (measured by ``sla``, ``docs/sla.md``)
    sla: SlaOverride = Field(default_factory=SlaOverride)


class BusSettings(_Section):
    #: an entry point of group ``dictamesh.buses`` (built in: embedded, kafka)
    backend: str = Field(default="embedded", min_length=1)
    path: Path = Path(".dictamesh/bus.sqlite3")
    kafka_bootstrap: str = "127.0.0.1:9092"
    max_delivery_attempts: int = Field(default=5, ge=1)
    #: json (default) or avro: one typed Avro record per entity type, registered under
    #: ``<topic>-value`` (docs/events.md)
    serialization: Serialization = Serialization.JSON
    #: datetime fields of typed Avro records: millis (Connect/ksqlDB TIMESTAMP; refuses
    #: sub-millisecond digits) or micros (exact; a BIGINT to Connect). Env example:
    #: ``DICTAMESH_BUS__AVRO_TIMESTAMPS=micros``
    avro_timestamps: AvroTimestamps = AvroTimestamps.MILLIS
    #: a Confluent-compatible schema registry for Avro topics; unset: the node's own
    #: catalog registry (the one it serves at ``/schema-registry``)
    schema_registry_url: SecretStr | None = None
    #: per-topic partitions, retention, envelope, CloudEvents headers (first glob match wins)
    topics: list[TopicSettings] = Field(default_factory=list)
    #: Kafka client security (SASL, TLS), producer/consumer tuning, topic defaults
    #: (``docs/events.md``, "Kafka in production"); env: ``DICTAMESH_BUS__KAFKA__SASL_PASSWORD``
    kafka: KafkaClientSettings = Field(default_factory=KafkaClientSettings)


class CatalogPoolSettings(_Section):
    """Connection pool of a PostgreSQL catalog (ignored on SQLite).

    Env example: ``DICTAMESH_CATALOG__POOL__SIZE=20``.
    """

    size: int = Field(default=5, ge=1, le=1000)
    max_overflow: int = Field(default=10, ge=0, le=1000)
    #: seconds to wait for a free connection before failing
    timeout_seconds: float = Field(default=30.0, gt=0)
    #: replace connections older than this (outlives idle timeouts of proxies/firewalls)
    recycle_seconds: int = Field(default=1800, ge=-1)
    #: test each connection on checkout, so a server restart leaves no dead connections
    pre_ping: bool = True
    application_name: str = Field(default="dictamesh", max_length=63)


class SchemaRegistryLimits(_Section):
    """Bounds of one schema sent to ``/schema-registry`` (docs/security.md): over any of them,
    422 with error code 42201 before the work proportional to it."""

    #: UTF-8 size of the schema text
    max_bytes: int = Field(default=256 * 1024, ge=1)
    #: nesting of JSON objects/arrays in the schema (a nested record costs about three)
    max_depth: int = Field(default=96, ge=1)
    #: items of one JSON list: branches of a union, fields of a record, symbols of an enum
    max_list_items: int = Field(default=1000, ge=1)
    #: records, enums and fixeds in one schema
    max_named_types: int = Field(default=2000, ge=1)
    #: wall time of one compatibility check (all earlier versions together)
    check_timeout_seconds: float = Field(default=2.0, gt=0)


class CatalogSettings(_Section):
    #: may hold a password: a SecretStr, never printed
    url: SecretStr = SecretStr("sqlite+aiosqlite:///.dictamesh/catalog.sqlite3")
    #: the database as the role owning the tables, which migrations run as (on PostgreSQL
    #: not the application's role: row-level security, docs/tenancy.md); default: ``url``
    migration_url: SecretStr | None = None
    migrate_on_start: bool = True
    pool: CatalogPoolSettings = Field(default_factory=CatalogPoolSettings)
    #: longest one relationship-graph walk may run in the database (then 400)
    graph_timeout_seconds: float = Field(default=5.0, gt=0)
    schema_registry: SchemaRegistryLimits = Field(default_factory=SchemaRegistryLimits)
    #: a project's own revisions (its extra tables), applied after the catalog's;
    #: ``dictamesh migrate new`` writes them here
    migrations_dir: Path | None = None
    #: ``module:attribute`` of the project's SQLAlchemy ``MetaData`` that
    #: ``dictamesh migrate new`` autogenerates from
    migrations_metadata: str | None = None


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_node_name() -> str:
    """``<name>-<pid>``: ``POD_NAME`` (Kubernetes' downward API), else ``HOSTNAME`` (the pod
    or container name), else the host name. The pid keeps two processes on one host apart;
    in a container it is stable across restarts of the container (usually 1)."""
    host = os.environ.get("POD_NAME") or os.environ.get("HOSTNAME") or socket.gethostname()
    return f"{host or 'dictamesh'}-{os.getpid()}"


class CacheSettings(_Section):
    l1_max_entries: int = Field(default=10_000, ge=0)
    l1_ttl_seconds: float = Field(default=60.0, gt=0)
    #: may hold a password: a SecretStr, never printed
    redis_url: SecretStr | None = None
    #: entry points of group ``dictamesh.caches``, looked up in this order; default:
    #: ``memory``, then ``redis`` when ``redis_url`` is set
    layers: list[str] | None = None

    @property
    def layer_names(self) -> list[str]:
        if self.layers is not None:
            return list(self.layers)
        return ["memory", "redis"] if self.redis_url is not None else ["memory"]


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: largest request body on any route (413 above it; docs/security.md); 0 = no limit
    max_body_bytes: int = Field(default=1 << 20, ge=0)
    #: GraphiQL at ``GET /graphql`` in a browser; unset: on, off when ``environment`` is
    #: ``production`` (``docs/api.md``). Env example: ``DICTAMESH_API__GRAPHIQL=false``
    graphiql: bool | None = None
    #: ``/openapi.json``, Swagger UI at ``/docs`` and ReDoc at ``/redoc``; unset: on, off
    #: when ``environment`` is ``production``. Env example: ``DICTAMESH_API__DOCS=true``
    docs: bool | None = None
    #: the browser UI at ``/ui`` (catalog search, entity pages, graph, operations pages;
    #: ``docs/ui.md``); unset: on, in production too (it shows only what the caller's
    #: credentials may read). Env example: ``DICTAMESH_API__UI=false``
    ui: bool | None = None
    #: on SIGTERM/SIGINT, seconds ``/ready`` answers 503 (``draining``) while the listener
    #: still serves, so load balancers stop sending before it closes; unset: 5 when
    #: ``environment`` is ``production``, else 0 (``docs/scale-out.md``, "Graceful
    #: shutdown"). Env example: ``DICTAMESH_API__SHUTDOWN_DELAY_SECONDS=10``
    shutdown_delay_seconds: float | None = Field(default=None, ge=0, le=3600)
    #: then, seconds requests in flight (and websockets) get to finish before they are cut.
    #: Env example: ``DICTAMESH_API__TIMEOUT_GRACEFUL_SHUTDOWN=60``
    timeout_graceful_shutdown: int = Field(default=30, ge=0, le=3600)
    #: processes serving ``api.port`` (``dictamesh serve --workers``); ``0`` or ``auto``: one
    #: per CPU core this process may run on (``docs/cli.md``, "serve"). Env example:
    #: ``DICTAMESH_API__WORKERS=auto``
    workers: Annotated[int, Field(ge=0, le=256)] | Literal["auto"] = 1

    def worker_count(self) -> int:
        """``workers`` as a number of processes (``0``/``auto``: the usable CPU cores)."""
        if self.workers == "auto" or self.workers == 0:
            return usable_cores()
        return self.workers

    def shutdown_delay(self, *, production: bool) -> float:
        if self.shutdown_delay_seconds is not None:
            return self.shutdown_delay_seconds
        return 5.0 if production else 0.0

    def graphiql_enabled(self, *, production: bool) -> bool:
        return self.graphiql if self.graphiql is not None else not production

    def docs_enabled(self, *, production: bool) -> bool:
        return self.docs if self.docs is not None else not production

    def ui_enabled(self, *, production: bool) -> bool:
        # unlike the API tools, the catalog browser is for users: wanted in production too
        del production
        return self.ui if self.ui is not None else True


class GraphQLSettings(_Section):
    """Protection and protocol of ``/graphql`` (``docs/graphql.md``); ``0`` switches off.

    Env example: ``DICTAMESH_GRAPHQL__MAX_DEPTH=12``,
    ``DICTAMESH_GRAPHQL__FIELD_COSTS='{"Customer.invoices": 5}'``.
    """

    max_depth: int = Field(default=10, ge=0)
    max_complexity: int = Field(default=1000, ge=0)
    max_aliases: int = Field(default=30, ge=0)
    max_tokens: int = Field(default=2000, ge=0)
    #: assumed length of a list field without a first/last/limit argument (cost only)
    default_list_size: int = Field(default=5, ge=0)
    #: "Type.field" -> cost, instead of 1 per object field and 0 per scalar
    field_costs: dict[str, int] = Field(default_factory=dict)
    #: False refuses __schema/__type queries (GraphiQL then cannot load the schema)
    introspection: bool = True
    #: token bucket per API key / principal / client IP; 0 = no rate limit
    rate_limit_per_second: float = Field(default=50.0, ge=0)
    rate_limit_burst: int = Field(default=100, ge=1)
    #: key unauthenticated clients by the last X-Forwarded-For hop (behind one proxy)
    trust_forwarded_for: bool = False
    #: execution time limit of one request; 0 = none
    timeout_seconds: float = Field(default=10.0, ge=0)
    #: auto: Apollo APQ; allowlist: only queries from persisted_queries_file; off
    persisted_queries: Literal["auto", "allowlist", "off"] = "auto"
    persisted_queries_cache_size: int = Field(default=1000, ge=1)
    #: JSON: {sha256: query} or an Apollo persisted-query manifest; preloaded in any mode
    persisted_queries_file: Path | None = None
    #: cached responses of GET / persisted queries, invalidated by change events; 0 = off
    response_cache_size: int = Field(default=1000, ge=0)
    #: change events one subscriber may have waiting; beyond it, it is dropped
    subscription_queue_size: int = Field(default=100, ge=1)
    #: documents longer than this are parsed in a worker thread, off the event loop; 0 = never
    parse_in_thread_bytes: int = Field(default=16_384, ge=0)
    #: parsed documents and valid verdicts kept per schema (LRU, each); 0 = parse and
    #: validate every request
    document_cache_size: int = Field(default=1000, ge=0)

    @field_validator("field_costs")
    @classmethod
    def _coordinates(cls, value: dict[str, int]) -> dict[str, int]:
        for coordinate, cost in value.items():
            if not re.fullmatch(r"[_A-Za-z]\w*\.[_A-Za-z]\w*", coordinate, re.ASCII):
                raise ValueError(f"field_costs key {coordinate!r} is not 'Type.field'")
            if cost < 0:
                raise ValueError(f"field_costs[{coordinate!r}] must not be negative")
        return value

    @model_validator(mode="after")
    def _allowlist_file(self) -> GraphQLSettings:
        if self.persisted_queries == "allowlist" and self.persisted_queries_file is None:
            raise ValueError("persisted_queries='allowlist' needs persisted_queries_file")
        return self


class SentrySettings(_Section):
    """Error tracking with Sentry (``docs/observability.md``, "Error tracking"): off
    without a ``dsn``. Needs the ``sentry`` extra. Every event is scrubbed by the
    governance masker before it leaves the process.

    Env example: ``DICTAMESH_OBSERVABILITY__SENTRY__DSN=https://key@sentry.example.com/1``.
    """

    #: where events go (the project's DSN); unset: nothing is initialised or sent
    dsn: SecretStr | None = None
    #: the environment events are filed under (``production``, ``staging``...)
    environment: str = Field(default="production", min_length=1, max_length=64)
    #: the release events are filed under; default: ``dictamesh@<version>``
    release: str | None = Field(default=None, max_length=200)
    #: share of error events sent (1.0: all)
    sample_rate: float = Field(default=1.0, ge=0, le=1)
    #: vetted: only DictaMesh errors' messages are sent (written to hold no personal value;
    #: still scrubbed), other exceptions' messages are replaced; scrubbed: every message is
    #: sent after scrubbing (detectors find emails, phones, cards... not names)
    exception_messages: Literal["vetted", "scrubbed"] = "vetted"
    #: send stack frames' local variables, scrubbed (values of classified field names
    #: masked, detector matches hashed); off: frames carry no variables at all
    include_local_variables: bool = False
    #: log records kept as breadcrumbs of the next event (scrubbed like the rest); 0: none
    max_breadcrumbs: int = Field(default=0, ge=0, le=100)
    #: how long closing waits for queued events to be sent
    shutdown_timeout_seconds: float = Field(default=2.0, ge=0, le=60)


class ObservabilitySettings(_Section):
    """Traces and logs of a node (``docs/observability.md``); metrics are always at
    ``/metrics``. Everything here is off by default, so an embedded node prints nothing.

    Env example: ``DICTAMESH_OBSERVABILITY__TRACES_EXPORTER=otlp``.
    """

    #: service.name of the spans; default: ``node_name``
    service_name: str | None = None
    #: none: no spans; console: print them (debugging); otlp: OTLP/HTTP to ``otlp_endpoint``;
    #: memory: keep the newest spans in process, served at ``GET /debug/traces`` (the demo)
    traces_exporter: Literal["none", "console", "otlp", "memory"] = "none"
    otlp_endpoint: str = Field(default="http://127.0.0.1:4318/v1/traces", pattern=r"^https?://")
    #: e.g. an ``Authorization`` header: values are secrets
    otlp_headers: dict[str, SecretStr] = Field(default_factory=dict)
    #: share of new traces recorded; a sampled parent's decision is always followed
    sampling_ratio: float = Field(default=1.0, ge=0, le=1)
    #: none: leave logging as the host process set it up; json: one JSON object per line
    #: (production); console: coloured human lines (demo)
    log_format: Literal["none", "json", "console"] = "none"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: serve ``GET /debug/traces`` (needs ``traces_exporter: memory``): admins only, each
    #: tenant-bound admin its tenant's traces; off by default (``dictamesh demo`` sets it)
    debug_traces: bool = False
    #: error tracking (Sentry); off without ``sentry.dsn``
    sentry: SentrySettings = Field(default_factory=SentrySettings)


_TOPIC_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class TenantQuota(_Section):
    """Limits of one tenant (``docs/tenancy.md``); ``None`` = unlimited.

    Under ``tenancy.quotas.per_tenant.<tenant>``, only the fields given override
    ``tenancy.quotas.default``.
    """

    #: API requests per second (token bucket), and how many may come at once
    requests_per_second: float | None = Field(default=None, gt=0)
    #: default: the rate rounded up (at least 1)
    request_burst: int | None = Field(default=None, ge=1)
    #: GraphQL query cost (the gateway's complexity measure) allowed per window
    graphql_cost_budget: int | None = Field(default=None, ge=1)
    graphql_cost_window_seconds: float = Field(default=60.0, gt=0)
    #: change events per second the tenant's producers may publish, and the burst
    events_per_second: float | None = Field(default=None, gt=0)
    event_burst: int | None = Field(default=None, ge=1)
    #: a publish over quota waits up to this long for its turn, then fails; 0: fail at once
    max_publish_delay_seconds: float = Field(default=5.0, ge=0)

    @property
    def limited(self) -> bool:
        return any(
            v is not None
            for v in (self.requests_per_second, self.graphql_cost_budget, self.events_per_second)
        )


class QuotaSettings(_Section):
    default: TenantQuota = Field(default_factory=TenantQuota)
    per_tenant: dict[str, TenantQuota] = Field(default_factory=dict)
    #: request paths never counted (``/x`` also matches ``/x/...``)
    exempt_paths: list[str] = Field(default_factory=lambda: ["/health", "/ready", "/metrics"])

    def for_tenant(self, tenant: str) -> TenantQuota:
        """The tenant's quota: its overrides on top of ``default``."""
        override = self.per_tenant.get(tenant)
        if override is None:
            return self.default
        return self.default.model_copy(update=override.model_dump(exclude_unset=True))

    @property
    def enabled(self) -> bool:
        return self.default.limited or any(q.limited for q in self.per_tenant.values())


class TenancySettings(_Section):
    """Tenants on one mesh (``docs/tenancy.md``).

    Env example: ``DICTAMESH_TENANCY__TENANTS='["acme", "globex"]'``,
    ``DICTAMESH_TENANCY__QUOTAS__DEFAULT__REQUESTS_PER_SECOND=50``.
    """

    #: the tenants this node serves events for (with ``topic_prefix_per_tenant``: whose
    #: ``<tenant>.<domain>.<source>.<event>`` topics it consumes)
    tenants: list[str] = Field(default_factory=list)
    #: publish each event carrying a tenant to ``<tenant>.<topic>``
    topic_prefix_per_tenant: bool = False
    quotas: QuotaSettings = Field(default_factory=QuotaSettings)

    @model_validator(mode="after")
    def _prefixable(self) -> TenancySettings:
        if self.topic_prefix_per_tenant:
            bad = [t for t in self.tenants if not _TOPIC_PREFIX.match(t)]
            if bad:
                raise ValueError(
                    f"tenants {bad} cannot prefix topics: lowercase letters, digits and '_',"
                    " starting with a letter"
                )
        return self


class PurposeSettings(_Section):
    """One purpose personal data may be processed for (``governance.consent.purposes``)."""

    description: str = Field(default="", max_length=500)
    #: processing personal data for it needs the subject's consent (policies may require it)
    personal: bool = True
    #: CCPA style: allowed until the subject opts out (``do_not_sell``/``do_not_share``);
    #: otherwise (GDPR style) not allowed until the subject gives consent
    opt_out: bool = False


def _default_purposes() -> dict[str, PurposeSettings]:
    return {
        "sale": PurposeSettings(description="selling personal data (CCPA do-not-sell)",
                                opt_out=True),
        "share": PurposeSettings(
            description="sharing personal data for cross-context advertising (CCPA"
            " do-not-share)", opt_out=True,
        ),
    }  # fmt: skip


class ConsentSettings(_Section):
    """Consent and purpose (``docs/governance.md``, "Consent and purpose").

    Env example: ``DICTAMESH_GOVERNANCE__CONSENT__HEADER=X-Purpose``.
    """

    #: purpose name → what it is; ``sale`` and ``share`` are the CCPA opt-out flags
    purposes: dict[str, PurposeSettings] = Field(default_factory=_default_purposes)
    #: the request header declaring the purpose of a read
    header: str = Field(default="X-DictaMesh-Purpose", min_length=1, max_length=64)
    #: the JWT claim declaring it (the header wins when both are given)
    claim: str = Field(default="purpose", min_length=1, max_length=64)
    #: the JWT claim naming the data subject a caller is (``customer:c-1``): such a caller
    #: may read and change its own consents
    subject_claim: str = Field(default="dictamesh_subject", min_length=1, max_length=64)
    #: the purpose of a request that declares none (``None``: no purpose)
    default_purpose: str | None = None
    #: roles of third parties: their reads count as purpose ``sale`` unless they declare one
    third_party_roles: list[str] = Field(default_factory=list)
    #: entity types whose entities are data subjects (the compliance report's consent
    #: coverage counts them); empty: every type with ``pii_*`` fields
    subject_types: list[str] = Field(default_factory=list)
    #: the largest evidence/notes text of one consent record
    max_evidence_chars: int = Field(default=2000, ge=1, le=100_000)

    @field_validator("purposes")
    @classmethod
    def _names(cls, value: dict[str, PurposeSettings]) -> dict[str, PurposeSettings]:
        for name in value:
            if not re.fullmatch(r"[a-z][a-z0-9_.-]{0,62}", name):
                raise ValueError(f"purpose name {name!r}: lowercase letters, digits, _ . -")
        return value

    @model_validator(mode="after")
    def _default_declared(self) -> ConsentSettings:
        if self.default_purpose is not None and self.default_purpose not in self.purposes:
            raise ValueError(f"default_purpose {self.default_purpose!r} is not a purpose")
        return self


class GovernanceSettings(_Section):
    """Policy enforcement, masking, audit and retention (``docs/governance.md``).

    Env example: ``DICTAMESH_GOVERNANCE__POLICY_FILE=policy.yaml``,
    ``DICTAMESH_GOVERNANCE__MASKING_KEY=...``.
    """

    #: policy YAML; unset: the built-in policy (``auth.admin_role`` reads everything
    #: unmasked, every classified field is denied to everyone else)
    policy_file: Path | None = None
    #: HMAC key of hashed/tokenized values; unset: a per-process random key (with a warning)
    masking_key: SecretStr | None = None
    #: record every access to a classified field in the audit log
    audit: bool = True
    audit_batch_size: int = Field(default=500, ge=1, le=10_000)
    audit_flush_interval_seconds: float = Field(default=1.0, gt=0)
    audit_queue_size: int = Field(default=10_000, ge=1)
    #: how long a request waits for room when the audit queue is full
    audit_max_wait_seconds: float = Field(default=2.0, ge=0)
    #: after that wait: deny = withhold the classified values, drop = serve them unaudited
    audit_on_overflow: Literal["deny", "drop"] = "deny"
    #: ``RetentionRule`` mappings (``dictamesh.core.retention``)
    retention: list[RetentionRule] = Field(default_factory=list)
    retention_interval_seconds: float = Field(default=3600.0, gt=0)
    #: consent records, declared purposes, CCPA opt-outs
    consent: ConsentSettings = Field(default_factory=ConsentSettings)

    @field_validator("retention", mode="before")
    @classmethod
    def _rules(cls, value: list[Any]) -> list[RetentionRule]:
        # one message per bad rule naming its index, rather than pydantic's nested error list
        rules = []
        for i, raw in enumerate(value):
            try:
                rules.append(RetentionRule.model_validate(raw))
            except PydanticValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"retention[{i}].{where}: {first['msg']}") from None
        return rules

    @model_validator(mode="after")
    def _queue_holds_a_batch(self) -> GovernanceSettings:
        if self.audit_queue_size < self.audit_batch_size:
            raise ValueError("audit_queue_size must be at least audit_batch_size")
        return self


class OpenLineageSettings(_Section):
    """OpenLineage run and dataset events for adapter syncs and catalog ingest
    (``docs/lineage.md``); off by default.

    Env example: ``DICTAMESH_OPENLINEAGE__ENABLED=true``,
    ``DICTAMESH_OPENLINEAGE__URL=http://127.0.0.1:5000`` (Marquez). Without ``url`` the HTTP
    transport uses the standard ``OPENLINEAGE_URL`` (and ``OPENLINEAGE_API_KEY``,
    ``OPENLINEAGE_ENDPOINT``) when they are set.
    """

    enabled: bool = False
    #: http: ``POST <url>/<endpoint>`` (Marquez, DataHub, any OpenLineage receiver); kafka:
    #: one JSON event per message on ``kafka_topic``; file: JSON lines appended to
    #: ``file_path``; console: one log line per event (logger ``openlineage.client``)
    transport: Literal["http", "kafka", "file", "console"] = "http"
    #: namespace of the jobs (``<namespace>/dictamesh.catalog_ingest``, ...)
    namespace: str = Field(default="dictamesh", min_length=1, max_length=255)
    url: str | None = Field(default=None, pattern=r"^https?://[^/\s]+")
    endpoint: str = "api/v1/lineage"
    #: sent as ``Authorization: Bearer <api_key>``
    api_key: SecretStr | None = None
    timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    kafka_topic: str = Field(default="openlineage.events", pattern=r"^[A-Za-z0-9._-]{1,249}$")
    #: default: ``bus.kafka_bootstrap``
    kafka_bootstrap: str | None = None
    #: more librdkafka producer settings (``security.protocol``, ``sasl.password``, ...)
    kafka_config: dict[str, SecretStr] = Field(default_factory=dict)
    file_path: Path = Path(".dictamesh/openlineage.jsonl")
    #: events waiting for the transport; beyond it new ones are dropped (and counted), so a
    #: slow or absent receiver never holds up capture or ingest
    queue_size: int = Field(default=1_000, ge=1, le=1_000_000)
    #: a sync or ingest run completes once no event came for this long ...
    run_idle_seconds: float = Field(default=5.0, gt=0, le=3_600)
    #: ... or once it has lasted this long (a busy stream is cut into runs of this length)
    run_max_seconds: float = Field(default=300.0, gt=0, le=86_400)
    #: data product (``<domain>.<entity_type>``, globs allowed) → its owners, e.g.
    #: ``{"billing.*": ["team:billing"]}``: the ``ownership`` facet of its dataset
    owners: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _window(self) -> OpenLineageSettings:
        if self.run_max_seconds < self.run_idle_seconds:
            raise ValueError("run_max_seconds must be at least run_idle_seconds")
        # refused when the config is read, not once the node is half started
        if (
            self.enabled
            and self.transport == "http"
            and self.url is None
            and not os.environ.get("OPENLINEAGE_URL", "").strip()
        ):
            raise ValueError(
                "the http transport needs openlineage.url (DICTAMESH_OPENLINEAGE__URL)"
                " or OPENLINEAGE_URL"
            )
        return self


class CaptureSettings(_Section):
    """Which node captures a source when several nodes configure the same adapter
    (``docs/scale-out.md``, "Capture leader election")."""

    #: ``auto``: a lease row when the catalog is on PostgreSQL, else a file lock (one
    #: machine); ``lease``: a lease row in the catalog database (SQLite: one machine);
    #: ``file``: ``flock`` on ``<state_dir>/leases/`` (processes of one machine sharing
    #: ``state_dir``); ``off``: every node captures (one node only)
    leader_election: Literal["auto", "lease", "file", "off"] = "auto"
    #: a dead leader is replaced at most this plus ``retry_seconds`` later (renewed every
    #: third; a leader that cannot renew steps down with a third left)
    lease_seconds: float = Field(default=6.0, ge=1.0, le=3600)
    #: how often a node that is not the leader tries to become it
    retry_seconds: float = Field(default=1.0, gt=0, le=60)
    #: where the watermark and seen rows live: ``auto``: the catalog database on
    #: PostgreSQL, else ``<state_dir>/changes.sqlite3``
    change_state: Literal["auto", "catalog", "file"] = "auto"


class SagaSettings(_Section):
    """Layer 7 (``docs/sagas.md``): how a node works on sagas."""

    #: run sagas on this node (start them, resume them, take over a dead node's)
    enabled: bool = True
    #: a node holds a saga this long without renewing (renewed every third of it); a dead
    #: node's sagas are taken over this long after it died
    lease_seconds: float = Field(default=30.0, gt=0.5, le=3600)
    #: how often a node looks for sagas nobody holds
    poll_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    #: sagas one node runs at once (more wait in the queue for any node)
    max_concurrent: int = Field(default=64, ge=1, le=10_000)


class SlaSettings(_Section):
    """SLA monitoring (``docs/sla.md``): each adapter's declared SLA measured over a sliding
    window on the nodes that serve adapters (api) or ingest (catalog freshness).

    Env example: ``DICTAMESH_SLA__WINDOW_SECONDS=60``."""

    #: measure and judge SLAs on this node (breach / recovery events, ``dictamesh_sla_*``)
    enabled: bool = True
    #: the sliding window every measurement covers
    window_seconds: float = Field(default=300.0, gt=0, le=86_400)
    #: how often the objectives are judged (and events published)
    evaluation_interval_seconds: float = Field(default=15.0, gt=0, le=3600)
    #: fewer source calls than this in the window: availability and latency are not judged
    min_samples: int = Field(default=20, ge=1, le=100_000)
    #: fewer changes than this in the window: freshness is not judged
    min_changes: int = Field(default=3, ge=1, le=100_000)
    #: evaluations in a row that must agree before a state flips (breach and recovery)
    consecutive_evaluations: int = Field(default=2, ge=1, le=100)
    #: samples kept per adapter and measurement (the oldest go first under a flood)
    max_samples: int = Field(default=10_000, ge=10, le=1_000_000)


class TemplateText(_Section):
    """One locale's variant of a notification template (Jinja2, sandboxed)."""

    subject: str = Field(default="", max_length=2000)
    text: str = Field(default="", max_length=100_000)
    html: str | None = Field(default=None, max_length=200_000)


class NotificationWorkerSettings(_Section):
    """How a node delivers the outbox (``docs/notifications.md``)."""

    #: how often the worker looks for due messages when it was not woken
    poll_interval_seconds: float = Field(default=0.5, gt=0, le=60)
    #: messages one claim takes (sent concurrently, each channel at its own rate)
    batch_size: int = Field(default=50, ge=1, le=1000)
    #: a node holds a claimed message this long (a dead node's are retried after it)
    lease_seconds: float = Field(default=60.0, gt=1, le=3600)
    #: tries over all channels before a message is dead
    max_attempts: int = Field(default=8, ge=1, le=100)
    #: failures on one channel before the rule's next channel is tried
    fallback_after: int = Field(default=3, ge=1, le=100)
    backoff_initial_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(default=300.0, gt=0)
    #: an outbox deeper than this publishes ``system.notifications.outbox_growing``
    outbox_alert_depth: int = Field(default=1000, ge=1)


class NotificationSettings(_Section):
    """Notifications (``docs/notifications.md``): rules on mesh events → channels.

    Env example: ``DICTAMESH_NOTIFICATIONS__ENABLED=false``."""

    #: watch the bus and deliver the outbox on this node
    enabled: bool = True
    #: the locale of recipients that name none (templates fall back to it, then to ``en``)
    default_locale: str = Field(default="en", pattern=r"^[a-z]{2}(_[A-Z]{2})?$")
    #: name → locale → template; these win over ``templates_dir`` and the built-in ones
    templates: dict[str, dict[str, TemplateText]] = Field(default_factory=dict)
    #: files ``<name>.<locale>.subject|txt|html.j2`` (``<name>.subject.j2``: any locale)
    templates_dir: Path | None = None
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    recipients: RecipientDirectory = Field(default_factory=RecipientDirectory)
    rules: list[NotificationRule] = Field(default_factory=list, max_length=1000)
    #: events older than this when the rules see them are not notified: a new mesh does not
    #: mail about the history its bus still holds (a new consumer group starts at the
    #: earliest event); after an outage longer than this, older changes are skipped too
    max_event_age_seconds: float = Field(default=3600.0, gt=0)
    worker: NotificationWorkerSettings = Field(default_factory=NotificationWorkerSettings)

    @model_validator(mode="after")
    def _names_resolve(self) -> NotificationSettings:
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError("rule names must be unique")
        for i, rule in enumerate(self.rules):
            for channel in rule.channels:
                if channel not in self.channels:
                    raise ValueError(f"rules[{i}] ({rule.name}): unknown channel {channel!r}")
            for who in rule.to:
                kind, _, rest = who.partition(":")
                if kind == "group" and rest not in self.recipients.groups:
                    raise ValueError(f"rules[{i}] ({rule.name}): unknown group {rest!r}")
                if (kind == "user" and rest not in self.recipients.users) or (
                    not rest and who != "tenant_admins" and who not in self.recipients.users
                ):
                    raise ValueError(f"rules[{i}] ({rule.name}): unknown user {who!r}")
        return self


class ApiKeyConfig(_Section):
    """One API key. Only its SHA-256 (hex) is stored; ``dictamesh auth api-key`` makes one."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    subject: str = Field(min_length=1, max_length=256)
    roles: list[str] = Field(default_factory=list)
    tenant: str | None = None


class AccessRule(_Section):
    """Requests to ``path`` (or below it) with one of ``methods`` need one of ``roles``."""

    path: str = Field(pattern=r"^/")
    #: upper-case HTTP methods; empty = every method
    methods: list[str] = Field(default_factory=list)
    roles: list[str] = Field(min_length=1)

    @field_validator("methods")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return [m.upper() for m in value]


JwksAlgorithm = Literal[
    "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"
]


def _default_jwks_algorithms() -> list[JwksAlgorithm]:
    return ["RS256", "ES256"]


def _default_rules() -> list[AccessRule]:
    # Schema writes (REST and the Confluent-compatible registry) and anything under
    # /api/v1/admin are for administrators; reading schemas is for every caller.
    writes = ["POST", "PUT", "PATCH", "DELETE"]
    return [
        AccessRule(path="/api/v1/schemas", methods=writes, roles=["admin"]),
        AccessRule(path="/schema-registry/subjects", methods=writes, roles=["admin"]),
        AccessRule(path="/schema-registry/config", methods=writes, roles=["admin"]),
        AccessRule(path="/schema-registry/mode", methods=writes, roles=["admin"]),
        AccessRule(path="/api/v1/admin", roles=["admin"]),
    ]


class AuthSettings(_Section):
    """Who may call the node's HTTP API (see ``docs/security.md``).

    Env example: ``DICTAMESH_AUTH__MODE=required``, ``DICTAMESH_AUTH__JWKS_URL=https://...``.
    """

    #: off: no checks (embedded demo); optional: verify credentials when sent;
    #: required: every request but ``public_paths`` needs valid credentials (production)
    mode: Literal["off", "optional", "required"] = "off"
    #: HS256 shared secret (development; at least 32 characters)
    jwt_secret: SecretStr | None = None
    #: the identity provider's JSON Web Key Set, for RS*/ES*/PS* tokens
    jwks_url: str | None = Field(default=None, pattern=r"^https?://")
    jwks_algorithms: list[JwksAlgorithm] = Field(
        default_factory=_default_jwks_algorithms, min_length=1
    )
    jwks_cache_seconds: float = Field(default=300.0, gt=0)
    #: least time between two refetches caused by unknown key ids (forged kids cannot
    #: hammer the identity provider)
    jwks_refetch_cooldown_seconds: float = Field(default=10.0, ge=0)
    jwks_timeout_seconds: float = Field(default=5.0, gt=0)
    #: expected ``iss``; unchecked when unset
    issuer: str | None = None
    #: accepted ``aud`` values (any one); a token with an ``aud`` is rejected when unset
    audience: list[str] = Field(default_factory=list)
    leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    required_claims: list[str] = Field(default_factory=lambda: ["exp", "sub"])
    #: claim holding the roles (a list or a space-separated string); dots walk into
    #: objects, e.g. ``realm_access.roles``
    roles_claim: str = Field(default="roles", min_length=1)
    tenant_claim: str = Field(default="tenant_id", min_length=1)
    api_keys: list[ApiKeyConfig] = Field(default_factory=list)
    #: never authenticated: a path matches ``/x`` when it is ``/x`` or starts with ``/x/``
    #: (webhooks carry their own signatures; ``/static`` holds only the vendored browser
    #: assets of GraphiQL and the docs pages; ``/ui`` only the browser UI's page shell and
    #: bundle, which must load before its login; add ``/metrics`` for an open scrape endpoint)
    public_paths: list[str] = Field(
        default_factory=lambda: ["/health", "/ready", "/webhooks", "/static", "/ui"]
    )
    rules: list[AccessRule] = Field(default_factory=_default_rules)
    #: a request may name its tenant here; it must agree with the principal's tenant
    tenant_header: str = Field(default="X-Tenant-ID", min_length=1)
    #: holders may act for any tenant (via ``tenant_header``) when not bound to one
    admin_role: str = Field(default="admin", min_length=1)

    @field_validator("jwt_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # RFC 7518 3.2: an HS256 key must be at least as long as the hash (32 bytes).
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError("jwt_secret must be at least 32 bytes long")
        return value

    @model_validator(mode="after")
    def _can_verify(self) -> AuthSettings:
        if self.mode != "off" and not (self.jwt_secret or self.jwks_url or self.api_keys):
            raise ValueError(
                f"auth.mode={self.mode!r} needs jwt_secret, jwks_url or api_keys to verify with"
            )
        return self


#: the YAML file of the settings being built (set by ``from_yaml`` for that one call)
_YAML_FILE: ContextVar[Path | None] = ContextVar("dictamesh_yaml_file", default=None)


class _ExpandingYamlSource(YamlConfigSettingsSource):
    """pydantic-settings' YAML source, with ``${VAR}`` expanded before validation from the
    environment, then the ``.env`` file (as Docker Compose does)."""

    def __init__(self, settings_cls: type[BaseSettings], yaml_file: Path) -> None:
        # set before super().__init__, which reads the file
        self._env_file = settings_cls.model_config.get("env_file")
        super().__init__(settings_cls, yaml_file=yaml_file)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        env_file = self._env_file
        dotenv: dict[str, str] = {}
        if isinstance(env_file, str) and Path(env_file).is_file():
            loaded = dotenv_values(env_file, encoding="utf-8")
            dotenv = {k: v for k, v in loaded.items() if v is not None}
        return load_yaml_file(Path(file_path), {**dotenv, **os.environ})


class _FieldsOnly(PydanticBaseSettingsSource):
    """The ``.env`` source without the file's other variables (``CRM_TOKEN=...`` for
    ``${CRM_TOKEN}``), which ``extra="forbid"`` would otherwise refuse."""

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self._inner = inner

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        fields = self.settings_cls.model_fields
        return {k: v for k, v in self._inner().items() if k in fields}


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    token = _YAML_FILE.set(path)
    try:
        yield
    finally:
        _YAML_FILE.reset(token)


class EmbeddingSettings(_Section):
    """Which model turns catalog text into vectors (``docs/search.md``, "Embeddings").
    Providers are plugins found by name (:mod:`dictamesh.embeddings`)."""

    #: ``wordllama``: a small static model shipped inside the ``wordllama`` wheel (no
    #: download, CPU, the default); ``sentence-transformers``: a model directory on disk
    #: (``path``); ``openai``: an OpenAI-compatible ``/embeddings`` endpoint (``url``);
    #: ``off``: no semantic search (text search only)
    provider: str = "wordllama"
    #: provider-specific model name (wordllama: ``l2_supercat``; openai: the ``model`` field
    #: sent, e.g. ``text-embedding-3-small``)
    model: str | None = None
    #: vector size; wordllama's bundled model gives 256 (smaller values truncate it, a
    #: Matryoshka model), other providers must produce exactly this many
    dimensions: int = Field(default=256, ge=8, le=4096)
    #: sentence-transformers: the model directory
    path: Path | None = None
    #: openai: base URL (``/embeddings`` is appended)
    url: str | None = None
    #: openai: send ``dimensions`` in each request (shortened vectors); ``None``: only for
    #: models known to take it (OpenAI's ``text-embedding-3-*``); the answer's size is
    #: checked either way
    send_dimensions: bool | None = None
    api_key: SecretStr | None = None
    #: texts per provider call
    batch_size: int = Field(default=64, ge=1, le=2048)
    #: deadline of one provider call
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    #: a longer text is refused (400) before any model or endpoint sees it; the search
    #: layer chunks catalog text well below this (``chunk_chars``)
    max_text_chars: int = Field(default=100_000, ge=100, le=1_000_000)
    #: openai: further attempts after a 429, 5xx or timeout (backoff, ``Retry-After``
    #: honoured up to ``timeout_seconds``)
    retries: int = Field(default=2, ge=0, le=10)


class SearchSettings(_Section):
    """Catalog search (``docs/search.md``): text, semantic and hybrid."""

    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    #: ``mode`` when a request names none
    default_mode: Literal["text", "semantic", "hybrid"] = "hybrid"
    #: entity type -> attribute names whose text is embedded; a type not named here embeds
    #: its string attributes. Fields governance could mask for anyone are never embedded.
    fields: dict[str, list[str]] = Field(default_factory=dict)
    #: long text is cut into chunks of about this many characters, overlapping by
    #: ``chunk_overlap``; an entity's score is its best chunk's
    chunk_chars: int = Field(default=1000, ge=100, le=100_000)
    chunk_overlap: int = Field(default=100, ge=0, le=10_000)
    #: reciprocal rank fusion constant: score = sum of 1 / (rrf_k + rank)
    rrf_k: int = Field(default=60, ge=1, le=10_000)
    #: PostgreSQL: ``hnsw`` (pgvector HNSW index, approximate) or ``exact`` (sequential scan)
    vector_index: Literal["hnsw", "exact"] = "hnsw"
    #: pgvector ``hnsw.ef_search``: candidates per query (recall vs latency)
    hnsw_ef_search: int = Field(default=64, ge=1, le=1000)
    #: entities waiting to be embedded, at most; past it new changes are dropped from the
    #: queue and a reconcile of the whole catalog finds them again (``docs/search.md``)
    index_queue_size: int = Field(default=10_000, ge=1, le=1_000_000)


class QualitySettings(_Section):
    """Data-quality rules (``docs/quality.md``): per entity type, checked on ingest (the
    per-event rules) and on a schedule over the catalog (all of them).

    Env example: ``DICTAMESH_QUALITY__INTERVAL_SECONDS=600``."""

    #: evaluate rules on this node (on ingest; the schedule on one node of the cluster)
    enabled: bool = True
    #: entity type -> its rules (:class:`~dictamesh.core.quality_config.QualityRule`)
    rules: dict[str, list[QualityRule]] = Field(default_factory=dict, max_length=1000)
    #: seconds between two scheduled runs over the catalog (one node runs them: a lease)
    interval_seconds: float = Field(default=300.0, ge=1.0, le=7 * 86400)
    #: seconds between two writes of the on-ingest counts (one stored run each)
    ingest_flush_seconds: float = Field(default=60.0, ge=0.1, le=86400)
    #: failing entity ids kept per rule result (ids only, never values)
    sample_size: int = Field(default=20, ge=0, le=1000)
    #: runs kept per tenant (older runs and their results are deleted)
    history_runs: int = Field(default=200, ge=1, le=100_000)

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, value: dict[str, list[QualityRule]]) -> dict[str, list[QualityRule]]:
        return check_rule_ids(value)

    def all_rules(self) -> list[tuple[str, QualityRule]]:
        """(entity type, rule) of every rule, in configuration order."""
        return [(t, r) for t, listed in self.rules.items() for r in listed]


class DictaMeshSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DICTAMESH_",
        env_nested_delimiter="__",
        extra="forbid",
        env_file=".env",
        env_file_encoding="utf-8",
        # a refused value may be a secret (a password in bus.kafka, a catalog URL): the
        # errors name where and why, never echo the input
        hide_input_in_errors=True,
    )

    #: this node's name, unique among the running nodes of a mesh: its cache-invalidation
    #: consumer group is ``dictamesh-cache-<node_name>``, and two nodes sharing one would
    #: split the change events between them (``docs/scale-out.md``). Default:
    #: ``<pod or host name>-<pid>`` (:func:`default_node_name`).
    #: Env example: ``DICTAMESH_NODE_NAME=api-0``
    node_name: str = Field(default_factory=lambda: default_node_name())
    #: ``production`` switches developer conveniences off unless set explicitly (GraphiQL,
    #: the API docs pages: ``api.graphiql``, ``api.docs``; ``docs/api.md``).
    #: Env example: ``DICTAMESH_ENVIRONMENT=production``
    environment: Literal["development", "production"] = "development"
    state_dir: Path = Path(".dictamesh")
    adapters: list[AdapterConfig] = Field(default_factory=list)
    bus: BusSettings = Field(default_factory=BusSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    graphql: GraphQLSettings = Field(default_factory=GraphQLSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    governance: GovernanceSettings = Field(default_factory=GovernanceSettings)
    tenancy: TenancySettings = Field(default_factory=TenancySettings)
    saga: SagaSettings = Field(default_factory=SagaSettings)
    #: capture leader election and the shared change state (``docs/scale-out.md``)
    capture: CaptureSettings = Field(default_factory=CaptureSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    sla: SlaSettings = Field(default_factory=SlaSettings)
    openlineage: OpenLineageSettings = Field(default_factory=OpenLineageSettings)
    #: the event router (``docs/router.md``): rules, transforms, targets
    router: RouterSettings = Field(default_factory=RouterSettings)
    #: catalog search: text, semantic (embeddings) and hybrid (``docs/search.md``)
    search: SearchSettings = Field(default_factory=SearchSettings)
    #: data-quality rules, results and scores (``docs/quality.md``)
    quality: QualitySettings = Field(default_factory=QualitySettings)

    _source_file: Path | None = PrivateAttr(default=None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The documented order: init > environment > .env > YAML > defaults.
        dotenv = _FieldsOnly(settings_cls, dotenv_settings)
        yaml_file = _YAML_FILE.get()
        if yaml_file is None:
            return init_settings, env_settings, dotenv
        return init_settings, env_settings, dotenv, _ExpandingYamlSource(settings_cls, yaml_file)

    @property
    def source_file(self) -> Path | None:
        """The YAML file these settings were read from (``from_yaml``, the path as given
        there, so later problems word it as the load's did), for checks made later that
        name its lines (:func:`dictamesh.core.yaml_env.config_problem`); ``None`` for
        settings from elsewhere."""
        return self._source_file

    @classmethod
    def from_yaml(cls, path: str | Path) -> DictaMeshSettings:
        """Load a YAML config under the environment and ``.env``; any problem becomes a
        :class:`ConfigurationError` naming the file and the line of each problem
        (``mesh.yaml, line 12: adapters.0.base_url: Field required``; no line for a value
        the environment or ``.env`` set)."""
        p = Path(path)
        if not p.is_file():
            raise ConfigurationError(f"config file not found: {p}", path=str(p))
        with _reading(p):
            settings = cls.from_mapping({}, origin=str(p))
        settings._source_file = p
        return settings

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], origin: str = "config") -> DictaMeshSettings:
        """Settings from ``raw`` (init arguments: they beat the environment)."""
        try:
            return cls(**raw)
        except PydanticValidationError as exc:
            yaml_file = _YAML_FILE.get()
            if yaml_file is None:
                problems = [config_problem(None, e["loc"], _error_message(e)) for e in exc.errors()]
                raise ConfigurationError(
                    f"invalid {origin}: " + "; ".join(problems), problems=problems
                ) from exc
            overrides = [raw, *_environment_values(cls)]
            problems = []
            for e in exc.errors():
                message = _error_message(e)
                inner = [*e["loc"], *message_path(message)]
                in_file = not any(_sets(values, inner) for values in overrides)
                problems.append(config_problem(yaml_file, e["loc"], message, in_file=in_file))
            # the message names the file once: "invalid mesh.yaml: line 3: api.port: ..."
            prefix = f"{yaml_file}, "
            short = [p.removeprefix(prefix).removeprefix(f"{yaml_file}: ") for p in problems]
            raise ConfigurationError(
                f"invalid {yaml_file}: " + "; ".join(short), problems=problems
            ) from exc


def _error_message(error: Any) -> str:
    """pydantic's message without its "Value error, " prefix (a validator's own words)."""
    message = str(error["msg"])
    if error.get("type") == "value_error":
        message = message.removeprefix("Value error, ")
    return message


def _environment_values(settings_cls: type[BaseSettings]) -> list[dict[str, Any]]:
    """What the environment and ``.env`` set (nested like the settings), to tell a value
    the YAML file did not provide; empty when they cannot be read."""
    values: list[dict[str, Any]] = []
    for source in (EnvSettingsSource, DotEnvSettingsSource):
        try:
            values.append(source(settings_cls)())
        except Exception:  # a malformed variable: pydantic-settings reports it elsewhere
            continue
    return values


def _sets(values: Any, loc: list[str | int]) -> bool:
    """Whether ``values`` (a source's nested dict) provides the value at ``loc``: the whole
    path, or a prefix of it holding something other than a mapping (a list, a scalar: it
    replaces what the file says, only mappings are merged)."""
    if not loc:
        return False
    for part in loc:
        if not isinstance(values, dict):
            return True
        if part not in values:
            return False
        values = values[part]
    return True
