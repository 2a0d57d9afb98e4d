"""The generated Python package: pydantic models and an async client that calls a LIVE node
(a MeshNode with a fake adapter, served on a socket, API keys required) and returns typed
models; the same generation's SDL is the schema that node serves at /graphql."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import build_client_schema, build_schema, get_introspection_query, print_schema
from graphql.utilities import lexicographic_sort_schema

from dictamesh._serving import serve_in_process
from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.auth import hash_api_key
from dictamesh.codegen import graphql, python, write_files
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.node import MeshNode
from dictamesh.testing.adapters import FakeAdapter

KEY = "dm_codegen_test_key_0123456789abcdef"
FULL_INTROSPECTION = get_introspection_query(
    descriptions=True, specified_by_url=True, directive_is_repeatable=True
)
RECORDS = [
    {"id": "w-1", "name": "Bolt", "color": "red", "size": 3, "tags": ["m", "steel"]},
    {"id": "w-2", "name": "Nut", "size": 1},
    {"id": "w-3", "name": "Gear", "color": "blue"},
]


def node_settings(state: Path) -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {
            "node_name": "codegen",
            "state_dir": str(state),
            "bus": {"path": str(state / "bus.sqlite3")},
            "catalog": {"url": f"sqlite+aiosqlite:///{state / 'catalog.sqlite3'}"},
            "auth": {
                "mode": "required",
                "api_keys": [{"sha256": hash_api_key(KEY), "subject": "ci", "roles": ["admin"]}],
            },
        }
    )


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[Any]:
    """``codegen python`` for the fake widgets, imported from tmp_path."""
    registry = AdapterRegistry()
    registry.register(FakeAdapter())
    out = tmp_path / "gen"
    write_files(out, python.generate(node_settings(tmp_path), registry, package="widgets_client"))
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("widgets_client")
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.split(".")[0] == "widgets_client"]:
            del sys.modules[name]


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[tuple[MeshNode, str]]:
    state = tmp_path / "node"
    async with (
        MeshNode(node_settings(state), adapters=[FakeAdapter(records=RECORDS)]) as node,
        serve_in_process(
            node.asgi_app(), "127.0.0.1", 0, what="codegen test node", shutdown_timeout=2
        ) as url,
    ):
        yield node, url


async def _catalogued(url: str, entity_id: str) -> None:
    """Wait until the node's initial sync put ``entity_id`` in the catalog."""
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": KEY}) as http:
        for _ in range(300):
            if (await http.get(f"/api/v1/entities/widget/{entity_id}")).status_code == 200:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"widget {entity_id} never reached the catalog")


async def test_the_generated_client_reads_typed_models_from_a_live_node(
    generated: Any, live: tuple[MeshNode, str]
) -> None:
    _, url = live
    await _catalogued(url, "w-1")
    async with generated.DictaMeshClient(url, api_key=KEY) as mesh:
        widget = await mesh.get_widget("w-1")
        assert isinstance(widget, generated.WidgetEntity)
        assert isinstance(widget.attributes, generated.Widget)
        assert widget.attributes.name == "Bolt"
        assert widget.attributes.size == 3
        assert widget.attributes.tags == ["m", "steel"]
        assert widget.source.system == "fake"
        page = await mesh.list_widgets(limit=2)
        assert isinstance(page, generated.WidgetPage)
        assert [e.id for e in page.items] == ["w-1", "w-2"]
        assert page.next_cursor
        rest = await mesh.list_widgets(limit=2, cursor=page.next_cursor)
        assert [e.id for e in rest.items] == ["w-3"]
        every = [
            e.id async for e in mesh.iter_entities("widget", generated.WidgetEntity, page_size=1)
        ]
        assert every == ["w-1", "w-2", "w-3"]
        location = await mesh.locate("widget", "w-1")
        assert location["entity_id"] == "w-1"
        with pytest.raises(generated.ApiError) as unknown:
            await mesh.get_entity("gadget", "g-1", generated.WidgetEntity)
        assert unknown.value.status == 404
    async with generated.DictaMeshClient(url) as anonymous:  # auth is required
        with pytest.raises(generated.ApiError) as refused:
            await anonymous.get_widget("w-1")
        assert refused.value.status == 401
        assert refused.value.code
    with pytest.raises(ValueError, match="not both"):
        generated.DictaMeshClient(url, api_key=KEY, token="t")


async def test_the_generated_sdl_is_the_schema_the_node_serves(
    live: tuple[MeshNode, str], tmp_path: Path
) -> None:
    node, url = live
    sdl = graphql.schema_sdl(node.settings, node.registry)  # type: ignore[arg-type]
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": KEY}) as http:
        answer = await http.post("/graphql", json={"query": FULL_INTROSPECTION})
    assert answer.status_code == 200, answer.text
    served = build_client_schema(answer.json()["data"])
    assert print_schema(lexicographic_sort_schema(build_schema(sdl))) == print_schema(
        lexicographic_sort_schema(served)
    )


def test_the_generated_package_type_checks_strictly(generated: Any, tmp_path: Path) -> None:
    package = Path(generated.__file__).parent
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "mypy"),
            str(package),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=package.parent,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_models_validate_attributes(generated: Any) -> None:
    widget = generated.Widget.model_validate({"name": "Bolt", "size": "4", "extra": 1})
    assert widget.size == 4
    assert widget.model_extra == {"extra": 1}
    with pytest.raises(ValueError):
        generated.Widget.model_validate({"size": 4})  # name is required
    assert {"widget": generated.WidgetEntity} == generated.ENTITY_MODELS
