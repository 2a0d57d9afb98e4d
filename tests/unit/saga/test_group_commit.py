"""SagaStore's group commit: sagas waiting together share one transaction, yet each gets
its own outcome — a lost lease or a reused key fails that saga only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.saga.store import (
    QUEUE,
    IdempotencyConflict,
    LeaseLost,
    NewSaga,
    SagaStore,
    StepLog,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_catalog_url" if request.param == "sqlite" else "empty_catalog_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SagaStore]:
    database = await CatalogDatabase.open(database_url, migrate=False)
    yield SagaStore(database)
    await database.aclose()


def saga(n: int, *, key: str | None = None, tenant: str = "default", digest: str = "h") -> NewSaga:
    return NewSaga(
        id=f"00000000-0000-0000-0000-{n:012d}",
        tenant_id=tenant,
        saga_type="create_invoice",
        input={"n": n},
        request_hash=digest,
        idempotency_key=key,
    )


async def test_a_lost_lease_fails_only_its_own_saga(store: SagaStore) -> None:
    for n in (1, 2):
        await store.create(saga(n), owner="me/1", lease_seconds=30)
    async with store.database.write() as conn:  # another node took saga 2
        await conn.execute(
            QUEUE.update().where(QUEUE.c.saga_id == saga(2).id).values(lease_owner="other/1")
        )
    outcomes = await asyncio.gather(
        *(
            store.record_step(
                saga(n).id,
                "default",
                "me/1",
                [StepLog("reserve_inventory", "action", "completed", 1, output={"n": n})],
                changes={"step_index": 1},
                lease_seconds=30,
            )
            for n in (1, 2)
        ),
        return_exceptions=True,
    )
    assert not isinstance(outcomes[0], BaseException)
    assert isinstance(outcomes[1], LeaseLost)
    first = await store.get(saga(1).id, "default")
    second = await store.get(saga(2).id, "default")
    assert (first.step_index, second.step_index) == (1, 0)
    assert [s.status for s in await store.steps(saga(1).id, "default")] == ["completed"]
    assert await store.steps(saga(2).id, "default") == []


async def test_sagas_of_several_tenants_commit_together(store: SagaStore) -> None:
    created = await asyncio.gather(
        *(store.create(saga(n, tenant=t), owner="me/1", lease_seconds=30)
          for n, t in ((1, "acme"), (2, "globex"), (3, "acme")))
    )  # fmt: skip
    assert all(new for _, new in created)
    assert len(await store.list_sagas("acme")) == 2
    assert len(await store.list_sagas("globex")) == 1


async def test_a_reused_key_fails_only_its_own_creation(store: SagaStore) -> None:
    await store.create(saga(1, key="order-1"), owner="me/1", lease_seconds=30)
    results = await asyncio.gather(
        store.create(saga(2, key="order-1"), owner="me/1", lease_seconds=30),  # same request
        store.create(saga(3, key="order-1", digest="other"), owner="me/1", lease_seconds=30),
        store.create(saga(4, key="order-4"), owner="me/1", lease_seconds=30),
        return_exceptions=True,
    )
    same, other, fresh = results
    assert not isinstance(same, BaseException)
    assert same[0].id == saga(1).id
    assert not same[1]
    assert isinstance(other, IdempotencyConflict)
    assert not isinstance(fresh, BaseException)
    assert fresh[1]
    assert {s.id for s in await store.list_sagas("default")} == {saga(1).id, saga(4).id}


async def test_closing_waits_for_the_commit_of_a_cancelled_submitter() -> None:
    """A saga cancelled mid-commit (the node stopping) leaves its transaction running;
    closing the store waits for it, so no transaction outlives the database."""
    from dictamesh.core.group_commit import GroupCommit

    release = asyncio.Event()
    committed: list[list[int]] = []

    async def commit(items: list[int]) -> list[BaseException | None]:
        await release.wait()
        committed.append(items)
        return [None] * len(items)

    lane = GroupCommit(commit)
    submitter = asyncio.create_task(lane.submit(1))
    await asyncio.sleep(0)
    submitter.cancel()
    closing = asyncio.create_task(lane.aclose())
    await asyncio.sleep(0.05)
    assert not closing.done()  # the commit is still in flight
    release.set()
    await closing
    assert committed == [[1]]
