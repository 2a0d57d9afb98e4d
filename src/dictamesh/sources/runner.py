"""Run the four sample sources in-process, each on a free port.

Example::

    async with run_sample_sources(seed=42) as sources:
        sources.customers_url        # 'http://127.0.0.1:53121'
        sources.invoices_store.ids() # ['INV-2026-00001', ...]
        sources.payments_store.ids() # ['ch_1', ...] (charges; refunds in refunds_store)
        await sources.stop("products")    # the source disappears (connections refused)
        await sources.start("products")   # back, on the same port, with the same data
        configs = reference_adapter_configs(sources, poll_interval_seconds=None)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlsplit

import dictamesh.sources.directus as directus
import dictamesh.sources.invoices as invoices
import dictamesh.sources.payments as payments
import dictamesh.sources.products as products
from dictamesh._serving import serve_in_process
from dictamesh.core.settings import AdapterConfig
from dictamesh.sources._store import RecordStore
from dictamesh.sources.seed import StoreClock

__all__ = [
    "SHUTDOWN_TIMEOUT",
    "SampleSources",
    "SourceEndpoints",
    "SourceName",
    "reference_adapter_configs",
    "run_sample_sources",
]

SourceName = Literal["customers", "products", "invoices", "payments"]

SHUTDOWN_TIMEOUT = 1
"""Seconds a stopping source lets requests in flight finish (a hung one is then cut)."""


@dataclass
class _Server:
    app: Any
    host: str
    port: int
    stack: contextlib.AsyncExitStack | None = None


@dataclass
class SourceEndpoints:
    """Where the sample sources answer, and their credentials: plain strings, so they
    can be handed to another process (e.g. as JSON)."""

    customers_url: str
    products_url: str
    invoices_url: str
    payments_url: str
    customers_token: str = directus.DEFAULT_TOKEN
    products_api_key: str = products.DEFAULT_API_KEY
    invoices_token: str = invoices.DEFAULT_TOKEN
    payments_token: str = payments.DEFAULT_TOKEN

    def endpoints(self) -> SourceEndpoints:
        """Just the addresses and credentials (of a :class:`SampleSources`, say)."""
        return SourceEndpoints(**{f.name: getattr(self, f.name) for f in fields(SourceEndpoints)})


@dataclass(kw_only=True)
class SampleSources(SourceEndpoints):
    customers_store: RecordStore
    products_store: RecordStore
    invoices_store: RecordStore
    #: the charges
    payments_store: RecordStore
    #: the products API's stock reservations
    reservations_store: RecordStore
    #: the payment gateway's refunds
    refunds_store: RecordStore
    _servers: dict[SourceName, _Server] = field(default_factory=dict, repr=False)

    def running(self, source: SourceName) -> bool:
        return self._servers[source].stack is not None

    async def stop(self, source: SourceName) -> None:
        """Stop serving ``source`` (its store and data stay); idempotent."""
        server = self._servers[source]
        if server.stack is not None:
            stack, server.stack = server.stack, None
            await stack.aclose()

    async def start(self, source: SourceName) -> None:
        """Serve ``source`` again on the port it had; idempotent."""
        server = self._servers[source]
        if server.stack is None:
            server.stack = await _serve(server)

    async def _aclose(self) -> None:
        for name in list(self._servers):
            await self.stop(name)


def reference_adapter_configs(sources: SourceEndpoints, **options: Any) -> list[AdapterConfig]:
    """The four reference adapters reading ``sources``, each named after its kind;
    ``options`` (``poll_interval_seconds``, ``resilience``...) go to every config."""
    return [
        AdapterConfig(name=kind, kind=kind, base_url=url, api_key=key, **options)
        for kind, url, key in (
            ("customers_directus", sources.customers_url, sources.customers_token),
            ("products_rest", sources.products_url, sources.products_api_key),
            ("invoices_ecommerce", sources.invoices_url, sources.invoices_token),
            ("payments_gateway", sources.payments_url, sources.payments_token),
        )
    ]


async def _serve(server: _Server) -> contextlib.AsyncExitStack:
    stack = contextlib.AsyncExitStack()
    url = await stack.enter_async_context(
        serve_in_process(
            server.app,
            server.host,
            server.port,
            what="sample source",
            shutdown_timeout=SHUTDOWN_TIMEOUT,
        )
    )
    server.port = urlsplit(url).port or server.port  # port 0 → the one it got
    return stack


@contextlib.asynccontextmanager
async def run_sample_sources(
    host: str = "127.0.0.1",
    seed: int = 42,
    *,
    ports: tuple[int, int, int, int] = (0, 0, 0, 0),
    products_rate_limit: float | None = 100.0,
) -> AsyncIterator[SampleSources]:
    """Start the CMS, the products API, the shop and the payment gateway (``ports`` in
    that order; 0 means any free port)."""
    clock = StoreClock()
    customers_store = directus.create_store(seed, clock)
    products_store = products.create_store(seed, clock)
    invoices_store = invoices.create_store(seed, clock)
    payments_store = payments.create_store(seed, clock)
    reservations_store = products.create_reservation_store(clock)
    refunds_store = payments.create_refund_store(clock)
    apps = (
        directus.create_app(customers_store),
        products.create_app(
            products_store, rate_limit=products_rate_limit, reservations=reservations_store
        ),
        invoices.create_app(invoices_store),
        payments.create_app(payments_store, refunds=refunds_store),
    )
    stores = (
        customers_store,
        products_store,
        invoices_store,
        payments_store,
        reservations_store,
        refunds_store,
    )
    names: tuple[SourceName, ...] = ("customers", "products", "invoices", "payments")
    servers = {
        name: _Server(app, host, port) for name, app, port in zip(names, apps, ports, strict=True)
    }
    async with contextlib.AsyncExitStack() as stack:
        for store in stores:
            stack.push_async_callback(store.aclose)
        sources = SampleSources(
            customers_url="",
            products_url="",
            invoices_url="",
            payments_url="",
            customers_store=customers_store,
            products_store=products_store,
            invoices_store=invoices_store,
            payments_store=payments_store,
            reservations_store=reservations_store,
            refunds_store=refunds_store,
            _servers=dict(servers),
        )
        stack.push_async_callback(sources._aclose)
        for name in names:
            await sources.start(name)
        urls = [f"http://{host}:{servers[name].port}" for name in names]
        (
            sources.customers_url,
            sources.products_url,
            sources.invoices_url,
            sources.payments_url,
        ) = urls
        yield sources
