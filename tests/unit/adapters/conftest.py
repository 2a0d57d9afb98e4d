from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from dictamesh.testing.adapters import FakeAdapter

RECORDS: list[dict[str, Any]] = [
    {"id": "w-1", "name": "Widget", "color": "red", "size": 3},
    {"id": "w-2", "name": "Gadget", "color": "blue", "size": 5},
    {"id": "w-3", "name": "Gizmo", "color": "red", "size": 1},
    {"id": "w-4", "name": "Doohickey", "tags": ["new"]},
    {"id": "w-5", "name": "Thingamajig", "color": "green", "size": 8},
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAdapter]:
    async with FakeAdapter(records=RECORDS) as adapter:
        yield adapter
