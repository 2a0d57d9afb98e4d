"""``probe_adapter``: a source's health check and one read, within a deadline, never raising."""

from __future__ import annotations

from dictamesh.adapters.probe import probe_adapter
from dictamesh.core.checks import CheckStatus
from dictamesh.testing.adapters import FakeAdapter


def widgets() -> FakeAdapter:
    return FakeAdapter(records=[{"id": "w-1", "name": "one"}, {"id": "w-2", "name": "two"}])


async def test_a_healthy_source_reads_one_entity() -> None:
    async with widgets() as adapter:
        result = await probe_adapter(adapter, timeout=5)
    assert result.check == "source:fake_widgets"
    assert result.status is CheckStatus.OK
    assert result.detail == "healthy; read 1 widget"
    assert result.ms is not None
    assert adapter.calls["fetch_page"] == 2  # the health check, then the read


async def test_an_unhealthy_source_fails_without_reading() -> None:
    async with widgets() as adapter:
        adapter.fail(1)
        result = await probe_adapter(adapter, timeout=5)
    assert result.status is CheckStatus.FAIL
    assert result.detail.startswith("unhealthy: ")
    assert "injected failure" in result.detail
    assert adapter.calls["fetch_page"] == 1


async def test_a_read_that_fails_after_a_good_health_check_fails() -> None:
    async with widgets() as adapter:
        adapter.garbage(2, hooks=["fetch_page"])  # the health check does not parse records
        result = await probe_adapter(adapter, timeout=5)
    assert result.status is CheckStatus.FAIL
    assert result.detail.startswith("read failed: ")


async def test_a_slow_source_is_degraded_and_a_hanging_one_times_out() -> None:
    async with widgets() as adapter:
        adapter.delay = 0.3  # above the SLA's p95 of 250 ms
        slow = await probe_adapter(adapter, timeout=5)
        adapter.delay = 0
        adapter.hang(5)
        hanging = await probe_adapter(adapter, timeout=0.2)
    assert slow.status is CheckStatus.WARN
    assert slow.detail.startswith("degraded: latency ")
    assert slow.detail.endswith("; read 1 widget")
    assert hanging.status is CheckStatus.FAIL
    assert hanging.detail == "no answer within 0.2 s"
