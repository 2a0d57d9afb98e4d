"""The governed node (``enforce_support``) as the ``node`` fixture of the enforcement tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.unit.governance.enforce_support import GovernedNode, governed_node


@pytest.fixture
async def node(sqlite_catalog_url: str) -> AsyncIterator[GovernedNode]:
    async with governed_node(sqlite_catalog_url) as governed:
        yield governed
