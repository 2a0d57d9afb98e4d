"""The saga engine on a real (SQLite) catalog database, with in-memory sources."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from tests.unit.saga.fake_sources import FakeSources

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.core.errors import PermissionDenied, ValidationError
from dictamesh.saga import CREATE_INVOICE, SagaEngine, SagaStatus, SagaStore
from dictamesh.saga.definition import SagaDefinition, SagaStep, StepContext, StepRetry
from dictamesh.saga.engine import SagaStateError
from dictamesh.saga.metrics import SagaMetrics
from dictamesh.saga.store import QUEUE, IdempotencyConflict, NewSaga, SagaRecord

ORDER = {"customer_id": "1", "currency": "EUR", "items": [{"product_id": "prd_1", "quantity": 2}]}
TWO_LINES = {
    "customer_id": "1",
    "items": [{"product_id": "prd_1", "quantity": 2}, {"product_id": "prd_2", "quantity": 1}],
}


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None]] = []

    async def saga_event(
        self, record: SagaRecord, event: str, *, step: str | None = None, duration: float = 0.0
    ) -> None:
        self.seen.append((record.id, event, step))

    def step_finished(self, saga: str, step: str, phase: str, seconds: float) -> None:
        return None

    def of(self, saga_id: str) -> list[tuple[str, str | None]]:
        return [(e, s) for i, e, s in self.seen if i == saga_id]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """The catalog database on SQLite, and on PostgreSQL as the application role (row-level
    security on): the lease queue must work across tenants there."""
    fixture = "sqlite_catalog_url" if request.param == "sqlite" else "empty_catalog_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[CatalogDatabase]:
    db = await CatalogDatabase.open(database_url, migrate=False)
    yield db
    await db.aclose()


@pytest.fixture
def sources() -> FakeSources:
    return FakeSources()


def make_engine(
    database: CatalogDatabase,
    sources: FakeSources,
    *,
    node: str = "n1",
    definitions: list[SagaDefinition] | None = None,
    listeners: list[Any] | None = None,
    lease_seconds: float = 30.0,
    max_concurrent: int = 32,
    run_workers: bool = True,
) -> SagaEngine:
    async def no_sleep(_: float) -> None:
        await asyncio.sleep(0)

    return SagaEngine(
        SagaStore(database),
        definitions or [CREATE_INVOICE],
        sources,
        node=node,
        lease_seconds=lease_seconds,
        poll_interval_seconds=0.05,
        max_concurrent=max_concurrent,
        listeners=listeners or [],
        sleep=no_sleep,
        run_workers=run_workers,
    )


async def run_one(engine: SagaEngine, payload: dict[str, Any] = ORDER, **kw: Any) -> SagaRecord:
    record, _ = await engine.start("create_invoice", payload, **kw)
    return await engine.wait(record.id, timeout=10)


async def test_happy_path_completes_with_each_step_once(
    database: CatalogDatabase, sources: FakeSources
) -> None:
    events = Events()
    async with make_engine(database, sources, listeners=[events]) as engine:
        done = await run_one(engine)
        steps = await engine.steps(done.id)
    assert done.status is SagaStatus.COMPLETED
    assert sources.effects == {"reserve": 1, "create": 1, "charge": 1}
    assert done.outputs["create_invoice"]["total_cents"] == 2500
    assert [(s.step, s.phase, s.status) for s in steps] == [
        ("reserve_inventory", "action", "started"),
        ("reserve_inventory", "action", "completed"),
        ("create_invoice", "action", "started"),
        ("create_invoice", "action", "completed"),
        ("charge_customer", "action", "started"),
        ("charge_customer", "action", "completed"),
    ]
    assert events.of(done.id) == [
        ("started", None),
        ("step_completed", "reserve_inventory"),
        ("step_completed", "create_invoice"),
        ("step_completed", "charge_customer"),
        ("completed", None),
    ]
    async with database.read() as conn:  # finished sagas leave the queue
        assert (await conn.execute(QUEUE.select())).all() == []


async def test_a_submit_only_engine_stores_sagas_that_a_worker_node_runs(
    database: CatalogDatabase, sources: FakeSources
) -> None:
    """An api node (``run_workers=False``) stores the saga unleased and runs nothing; a
    saga-role node claims it from the lease queue and completes it."""
    async with make_engine(database, sources, node="api", run_workers=False) as submitter:
        record, created = await submitter.start("create_invoice", ORDER)
        assert created
        assert record.status is SagaStatus.RUNNING
        await asyncio.sleep(0.2)  # several poll intervals: nothing runs it
        assert sources.effects == {}
        assert submitter.in_flight == {"create_invoice": 0}
        async with database.read() as conn:
            (queued,) = (await conn.execute(QUEUE.select())).all()
        assert queued.lease_owner is None
        async with make_engine(database, sources, node="worker") as worker:
            # the submitter sees it end by reading the store (it ran elsewhere)
            done = await submitter.wait(record.id, timeout=10)
            assert worker.owner != submitter.owner
    assert done.status is SagaStatus.COMPLETED
    assert sources.effects == {"reserve": 1, "create": 1, "charge": 1}


async def test_decline_cancels_the_invoice_then_releases_the_stock(
    database: CatalogDatabase, sources: FakeSources
) -> None:
    sources.fail("charge", "decline")
    async with make_engine(database, sources) as engine:
        done = await run_one(engine)
    assert done.status is SagaStatus.COMPENSATED
    assert done.failed_step == "charge_customer"
    assert done.error is not None
    assert done.error["reason"] == "card_declined"
    assert [c for c, _ in sources.log] == [
        "reserve",
        "create",
        "charge",
        "refund",
        "cancel",
        "release",
    ]
    # the refund found no charge (declined): no effect; the others undid theirs once each
    assert sources.effects == {"reserve": 1, "create": 1, "cancel": 1, "release": 1}


async def test_a_partly_done_step_is_compensated_too(
    database: CatalogDatabase, sources: FakeSources
) -> None:
    sources.fail("reserve", "pass", "reject")  # the second line is refused
    async with make_engine(database, sources) as engine:
        done = await run_one(engine, TWO_LINES)
    assert done.status is SagaStatus.COMPENSATED
    assert sources.effects["reserve"] == 1
    assert sources.effects["release"] == 1  # the first line's reservation, found by its key


async def test_transient_compensation_failures_are_retried(
    database: CatalogDatabase, sources: FakeSources
) -> None:
    sources.fail("charge", "decline")
    sources.fail("cancel", "unavailable", "unavailable")
    async with make_engine(database, sources) as engine:
        done = await run_one(engine)
        steps = await engine.steps(done.id)
    assert done.status is SagaStatus.COMPENSATED
    assert sources.calls["cancel"] == 3
    assert sources.effects["cancel"] == 1
    assert [
        s.status for s in steps if s.step == "create_invoice" and s.phase == "compensation"
    ] == [
        "started",
        "retrying",
        "started",
        "retrying",
        "started",
        "completed",
    ]


async def test_a_failing_compensation_needs_attention_then_retry_or_abort(
    database: CatalogDatabase, sources: FakeSources
) -> None:
    sources.fail("charge", "decline")
    sources.fail("cancel", "reject")
    registry = CollectorRegistry()
    async with make_engine(database, sources) as engine:
        metrics = SagaMetrics(registry, [CREATE_INVOICE], lambda: engine.in_flight)
        engine.listeners.append(metrics)
        done = await run_one(engine)
        assert done.status is SagaStatus.FAILED
        assert done.error is not None
        assert done.error["compensating"] == "create_invoice"
        assert sources.effects["release"] == 0  # stopped: nothing after the failure
        metrics.refresh(await engine.store.queue_counts())
        assert (
            registry.get_sample_value("dictamesh_saga_needs_attention", {"saga": "create_invoice"})
            == 1
        )
        assert (
            registry.get_sample_value(
                "dictamesh_saga_completed_total", {"saga": "create_invoice", "outcome": "failed"}
            )
            == 1
        )
        with pytest.raises(SagaStateError):
            await engine.retry((await run_one(engine)).id)  # a completed saga: no retry

        retried = await engine.retry(done.id)  # the cause is gone now
        assert retried.status is SagaStatus.COMPENSATING
        again = await engine.wait(done.id, timeout=10)
        assert again.status is SagaStatus.COMPENSATED
        assert sources.effects["cancel"] == 1
        assert sources.effects["release"] == 1
        metrics.refresh(await engine.store.queue_counts())
        assert (
            registry.get_sample_value("dictamesh_saga_needs_attention", {"saga": "create_invoice"})
            == 0
        )


async def test_abort_settles_a_saga_needing_attention(
    database: CatalogDatabase, sources: FakeSources
) -> None:
    sources.fail("charge", "decline")
    sources.fail("cancel", "reject")
    async with make_engine(database, sources) as engine:
        failed = await run_one(engine)
        aborted = await engine.abort(failed.id)
    assert aborted.status is SagaStatus.ABORTED
    assert aborted.finished_at is not None


async def test_step_timeout_is_retried_then_compensated(
    database: CatalogDatabase, sources: FakeSources
) -> None:
    async def slow(ctx: StepContext) -> dict[str, Any]:
        await asyncio.sleep(10)
        return {}

    async def undo(ctx: StepContext) -> dict[str, Any]:
        return {"undone": ctx.output("slow") is None}

    saga = SagaDefinition(
        name="create_invoice",
        input_model=CREATE_INVOICE.input_model,
        steps=[SagaStep("slow", slow, undo, timeout_seconds=0.05, retry=StepRetry(max_attempts=2))],
    )
    async with make_engine(database, sources, definitions=[saga]) as engine:
        done = await run_one(engine)
        steps = await engine.steps(done.id)
    assert done.status is SagaStatus.COMPENSATED
    assert done.error is not None
    assert done.error["code"] == "STEP_TIMEOUT"
    assert [s.status for s in steps if s.phase == "action"] == [
        "started",
        "retrying",
        "started",
        "failed",
    ]
    assert steps[-1].output == {"undone": True}


async def test_same_idempotency_key_gives_one_saga(
    database: CatalogDatabase, sources: FakeSources
) -> None:
    async with make_engine(database, sources) as engine:
        first, created = await engine.start("create_invoice", ORDER, idempotency_key="order-1")
        second, again = await engine.start("create_invoice", ORDER, idempotency_key="order-1")
        assert created
        assert not again
        assert second.id == first.id
        with pytest.raises(IdempotencyConflict):
            await engine.start("create_invoice", TWO_LINES, idempotency_key="order-1")
        await engine.wait(first.id)
    assert sources.effects["charge"] == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"customer_id": "1", "items": []},
        {"customer_id": "1", "items": [{"product_id": "p", "quantity": 0}]},
        {"customer_id": "bad id!", "items": [{"product_id": "p", "quantity": 1}]},
        {"customer_id": "1", "items": [{"product_id": "p", "quantity": 1}], "extra": 1},
        {"customer_id": "1", "currency": "euro", "items": [{"product_id": "p", "quantity": 1}]},
        "not an object",
    ],
)
async def test_bad_input_starts_nothing(
    database: CatalogDatabase, sources: FakeSources, payload: Any
) -> None:
    async with make_engine(database, sources) as engine:
        with pytest.raises(ValidationError):
            await engine.start("create_invoice", payload)
        with pytest.raises(ValidationError):
            await engine.start("create_invoice", ORDER, idempotency_key="bad key!")
        assert await engine.store.list_sagas("default") == []
    assert not sources.calls


async def test_no_right_to_write_starts_nothing(
    database: CatalogDatabase, sources: FakeSources
) -> None:
    sources.denied_types.add("payment")
    async with make_engine(database, sources) as engine:
        with pytest.raises(PermissionDenied):
            await engine.start("create_invoice", ORDER)
        assert await engine.store.list_sagas("default") == []
    assert not sources.calls


async def _queued(database: CatalogDatabase, count: int, *, owner: str | None = None) -> list[str]:
    """Sagas stored as a node left them (no step run yet), leased by ``owner`` if given."""
    store = SagaStore(database)
    ids = []
    for i in range(count):
        record, _ = await store.create(
            NewSaga(
                id=f"00000000-0000-0000-0000-{i:012d}",
                tenant_id="default",
                saga_type="create_invoice",
                input=CREATE_INVOICE.input_model.model_validate(ORDER).model_dump(mode="json"),
                request_hash=str(i),
            ),
            owner=owner or "gone/0",
            lease_seconds=30,
        )
        ids.append(record.id)
    if owner is None:
        await store.release("gone/0")
    return ids


async def test_two_nodes_share_sagas_and_never_run_one_twice(
    database: CatalogDatabase, sources: FakeSources
) -> None:
    ids = await _queued(database, 12)
    sources.delay = 0.01
    one = make_engine(database, sources, node="a", max_concurrent=3)
    two = make_engine(database, sources, node="b", max_concurrent=3)
    async with one, two:
        done = [await one.wait(i, timeout=20) for i in ids]
    assert {d.status for d in done} == {SagaStatus.COMPLETED}
    assert sources.effects == {"reserve": 12, "create": 12, "charge": 12}
    assert sources.calls == sources.effects  # no step ran twice
    nodes = set()
    for saga_id in ids:
        nodes |= {s.node for s in await one.steps(saga_id)}
    assert nodes == {"a", "b"}


async def test_a_dead_nodes_saga_is_taken_over_when_its_lease_expires(
    database: CatalogDatabase, sources: FakeSources
) -> None:
    [saga_id] = await _queued(database, 1, owner="dead/1")
    async with database.write() as conn:  # the dead node's lease ran out
        await conn.execute(
            QUEUE.update().values(lease_expires_at=database.now() - timedelta(seconds=1))
        )
    async with make_engine(database, sources, node="b") as engine:
        done = await engine.wait(saga_id, timeout=10)
    assert done.status is SagaStatus.COMPLETED


async def test_a_live_lease_is_respected(database: CatalogDatabase, sources: FakeSources) -> None:
    [saga_id] = await _queued(database, 1, owner="other/1")
    async with make_engine(database, sources, node="b") as engine:
        still = await engine.wait(saga_id, timeout=0.3)
    assert still.status is SagaStatus.RUNNING
    assert not sources.calls


async def test_restarted_node_resumes_a_step_with_the_same_key(
    database: CatalogDatabase, sources: FakeSources
) -> None:
    # The first life applied the charge but died before storing it ("answer lost").
    sources.fail("charge", "hang")
    first = make_engine(database, sources, node="n1")
    await first.connect()
    record, _ = await first.start("create_invoice", ORDER)
    async with asyncio.timeout(10):
        while not sources.calls["charge"]:  # noqa: ASYNC110 - polling a plain counter
            await asyncio.sleep(0.01)
    # die without giving the lease back: cancel the tasks, keep the rows
    for task in [first._loop_task, *first._running.values()]:
        assert task is not None
        task.cancel()
    await asyncio.sleep(0.05)
    charge_key = sources.log[-1][1]
    sources.fail("charge")  # no more faults
    second = make_engine(database, sources, node="n1")  # same node name, new process
    async with second:
        done = await second.wait(record.id, timeout=10)
    assert done.status is SagaStatus.COMPLETED
    assert [k for c, k in sources.log if c == "charge"] == [charge_key, charge_key]
    assert sources.effects["charge"] == 1
