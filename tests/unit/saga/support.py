"""A real saga engine on a fresh SQLite catalog with in-memory sources, for the tests of
the saga routes, GraphQL fields and CLI (the engine's own tests build theirs in place)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tests.unit.saga.fake_sources import FakeSources

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.saga import CREATE_INVOICE, SagaEngine, SagaStore

ORDER = {"customer_id": "1", "currency": "EUR", "items": [{"product_id": "prd_1", "quantity": 2}]}


async def _no_sleep(_: float) -> None:
    await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def running_engine(
    catalog_url: str, sources: FakeSources, *, node: str = "n1"
) -> AsyncIterator[SagaEngine]:
    """A connected engine (claim loop running, polling every 50 ms) over ``catalog_url``."""
    database = await CatalogDatabase.open(catalog_url, migrate=False)
    try:
        engine = SagaEngine(
            SagaStore(database),
            [CREATE_INVOICE],
            sources,
            node=node,
            poll_interval_seconds=0.05,
            sleep=_no_sleep,
        )
        async with engine:
            yield engine
    finally:
        await database.aclose()


def fail_for_good(sources: FakeSources) -> None:
    """The next saga is declined at the charge and its invoice cannot be cancelled: it ends
    ``failed`` (needs attention); a retry then succeeds (the faults are used up)."""
    sources.fail("charge", "decline")
    sources.fail("cancel", "reject")
