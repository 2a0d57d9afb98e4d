"""The governed node (``enforce_support``) as the ``node`` fixture of the enforcement tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.unit.governance.enforce_support import GovernedNode, governed_node


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[GovernedNode]:
    async with governed_node(tmp_path) as governed:
        yield governed
