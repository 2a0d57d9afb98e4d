"""The real Apollo gateway (Node.js, ``tests/federation``) for tests marked ``federation``.

Without ``node`` or the npm packages (``make node-deps``) these tests skip with the reason
on a developer machine; in CI (``CI`` set) that is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

FEDERATION_DIR = Path(__file__).resolve().parents[2] / "federation"


@pytest.fixture(scope="session")
def node_gateway() -> list[str]:
    """The command that starts ``tests/federation/gateway.mjs`` (add its arguments)."""
    node = shutil.which("node")
    installed = FEDERATION_DIR / "node_modules" / "@apollo" / "gateway" / "package.json"
    problem = None
    if node is None:
        problem = "node (Node.js 20+) is not on PATH"
    elif not installed.is_file():
        problem = f"npm packages missing in {FEDERATION_DIR}: run `make node-deps`"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(problem + " — CI must run the federation tests against a real gateway")
        pytest.skip(problem)
    assert node is not None
    return [node, str(FEDERATION_DIR / "gateway.mjs")]


@pytest.fixture(scope="session")
def node_compose(node_gateway: list[str]) -> list[str]:
    """The command that runs ``tests/federation/compose.mjs`` (JSON config on stdin)."""
    return [node_gateway[0], str(FEDERATION_DIR / "compose.mjs")]
