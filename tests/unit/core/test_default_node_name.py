"""The default node name is unique per running node: pod (or host) name and process id, so
two nodes never share a cache-invalidation consumer group by accident."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dictamesh.core.settings import DictaMeshSettings, default_node_name

PRINT_NAME = (
    "from dictamesh.core.settings import DictaMeshSettings; print(DictaMeshSettings().node_name)"
)


def test_pod_name_from_the_downward_api_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "dictamesh-api-7d9f-x2")
    monkeypatch.setenv("HOSTNAME", "container-id")
    assert default_node_name() == f"dictamesh-api-7d9f-x2-{os.getpid()}"
    monkeypatch.delenv("POD_NAME")
    assert DictaMeshSettings().node_name == f"container-id-{os.getpid()}"


def test_configured_name_overrides_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICTAMESH_NODE_NAME", "api-0")
    assert DictaMeshSettings().node_name == "api-0"


def test_two_processes_on_one_host_get_different_names() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICTAMESH_")}
    env.update(HOSTNAME="same-host", PYTHONPATH=os.pathsep.join(sys.path))
    env.pop("POD_NAME", None)
    names = {
        subprocess.run(
            [sys.executable, "-c", PRINT_NAME], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    assert len(names) == 2
    assert all(name.startswith("same-host-") for name in names)
