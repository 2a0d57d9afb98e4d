"""WriteContractSuite: passes for an adapter over a source that honours idempotency keys,
and catches a source that does not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.unit.adapters.http_widgets import http_config
from tests.unit.adapters.http_writes import WritableWidgets, WriteSource

from dictamesh.adapters.base import AdapterBase
from dictamesh.adapters.contract import WriteResult
from dictamesh.testing.contract import EffectCount, RequestCount, WriteCall, WriteContractSuite


@pytest.fixture
def widget_source() -> WriteSource:
    return WriteSource()


@pytest.fixture
async def widgets(widget_source: WriteSource) -> AsyncIterator[WritableWidgets]:
    async with (
        httpx.AsyncClient(
            transport=httpx.MockTransport(widget_source), base_url="http://widgets.test"
        ) as client,
        WritableWidgets(http_config(), client=client) as adapter,
    ):
        yield adapter


def _paint(adapter: AdapterBase) -> WriteCall:
    async def paint(key: str) -> WriteResult:
        payload = {"widget_id": "w-1", "color": "red"}
        return await adapter.run_command("paint", payload, idempotency_key=key)

    return paint


class TestMockWidgetWrites(WriteContractSuite):
    @pytest.fixture
    def adapter(self, widgets: WritableWidgets) -> AdapterBase:
        return widgets

    @pytest.fixture
    def write_call(self, adapter: AdapterBase) -> WriteCall:
        return _paint(adapter)

    @pytest.fixture
    def effect_count(self, widget_source: WriteSource) -> EffectCount:
        async def count() -> int:
            return len(widget_source.effects)

        return count

    @pytest.fixture
    def request_count(self, widget_source: WriteSource) -> RequestCount:
        return lambda: widget_source.calls


class ForgetfulSource(WriteSource):
    """Ignores idempotency keys: every request is a new effect."""

    def _serve(self, request: httpx.Request) -> httpx.Response:
        self.stored.clear()
        return super()._serve(request)


async def test_the_suite_catches_a_source_that_ignores_keys() -> None:
    source = ForgetfulSource()
    async with (
        httpx.AsyncClient(
            transport=httpx.MockTransport(source), base_url="http://widgets.test"
        ) as client,
        WritableWidgets(http_config(), client=client) as adapter,
    ):

        async def count() -> int:
            return len(source.effects)

        with pytest.raises(AssertionError, match="two effects"):
            await WriteContractSuite().test_same_key_twice_has_one_effect(
                adapter, _paint(adapter), count
            )


async def test_the_suite_catches_a_key_sent_unchecked() -> None:
    sent: list[str] = []

    async def careless(key: str) -> WriteResult:
        sent.append(key)
        return WriteResult()

    async def none() -> int:
        return 0

    suite: Any = WriteContractSuite()
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        await suite.test_invalid_key_is_refused_before_the_source(
            "bad key!", careless, none, lambda: len(sent)
        )
