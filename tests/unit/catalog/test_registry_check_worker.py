"""Compatibility checks in worker processes: same answers as in-process, bounded, and a
worker that dies is replaced (the registry keeps answering)."""

from __future__ import annotations

import contextlib
import json

import pytest

from dictamesh.catalog import _registry_check
from dictamesh.catalog._avro_compat import avro_compatibility_reasons
from dictamesh.catalog._avro_limits import AvroLimits, InvalidAvroSchema, SchemaTooComplex
from dictamesh.catalog._registry_check import check_in_worker
from dictamesh.catalog.records import Compatibility

OLD = json.dumps({"type": "record", "name": "A", "fields": [{"name": "a", "type": "int"}]})
NEW = json.dumps({"type": "record", "name": "A", "fields": [{"name": "b", "type": "int"}]})


def wide(width: int) -> str:
    members = [
        {"type": "record", "name": f"M{i}", "fields": [{"name": "f", "type": "string"}]}
        for i in range(width)
    ]
    return json.dumps({"type": "record", "name": "W", "fields": [{"name": "u", "type": members}]})


async def test_a_worker_answers_like_the_checker_in_process() -> None:
    for level in (Compatibility.BACKWARD, Compatibility.FORWARD, Compatibility.FULL):
        expected = avro_compatibility_reasons(NEW, [OLD], level, AvroLimits())
        assert await check_in_worker(NEW, [OLD], level, AvroLimits()) == expected
    assert await check_in_worker(NEW, [OLD], Compatibility.BACKWARD, AvroLimits())  # refused


async def test_errors_come_back_typed() -> None:
    with pytest.raises(InvalidAvroSchema):
        await check_in_worker('{"type": "nope"}', [OLD], Compatibility.FULL, AvroLimits())
    tight = AvroLimits(max_list_items=10)
    with pytest.raises(SchemaTooComplex):
        await check_in_worker(wide(11), [wide(10)], Compatibility.FULL, tight)


async def test_a_dead_worker_is_replaced() -> None:
    pool = _registry_check._workers()
    for worker in list(pool._all):
        worker.process.kill()
        worker.process.wait()
    # a call may meet a dead worker: that call is refused as too complex, never hangs
    for _ in range(_registry_check.WORKERS):
        with contextlib.suppress(SchemaTooComplex):
            await check_in_worker(NEW, [OLD], Compatibility.NONE, AvroLimits())
    assert all(w.process.poll() is None for w in pool._all)
    assert await check_in_worker(NEW, [OLD], Compatibility.NONE, AvroLimits()) == []
