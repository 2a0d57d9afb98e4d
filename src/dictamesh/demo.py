"""The demo mesh: four sample sources, one node, and the end-to-end scenario check.

``dictamesh demo`` runs it interactively; ``dictamesh demo --check`` runs
:func:`run_check` headless and reports every step with its timing. ``--backend production``
runs the same mesh on Kafka + PostgreSQL + Redis, at the addresses of
:meth:`ProductionUrls.from_env` (``scripts/services.sh env`` prints them).

Example::

    results = await run_check(print, backend="production")  # ConfigurationError if a
    assert all(r.ok for r in results)                       # service is unreachable
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy.engine import make_url

from dictamesh._serving import serve_in_process
from dictamesh.catalog.service import MAX_EVENT_LOG_LIMIT
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import now_ms
from dictamesh.core.settings import DictaMeshSettings, ObservabilitySettings
from dictamesh.governance.runtime import DEMO_POLICY_FILE
from dictamesh.node import INGEST_GROUP, MeshNode
from dictamesh.sources.runner import (
    SampleSources,
    SourceEndpoints,
    reference_adapter_configs,
    run_sample_sources,
)

__all__ = [
    "DemoMesh",
    "ProductionUrls",
    "StepResult",
    "check_demo_kinds",
    "demo_settings",
    "otel_sdk_installed",
    "run_check",
    "run_demo_mesh",
]

Backend = Literal["embedded", "production"]

CUSTOMER_QUERY = """
query ($id: ID!) {
  customer(id: $id) {
    id email
    invoices { invoiceNumber items { quantity product { sku name } } }
  }
}"""


_SERVICES_HINT = (
    "start the services with `scripts/services.sh up` and export their addresses with"
    ' `eval "$(scripts/services.sh env)"`'
)


def _redact(url: str) -> str:
    """``url`` without its password (it goes into error messages)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


_DEFAULT_OWNER_URL = "postgresql+asyncpg://dictamesh_owner:dictamesh@127.0.0.1:5432/dictamesh"


@dataclass(frozen=True)
class ProductionUrls:
    """Where the production backend's three services are."""

    catalog_url: str = "postgresql+asyncpg://dictamesh:dictamesh@127.0.0.1:5432/dictamesh"
    kafka_bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: where each address came from, for error messages (set by :meth:`from_env`)
    origins: tuple[str, str, str] = ("", "", "")
    #: the catalog as the tables' owner, for migrations (ADR 0004: the app role may only
    #: read and write rows); ``None``: the database is already migrated
    migration_url: str | None = None

    # The node setting's own variable wins over the one `scripts/services.sh env` exports.
    _ENV = (
        ("DICTAMESH_CATALOG__URL", "DICTAMESH_POSTGRES_URL"),
        ("DICTAMESH_BUS__KAFKA_BOOTSTRAP", "DICTAMESH_KAFKA_BOOTSTRAP"),
        ("DICTAMESH_CACHE__REDIS_URL", "DICTAMESH_REDIS_URL"),
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProductionUrls:
        """Addresses from the environment; unset ones default to ``scripts/services.sh``'s."""
        env = os.environ if env is None else env
        defaults = (cls.catalog_url, cls.kafka_bootstrap, cls.redis_url)
        values: list[str] = []
        origins: list[str] = []
        for names, default in zip(cls._ENV, defaults, strict=True):
            name = next((n for n in names if env.get(n)), None)
            values.append(env[name] if name else default)
            origins.append(name or f"default; set {names[1]}")
        migration_url = next(
            (env[n] for n in ("DICTAMESH_CATALOG__MIGRATION_URL", "DICTAMESH_POSTGRES_OWNER_URL")
             if env.get(n)),
            # services.sh's owner role, when the catalog is services.sh's database too
            _DEFAULT_OWNER_URL if values[0] == cls.catalog_url else None,
        )  # fmt: skip
        return cls(
            values[0], values[1], values[2], (origins[0], origins[1], origins[2]), migration_url
        )

    async def check(self, timeout: float = 5.0) -> None:
        """Connect to each service once; :class:`ConfigurationError` naming every one that
        is not usable (the CLI turns it into exit code 2)."""
        if not self.catalog_url.startswith("postgresql"):
            raise ConfigurationError(
                "the production backend needs a PostgreSQL catalog, not"
                f" {_redact(self.catalog_url)!r}"
                + (f" ({self.origins[0]})" if self.origins[0] else "")
            )
        probes = (
            ("PostgreSQL", _redact(self.catalog_url), self.origins[0], _probe_postgres),
            ("Kafka", self.kafka_bootstrap, self.origins[1], _probe_kafka),
            ("Redis", _redact(self.redis_url), self.origins[2], _probe_redis),
        )
        addresses = (self.catalog_url, self.kafka_bootstrap, self.redis_url)
        outcomes = await asyncio.gather(
            *(
                asyncio.wait_for(probe(address), timeout)
                for (_, _, _, probe), address in zip(probes, addresses, strict=True)
            ),
            return_exceptions=True,
        )
        problems = [
            f"{service} not reachable at {shown}{f' ({origin})' if origin else ''}:"
            f" {_reason(outcome)}"
            for (service, shown, origin, _), outcome in zip(probes, outcomes, strict=True)
            if isinstance(outcome, BaseException)
        ]
        if problems:
            raise ConfigurationError(
                "production backend: " + "; ".join(problems) + f" — {_SERVICES_HINT}",
                problems=problems,
            )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer (timed out)"
    # SQLAlchemy wraps the driver's error (and appends a help link): say the driver's.
    return _describe(getattr(exc, "orig", None) or exc)


async def _probe_postgres(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


async def _probe_kafka(bootstrap: str) -> None:
    from dictamesh.events.kafka import KafkaBus

    bus = KafkaBus(
        bootstrap, client_id="dictamesh-demo-probe", topic_specs=(), auto_create_topics=False
    )
    # aiokafka logs a failed bootstrap itself; the ConfigurationError says it once, better.
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        await bus.connect()
    finally:
        quiet.setLevel(level)
        await bus.aclose()


async def _probe_redis(url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0)
    try:
        await client.ping()
    finally:
        await client.aclose()


def demo_settings(
    sources: SourceEndpoints,
    state_dir: Path,
    backend: Backend = "embedded",
    poll: float = 1.0,
    *,
    urls: ProductionUrls | None = None,
    run_id: str | None = None,
) -> DictaMeshSettings:
    """Settings of a node wired to the sample sources on the chosen backend.

    On the production backend every run is a mesh of its own, named by ``run_id`` (default:
    a fresh one): node ``demo-<run>`` and adapters ``<name>_<run>``.
    """
    adapters = reference_adapter_configs(sources, poll_interval_seconds=poll)
    raw: dict[str, Any] = {
        "node_name": "demo",
        "state_dir": str(state_dir),
        "adapters": [a.model_dump() for a in adapters],
        "bus": {"path": str(state_dir / "bus.sqlite3")},
        "catalog": {"url": f"sqlite+aiosqlite:///{state_dir / 'catalog.sqlite3'}"},
        # auth is off in the demo: this policy masks names/phones for anonymous callers
        # a fixed, public key: demo tokens/hashes stay stable across restarts (never in prod)
        "governance": {"policy_file": str(DEMO_POLICY_FILE), "masking_key": "dictamesh-demo"},
        # a customer's e-mail changed at the source → the demo user's in-app inbox
        "notifications": {
            "channels": {"inbox": {"kind": "in_app"}},
            "recipients": {"users": {DEMO_USER: {}}},
            "rules": [
                {
                    "name": "customer-email-changed",
                    "to": [DEMO_USER],
                    "channels": ["inbox"],
                    "when": {
                        "topics": ["customers.*.entity_changed"],
                        "event_types": ["updated"],
                        "changed_fields": ["email"],
                    },
                }
            ],
        },
    }
    for adapter in raw["adapters"]:  # the sources sign their webhooks with it (run_demo)
        adapter["webhook_secret"] = secrets.token_urlsafe(32)
    if backend == "production":
        urls = urls or ProductionUrls.from_env()
        run = run_id or _new_run_id()
        raw["bus"] = {"backend": "kafka", "kafka_bootstrap": urls.kafka_bootstrap}
        raw["catalog"] = {"url": urls.catalog_url}
        if urls.migration_url:
            raw["catalog"]["migration_url"] = urls.migration_url
        raw["cache"] = {"redis_url": urls.redis_url}
        raw["node_name"] = f"demo-{run}"
        # Change event ids are uuid5(adapter, type, id, version, event type) (ADR 0002), and
        # the sample sources restart from the same seed, with the same versions, every run.
        # On a catalog that outlives the run, this run's changes would carry an earlier
        # run's ids and be dropped as already ingested. A run-scoped adapter name gives the
        # re-seeded sources their own id space, as a new source system would have.
        for adapter in raw["adapters"]:
            adapter["name"] = f"{adapter['name']}_{run}"
    return DictaMeshSettings.from_mapping(raw, origin="demo settings")


#: the user the demo's notification rule writes to (its in-app inbox)
DEMO_USER = "demo"


def _new_run_id() -> str:
    return uuid.uuid4().hex[:8]


def _ingest_group(settings: DictaMeshSettings, backend: Backend) -> str:
    """One ingest group per catalog database on Kafka.

    A demo on another catalog (the test database, say) reads the same topics: sharing a
    group would split the partitions, and so the events, between two catalogs. A run-
    scoped group would read the topics' whole history on every run. Per catalog, a run
    starts from the previous run's offsets and what other catalogs published since.
    """
    if backend != "production":
        return INGEST_GROUP
    url = make_url(settings.catalog.url.get_secret_value())
    where = f"{url.host}:{url.port}/{url.database}"
    digest = hashlib.sha256(where.encode()).hexdigest()[:8]
    return f"{INGEST_GROUP}-demo-{url.database}-{digest}"


@dataclass
class DemoMesh:
    sources: SampleSources
    node: MeshNode
    api_url: str

    @property
    def graphql_url(self) -> str:
        return f"{self.api_url}/graphql"


@contextlib.asynccontextmanager
async def run_demo_mesh(
    state_dir: Path,
    *,
    backend: Backend = "embedded",
    host: str = "127.0.0.1",
    port: int = 0,
    poll: float = 1.0,
    urls: ProductionUrls | None = None,
    preflight: bool = True,
    traces: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> AsyncIterator[DemoMesh]:
    """The sources and a node serving the API. On the production backend the services are
    probed first (``preflight``): one unreachable raises :class:`ConfigurationError`.

    ``traces``: keep this process's spans in memory, served at ``/debug/traces`` (the
    interactive demo; it installs the process-wide tracer provider, so checks leave it off).
    ``on_step(label)`` is told each start-up step as it begins (the CLI's progress).
    """
    step = on_step or (lambda label: None)
    check_demo_kinds()  # before any file or socket: a broken install says so at once
    if backend == "production":
        urls = urls or ProductionUrls.from_env()
        if preflight:
            step("checking Kafka, PostgreSQL and Redis")
            await urls.check()
    step("starting the four sample sources")
    async with run_sample_sources(host=host) as sources:
        settings = demo_settings(sources, state_dir, backend, poll, urls=urls)
        if traces:
            settings = settings.model_copy(
                update={
                    "observability": ObservabilitySettings(
                        traces_exporter="memory", debug_traces=True
                    )
                }
            )
        step(f"starting the mesh node ({backend}: bus, catalog, adapters)")
        async with MeshNode(settings, ingest_group=_ingest_group(settings, backend)) as node:
            step("serving the API")
            async with serve_in_process(node.asgi_app(), host, port, what="API server") as api_url:
                step("registering the node's webhooks at the sources")
                await _register_webhooks(sources, settings, api_url)
                yield DemoMesh(sources=sources, node=node, api_url=api_url)


def otel_sdk_installed() -> bool:
    """Whether the OpenTelemetry SDK (the ``otel`` extra) can be imported."""
    try:
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        return False
    return True


def check_demo_kinds() -> None:
    """:class:`ConfigurationError` naming the demo's adapter kinds that are not installed."""
    from dictamesh.adapters.registry import AdapterRegistry

    registry = AdapterRegistry()
    for kind in ("customers_directus", "products_rest", "invoices_ecommerce", "payments_gateway"):
        registry.load_kind(kind)


async def _register_webhooks(
    sources: SampleSources, settings: DictaMeshSettings, api_url: str
) -> None:
    """Sources push webhooks to the node; polling stays on as the safety net."""
    configs = {a.kind: a for a in settings.adapters}
    async with httpx.AsyncClient(timeout=5) as client:
        for kind, base in (
            ("customers_directus", sources.customers_url),
            ("products_rest", sources.products_url),
            ("invoices_ecommerce", sources.invoices_url),
            ("payments_gateway", sources.payments_url),
        ):
            config = configs[kind]
            secret = config.webhook_secret
            response = await client.post(
                f"{base}/_admin/webhooks",
                json={
                    "url": f"{api_url}/webhooks/{config.name}",
                    "secret": None if secret is None else secret.get_secret_value(),
                },
            )
            response.raise_for_status()


@dataclass
class StepResult:
    name: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class _Check:
    report: Callable[[StepResult], None]
    starting: Callable[[str], None] | None = None
    results: list[StepResult] = field(default_factory=list)

    async def step(self, name: str, action: Callable[[], Awaitable[str]]) -> None:
        if self.starting is not None:
            self.starting(name)
        started = time.perf_counter()
        try:
            detail = await action()
        except Exception as exc:
            result = StepResult(name, False, time.perf_counter() - started, _describe(exc))
            self.report(result)
            self.results.append(result)
            raise _StepFailed(result) from exc
        result = StepResult(name, True, time.perf_counter() - started, detail)
        self.report(result)
        self.results.append(result)


class _StepFailed(Exception):
    def __init__(self, result: StepResult) -> None:
        super().__init__(result.detail)
        self.result = result


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _until(
    probe: Callable[[], Awaitable[Any]], timeout: float, what: str, interval: float = 0.1
) -> Any:
    """Poll ``probe`` until it returns a truthy value; raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise TimeoutError(f"{what} not seen within {timeout:.0f}s (last: {last!r})")


async def run_check(
    report: Callable[[StepResult], None],
    *,
    backend: Backend = "embedded",
    timeout: float = 30.0,
    state_dir: Path | None = None,
    urls: ProductionUrls | None = None,
    starting: Callable[[str], None] | None = None,
) -> list[StepResult]:
    """Run the whole scenario headless and return every step's result.

    A failing step ends the run and is reported, never raised. On the production backend
    the services (``urls``, default :meth:`ProductionUrls.from_env`) are probed before any
    step: an unreachable one raises :class:`ConfigurationError`, since that is set-up, not
    a failed scenario. Every check looks for what *this* run did (its events, its email),
    so the scenario passes again on a catalog and topics that earlier runs have filled.
    ``starting(name)`` is told each step as it begins (the CLI's spinner).
    """
    check_demo_kinds()
    if backend == "production":
        urls = urls or ProductionUrls.from_env()
        await urls.check()
    check = _Check(report, starting)
    with tempfile.TemporaryDirectory(prefix="dictamesh-demo-") as tmp:
        directory = state_dir or Path(tmp)
        with contextlib.suppress(_StepFailed):
            await _scenario(check, directory, backend, timeout, urls)
    return check.results


async def _scenario(
    check: _Check, state_dir: Path, backend: Backend, timeout: float, urls: ProductionUrls | None
) -> None:
    stack = contextlib.AsyncExitStack()
    mesh: DemoMesh | None = None
    # Events of this run are those stamped from now on (the event log filters on it).
    started_ms = now_ms()

    async def start() -> str:
        nonlocal mesh
        mesh = await stack.enter_async_context(
            run_demo_mesh(state_dir, backend=backend, urls=urls, preflight=False)
        )
        where = ""
        if urls is not None:
            where = f" (Kafka {urls.kafka_bootstrap}, {_redact(urls.catalog_url)})"
        return f"sources up, node on {backend} backend{where}, API at {mesh.api_url}"

    async with stack:
        await check.step("start sample sources and mesh node", start)
        assert mesh is not None
        m = mesh
        customer_id = "1"
        async with httpx.AsyncClient(base_url=m.api_url, timeout=10) as api:

            async def initial_sync() -> str:
                # Not a count of catalog rows: a reused catalog has them all already. Every
                # source invoice must have an event of this run in the catalog's event log.
                expected = {str(i) for i in m.sources.invoices_store.ids()}

                async def missing() -> set[str]:
                    logged = await m.node.catalog.get_event_log(
                        entity_type="invoice", since_ms=started_ms, limit=MAX_EVENT_LOG_LIMIT
                    )
                    return expected - {e.entity_id for e in logged}

                async def synced() -> bool:
                    return not await missing()

                try:
                    await _until(synced, timeout, f"events of all {len(expected)} invoices")
                except TimeoutError as exc:
                    gone = sorted(await missing())
                    raise TimeoutError(f"{exc}; {len(gone)} missing, e.g. {gone[:5]}") from None
                r = await api.get(f"/api/v1/entities/customer/{customer_id}")
                r.raise_for_status()
                total = await m.node.catalog.count_entities()
                return f"{len(expected)} invoices ingested this run; catalog holds {total} entities"

            await check.step("initial sync: sources → bus → catalog", initial_sync)

            async def graphql(variables: dict[str, Any]) -> dict[str, Any]:
                r = await api.post(
                    "/graphql", json={"query": CUSTOMER_QUERY, "variables": variables}
                )
                r.raise_for_status()
                body = r.json()
                if body.get("errors"):
                    raise RuntimeError(f"GraphQL errors: {body['errors']}")
                return dict(body["data"]["customer"])

            async def cross_domain() -> str:
                customer = await graphql({"id": customer_id})
                items = [i for inv in customer["invoices"] for i in inv["items"]]
                if not customer["invoices"] or not all(i["product"] for i in items):
                    raise RuntimeError(f"incomplete cross-domain answer: {customer}")
                return f"{len(customer['invoices'])} invoices, {len(items)} items with products"

            await check.step("GraphQL customer → invoices → items → product", cross_domain)
            new_email = f"demo.{now_ms()}.{uuid.uuid4().hex[:6]}@example.com"

            async def change_at_source() -> str:
                async with httpx.AsyncClient(
                    base_url=m.sources.customers_url,
                    headers={"Authorization": f"Bearer {m.sources.customers_token}"},
                ) as cms:
                    r = await cms.patch(
                        f"/items/customers/{customer_id}", json={"email": new_email}
                    )
                    r.raise_for_status()
                return f"PATCH /items/customers/{customer_id} email={new_email}"

            await check.step("change the customer's email at the source CMS", change_at_source)

            async def visible_in_graphql() -> str:
                async def fresh() -> bool:
                    return bool((await graphql({"id": customer_id}))["email"] == new_email)

                await _until(fresh, timeout, "new email through GraphQL")
                return "GraphQL answers the new email"

            await check.step("change visible through GraphQL", visible_in_graphql)

            async def in_event_log() -> str:
                # This run's change, recognised by its new email: earlier runs logged
                # UPDATED email events for this customer too.
                async def logged() -> Any:
                    r = await api.get(
                        f"/api/v1/entities/customer/{customer_id}/events",
                        params={"since_ms": started_ms},
                    )
                    r.raise_for_status()
                    return next(
                        (
                            e
                            for e in r.json()["events"]
                            if e["event_type"] == "UPDATED"
                            and "email" in e["changed_fields"]
                            and (e["payload"].get("after") or {}).get("email") == new_email
                        ),
                        None,
                    )

                event = await _until(logged, timeout, "UPDATED event in the catalog event log")
                return f"event {event['event_id']} changed {event['changed_fields']}"

            await check.step("change recorded in the catalog event log", in_event_log)

            async def notified() -> str:
                service = m.node.notifications.service if m.node.notifications else None
                if service is None:
                    raise RuntimeError("notifications are off on this node")

                async def in_inbox() -> Any:
                    items = await service.inbox.inbox(DEMO_USER, limit=20)
                    return next((i for i in items if new_email in i.text), None)

                item = await _until(in_inbox, timeout, "the change in the demo user's inbox")
                return f"in-app: {item.subject!r}"

            await check.step("change notified (the demo user's in-app inbox)", notified)

            async def graph() -> str:
                r = await api.get(
                    f"/api/v1/entities/customer/{customer_id}/graph", params={"depth": 3}
                )
                r.raise_for_status()
                types = sorted({n["type"] for n in r.json()["nodes"]})
                if "product" not in types:
                    raise RuntimeError(f"depth-3 graph reaches only {types}")
                return f"{len(r.json()['nodes'])} nodes of types {types}"

            await check.step("relationship graph customer → … → product", graph)

            async def create_invoice_saga() -> str:
                # The write path: reserve stock, write an invoice, charge — one durable saga.
                products = m.sources.products_store
                before = int((products.live("prd_1001") or {})["stock"])
                r = await api.post(
                    "/api/v1/sagas/create-invoice",
                    json={
                        "customer_id": customer_id,
                        "currency": "EUR",
                        "items": [{"product_id": "prd_1001", "quantity": 1}],
                    },
                    headers={"Idempotency-Key": f"demo-{uuid.uuid4().hex}", "Prefer": "wait=20"},
                )
                r.raise_for_status()
                saga = r.json()
                if saga["status"] != "completed":
                    raise RuntimeError(f"saga {saga['id']} is {saga['status']}: {saga['error']}")
                after = int((products.live("prd_1001") or {})["stock"])
                charge = saga["outputs"]["charge_customer"]["charge_id"]
                invoice = saga["outputs"]["create_invoice"]["invoice_id"]
                if after != before - 1 or m.sources.payments_store.live(charge) is None:
                    raise RuntimeError(f"sources disagree: stock {before}→{after}, {charge}")
                return (
                    f"saga {saga['id'][:8]} completed: {invoice}, {charge}, stock {before}→{after}"
                )

            await check.step("CreateInvoiceSaga: reserve → invoice → charge", create_invoice_saga)
