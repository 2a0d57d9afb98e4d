"""Node roles: ``all`` runs the router beside everything when ``router.enabled``."""

from __future__ import annotations

from pathlib import Path

import pytest

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.node import MeshNode, NodeRole, parse_roles


def test_roles_parse_repeated_and_comma_separated() -> None:
    assert parse_roles([]) == {NodeRole.ALL}
    assert parse_roles(["router"]) == {NodeRole.ROUTER}
    assert parse_roles(["router,all"]) == {NodeRole.ALL}
    assert parse_roles([" Router ", ""]) == {NodeRole.ROUTER}
    with pytest.raises(ConfigurationError, match="unknown node role 'api'"):
        parse_roles(["api"])


async def test_role_all_runs_the_router_when_enabled(tmp_path: Path) -> None:
    settings = DictaMeshSettings.from_mapping(
        {
            "state_dir": str(tmp_path),
            "bus": {"path": str(tmp_path / "bus.sqlite3")},
            "catalog": {"url": f"sqlite+aiosqlite:///{tmp_path / 'catalog.sqlite3'}"},
            "notifications": {"enabled": False},
            "router": {
                "enabled": True,
                "sources": ["customers.crm.entity_changed"],
                "rules": [{"name": "copy", "to": ["analytics.crm.customers"]}],
            },
        }
    )
    async with MeshNode(settings) as node:
        assert node.router is not None
        assert node.router.topics == ["customers.crm.entity_changed"]
        checks = await node.readiness()
        assert {"catalog", "bus", "router", "task:router"} <= set(checks)
        assert checks["router"].details["rule_set_version"] == 1
    disabled = settings.model_copy(
        update={"router": settings.router.model_copy(update={"enabled": False})}
    )
    async with MeshNode(disabled) as node:
        assert node.router is None
        assert "router" not in await node.readiness()
