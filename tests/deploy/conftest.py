"""The deployment linters built by ``scripts/deploy-tools.sh`` (``make deploy-tools``).

Outside CI a missing tool skips its tests with the command that builds it; in CI (``CI``
set) it fails them: the shipped chart and workflows must be checked on every run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".cache" / "tools" / "bin"


def deploy_tool(name: str) -> Path:
    """The path of ``name`` (helm, actionlint) built by scripts/deploy-tools.sh."""
    path = TOOLS / name
    if not path.is_file():
        message = f"{name} not built: run `bash scripts/deploy-tools.sh` ({path})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def helm() -> Path:
    return deploy_tool("helm")


@pytest.fixture(scope="session")
def actionlint() -> Path:
    return deploy_tool("actionlint")
