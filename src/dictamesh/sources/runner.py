"""Run the three sample sources in-process, each on a free port.

Example::

    async with run_sample_sources(seed=42) as sources:
        sources.customers_url        # 'http://127.0.0.1:53121'
        sources.invoices_store.ids() # ['INV-2026-00001', ...]
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from dictamesh._serving import serve_in_process
from dictamesh.sources import directus, invoices, products
from dictamesh.sources._store import RecordStore
from dictamesh.sources.seed import StoreClock

__all__ = ["SampleSources", "run_sample_sources"]


@dataclass
class SampleSources:
    customers_url: str
    products_url: str
    invoices_url: str
    customers_store: RecordStore
    products_store: RecordStore
    invoices_store: RecordStore
    customers_token: str = directus.DEFAULT_TOKEN
    products_api_key: str = products.DEFAULT_API_KEY
    invoices_token: str = invoices.DEFAULT_TOKEN


@contextlib.asynccontextmanager
async def run_sample_sources(
    host: str = "127.0.0.1",
    seed: int = 42,
    *,
    ports: tuple[int, int, int] = (0, 0, 0),
    products_rate_limit: float | None = 100.0,
) -> AsyncIterator[SampleSources]:
    """Start the CMS, the products API and the shop; ``ports`` 0 means any free port."""
    clock = StoreClock()
    customers_store = directus.create_store(seed, clock)
    products_store = products.create_store(seed, clock)
    invoices_store = invoices.create_store(seed, clock)
    apps = (
        directus.create_app(customers_store),
        products.create_app(products_store, rate_limit=products_rate_limit),
        invoices.create_app(invoices_store),
    )
    stores = (customers_store, products_store, invoices_store)
    async with contextlib.AsyncExitStack() as stack:
        for store in stores:
            stack.push_async_callback(store.aclose)
        urls = [
            await stack.enter_async_context(serve_in_process(app, host, port, what="sample source"))
            for app, port in zip(apps, ports, strict=True)
        ]
        yield SampleSources(
            customers_url=urls[0],
            products_url=urls[1],
            invoices_url=urls[2],
            customers_store=customers_store,
            products_store=products_store,
            invoices_store=invoices_store,
        )
