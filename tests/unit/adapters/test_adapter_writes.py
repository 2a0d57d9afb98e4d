"""AdapterBase writes over HTTP (httpx.MockTransport): idempotency keys, retries only when
the source honours them, business refusals, the breaker, the cache, capabilities."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.unit.adapters.http_widgets import HttpWidgets, http_config, status
from tests.unit.adapters.http_writes import (
    CommandsWithoutNames,
    UnkeyedWidgets,
    UpdateOnlyWidgets,
    WritableWidgets,
    WriteSource,
)

from dictamesh.adapters.base import AdapterBase
from dictamesh.adapters.contract import AdapterCapability
from dictamesh.adapters.http import IDEMPOTENCY_HEADER
from dictamesh.core.errors import (
    OperationNotSupported,
    SourceUnavailable,
    WriteInProgress,
    WriteRejected,
)
from dictamesh.core.inputs import InvalidInput
from dictamesh.resilience import BreakerState

W, C = AdapterCapability.WRITE, AdapterCapability.COMMANDS


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
def source() -> WriteSource:
    return WriteSource()


@pytest.fixture
async def client(source: WriteSource) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(source), base_url="http://widgets.test"
    ) as client:
        yield client


def make(
    client: httpx.AsyncClient, cls: type[AdapterBase] = WritableWidgets, **res: Any
) -> AdapterBase:
    return cls(http_config(**res), client=client, sleep=_no_sleep)


def test_capabilities_are_detected_from_the_hooks(client: httpx.AsyncClient) -> None:
    assert {W, C} <= make(client).capabilities
    assert make(client).commands == {"paint"}
    assert not {W, C} & make(client, HttpWidgets).capabilities
    update_only = make(client, UpdateOnlyWidgets).capabilities
    assert W in update_only
    assert C not in update_only
    assert C not in make(client, CommandsWithoutNames).capabilities  # no command named


async def test_writes_not_offered_raise_before_any_request(
    client: httpx.AsyncClient, source: WriteSource
) -> None:
    plain = make(client, HttpWidgets)
    with pytest.raises(OperationNotSupported):
        await plain.create_entity({"name": "x"}, idempotency_key="k")
    with pytest.raises(OperationNotSupported):
        await plain.run_command("paint", {}, idempotency_key="k")
    update_only = make(client, UpdateOnlyWidgets)
    with pytest.raises(OperationNotSupported) as refused:
        await update_only.delete_entity("w-1", idempotency_key="k")
    assert refused.value.http_status == 405
    with pytest.raises(OperationNotSupported):
        await make(client).run_command("fly", {}, idempotency_key="k")
    assert source.calls == 0


async def test_key_is_sent_and_an_invalid_key_never_is(
    client: httpx.AsyncClient, source: WriteSource
) -> None:
    adapter = make(client)
    result = await adapter.create_entity({"name": "Sprocket"}, idempotency_key="order-1:create")
    assert source.requests[-1].headers[IDEMPOTENCY_HEADER] == "order-1:create"
    assert result.entity is not None
    assert result.entity.attributes == {"name": "Sprocket"}
    for bad in ("bad key!", "k" * 1000, ""):
        with pytest.raises(InvalidInput):
            await adapter.create_entity({"name": "x"}, idempotency_key=bad)
    assert source.calls == 1


async def test_same_key_replays_one_effect(client: httpx.AsyncClient, source: WriteSource) -> None:
    adapter = make(client)
    first = await adapter.run_command(
        "paint", {"widget_id": "w-1", "color": "red"}, idempotency_key="p-1"
    )
    again = await adapter.run_command(
        "paint", {"widget_id": "w-1", "color": "red"}, idempotency_key="p-1"
    )
    assert source.effects == [("paint", "p-1")]
    assert first.same_effect(again)
    assert (first.replayed, again.replayed) == (False, True)


async def test_5xx_is_retried_when_writes_are_idempotent(
    client: httpx.AsyncClient, source: WriteSource
) -> None:
    adapter = make(client, max_attempts=3)
    source.queue(status(503), status(502))
    result = await adapter.create_entity({"name": "Cog"}, idempotency_key="c-1")
    assert result.entity is not None
    assert source.calls == 3
    assert source.effects == [("create", "c-1")]
    assert adapter.get_metrics().retries == 2


async def test_5xx_is_not_retried_without_idempotent_writes(
    client: httpx.AsyncClient, source: WriteSource
) -> None:
    adapter = make(client, UnkeyedWidgets, max_attempts=3)
    source.queue(status(503))
    with pytest.raises(SourceUnavailable):
        await adapter.create_entity({"name": "Cog"}, idempotency_key="c-1")
    assert source.calls == 1
    assert adapter.get_metrics().retries == 0
    # reads of the same adapter still retry
    source.queue(status(503))
    assert (await adapter.get_entity("w-1")).id == "w-1"


async def _write(adapter: AdapterBase, command: str, payload: dict[str, Any], key: str) -> None:
    if command == "create":
        await adapter.create_entity(payload, idempotency_key=key)
    else:
        await adapter.run_command(command, payload, idempotency_key=key)


@pytest.mark.parametrize(
    ("command", "payload", "reason", "http_status"),
    [
        ("create", {"name": "taken"}, "name_taken", 409),
        ("paint", {"widget_id": "w-1", "color": "none"}, "card_declined", 402),
    ],
)
async def test_rejected_write_is_not_retried_and_does_not_trip_the_breaker(
    client: httpx.AsyncClient,
    source: WriteSource,
    command: str,
    payload: dict[str, Any],
    reason: str,
    http_status: int,
) -> None:
    adapter = make(client, max_attempts=3, breaker_failure_threshold=1)
    for attempt in range(3):
        with pytest.raises(WriteRejected) as refused:
            await _write(adapter, command, payload, f"r-{attempt}")
        assert refused.value.reason == reason
        assert refused.value.details["status"] == http_status
    assert source.calls == 3  # one request per write: never retried
    assert adapter.policy.breaker.state is BreakerState.CLOSED
    metrics = adapter.get_metrics()
    assert (metrics.errors, metrics.retries) == (0, 0)
    # the same key again: the stored refusal, replayed
    with pytest.raises(WriteRejected):
        await _write(adapter, command, payload, "r-0")
    assert source.effects == []


async def test_key_in_use_is_retried_until_answered(
    client: httpx.AsyncClient, source: WriteSource
) -> None:
    adapter = make(client, max_attempts=3)
    busy = httpx.Response(409, json={"error": {"code": "idempotency_key_in_use"}})
    source.queue(busy)
    result = await adapter.update_entity("w-1", {"name": "Renamed"}, idempotency_key="u-1")
    assert result.entity is not None
    assert result.entity.attributes == {"name": "Renamed"}
    assert source.calls == 2
    source.queue(busy, busy, busy)
    with pytest.raises(WriteInProgress):
        await adapter.update_entity("w-2", {"name": "x"}, idempotency_key="u-2")
    assert adapter.policy.breaker.state is BreakerState.CLOSED


async def test_key_reused_with_another_body_is_rejected(
    client: httpx.AsyncClient, source: WriteSource
) -> None:
    adapter = make(client)
    await adapter.create_entity({"name": "A"}, idempotency_key="same")
    with pytest.raises(WriteRejected) as refused:
        await adapter.create_entity({"name": "B"}, idempotency_key="same")
    assert refused.value.reason == "idempotency_key_reused"


async def test_cached_copy_is_dropped_after_a_write(
    client: httpx.AsyncClient, source: WriteSource
) -> None:
    adapter = make(client)
    assert (await adapter.get_entity("w-1")).attributes["name"] == "Widget"
    await adapter.get_entity("w-1")
    reads = source.calls
    assert reads == 1  # the second read was cached
    await adapter.update_entity("w-1", {"name": "Renamed"}, idempotency_key="u-1")
    assert (await adapter.get_entity("w-1")).attributes["name"] == "Renamed"
    # a command names what it changed: that copy is dropped too
    await adapter.get_entity("w-2")
    source.rows["w-2"]["name"] = "Painted"
    await adapter.run_command("paint", {"widget_id": "w-2", "color": "red"}, idempotency_key="p")
    assert (await adapter.get_entity("w-2")).attributes["name"] == "Painted"


async def test_cached_copy_is_dropped_when_the_write_failed(
    client: httpx.AsyncClient, source: WriteSource
) -> None:
    adapter = make(client, UnkeyedWidgets)
    await adapter.get_entity("w-1")
    source.rows["w-1"]["name"] = "Applied before the timeout"
    source.queue(status(504))
    with pytest.raises(SourceUnavailable):
        await adapter.update_entity("w-1", {"name": "x"}, idempotency_key="u-1")
    assert (await adapter.get_entity("w-1")).attributes["name"] == "Applied before the timeout"


async def test_delete_answers_without_an_entity(
    client: httpx.AsyncClient, source: WriteSource
) -> None:
    adapter = make(client)
    result = await adapter.delete_entity("w-2", idempotency_key="d-1")
    assert result.entity is None
    assert result.data == {"deleted": True, "id": "w-2"}
    assert "w-2" not in source.rows
