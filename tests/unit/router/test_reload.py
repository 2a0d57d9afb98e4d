"""The rules file: loaded, watched, replaced only by a valid set."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.observability.metrics import MeshMetrics
from dictamesh.router.errors import RouterConfigError
from dictamesh.router.runtime import NodeRouter

from .conftest import TOPIC

GOOD = """\
rules:
  - name: copy
    match: {topics: ["customers.*.entity_changed"]}
    to: [analytics.crm.customers]
"""
BETTER = """\
rules:
  - name: copy
    match: {topics: ["customers.*.entity_changed"]}
    to: [analytics.crm.customers]
  - name: emails
    match: {changed_fields: [email]}
    transform: [{project: [email]}]
    to: [analytics.crm.emails]
"""
BAD = """\
rules:
  - name: copy
    match: {topics: ["customers.*.entity_changed"]}
    transform:
      - mask: {email: scramble}
    to: [analytics.crm.customers]
"""


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[EmbeddedBus]:
    async with EmbeddedBus(tmp_path / "bus.sqlite3") as embedded:
        yield embedded


def write(path: Path, text: str) -> None:
    path.write_text(text)
    # a new modification time even within the file system's time resolution
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def settings_for(tmp_path: Path) -> DictaMeshSettings:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text("router:\n  enabled: true\n  rules_file: router.yaml\n")
    return DictaMeshSettings.from_yaml(mesh)


def sample(registry: CollectorRegistry, name: str) -> float:
    value = registry.get_sample_value(name)
    return 0.0 if value is None else value


async def test_a_changed_file_replaces_the_rules_after_validation(
    tmp_path: Path, bus: EmbeddedBus
) -> None:
    rules_file = tmp_path / "router.yaml"  # relative to mesh.yaml
    write(rules_file, GOOD)
    metrics = MeshMetrics(process_metrics=False)
    router = NodeRouter.build(settings_for(tmp_path), bus=bus, sources=[TOPIC], metrics=metrics)
    assert (router.rules.version, [r.name for r in router.rules.rules]) == (1, ["copy"])
    assert await router.reload() is False  # unchanged: one stat, nothing read

    write(rules_file, GOOD)  # touched, same content
    assert await router.reload() is False

    write(rules_file, BAD)
    assert await router.reload() is False
    assert [r.name for r in router.rules.rules] == ["copy"]  # the old set keeps running
    assert router.loader.last_error is not None
    assert f"{rules_file}, line 5: rules.0.transform.0.mask.email: " in router.loader.last_error
    health = router.health()
    assert health.status.value == "degraded"
    assert "scramble" in health.details["last_reload_error"]
    assert sample(metrics.registry, "dictamesh_router_reload_failures_total") == 1
    assert await router.reload() is False  # the same bad content: refused once
    assert sample(metrics.registry, "dictamesh_router_reload_failures_total") == 1

    write(rules_file, "rules: [{name: x, to: [a.b.c]}, {name: x, to: [a.b.d]}]\n")
    assert await router.reload() is False
    assert "rule names must be unique" in (router.loader.last_error or "")
    assert sample(metrics.registry, "dictamesh_router_reload_failures_total") == 2

    write(rules_file, BETTER)
    assert await router.reload() is True
    assert [r.name for r in router.rules.rules] == ["copy", "emails"]
    assert router.rules.version == 2
    assert router.health().status.value == "healthy"
    assert sample(metrics.registry, "dictamesh_router_rule_set_version") == 2
    assert sample(metrics.registry, "dictamesh_router_rules") == 2
    assert sample(metrics.registry, "dictamesh_router_reloads_total") == 1


async def test_a_bad_file_at_start_is_an_error_with_its_line(tmp_path: Path) -> None:
    write(tmp_path / "router.yaml", BAD)
    with pytest.raises(RouterConfigError, match=r"router\.yaml, line 5: rules\.0\.transform"):
        NodeRouter.check(settings_for(tmp_path))
    (tmp_path / "router.yaml").write_text("rules: [oops")
    with pytest.raises(Exception, match="not valid YAML"):
        NodeRouter.check(settings_for(tmp_path))
    (tmp_path / "router.yaml").unlink()
    with pytest.raises(RouterConfigError, match="cannot be read"):
        NodeRouter.check(settings_for(tmp_path))
