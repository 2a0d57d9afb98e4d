"""The standing attack suite's fixtures: one running node over the three sample sources (a
process of its own) and a /health watchdog sampling it during every attack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.support import HealthWatch, RunningNode, start_node


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with start_node(tmp_path_factory.mktemp("attacked-node")) as running:
        yield running


@pytest.fixture
def watch(node: RunningNode) -> Iterator[HealthWatch]:
    """Samples /health concurrently with the test; the node must stay healthy throughout."""
    with HealthWatch(node.url) as health:
        yield health
    health.assert_healthy()
