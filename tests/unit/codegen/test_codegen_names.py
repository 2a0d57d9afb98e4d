"""Awkward names and texts: Python keywords and BaseModel attributes as field names, quotes
and comment ends in descriptions, nested lists, every field type — each target still
generates code that parses, imports and type-checks; names a target defines itself are
refused with a clear error."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import jsonschema
import pytest
from graphql import build_schema
from tests.unit.codegen.test_codegen_typescript import _compile, _tsc

from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.codegen import avro, graphql, python, typescript, write_files
from dictamesh.codegen import jsonschema as jsonschema_target
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import EntitySchema, FieldSpec, FieldType
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.testing.adapters import FakeAdapter, fake_config

S, INT = FieldType.STRING, FieldType.INTEGER
LINE = EntitySchema(
    entity_type="order_line",
    domain="orders",
    description='A line; quoted "like this"',
    fields=[FieldSpec(name="sku", type=S, required=True), FieldSpec(name="qty", type=INT)],
)
ORDER = EntitySchema(
    entity_type="purchase_order",
    domain="orders",
    description='An order. */ not the end of a comment \\ nor of a """docstring"""',
    fields=[
        FieldSpec(name="class", type=S, required=True, description='ends in a quote "'),
        FieldSpec(name="json", type=FieldType.JSON),
        FieldSpec(name="model_name", type=S),
        FieldSpec(name="list", type=INT, many=True),
        FieldSpec(name="placed_on", type=FieldType.DATE, required=True),
        FieldSpec(name="placed_at", type=FieldType.DATETIME),
        FieldSpec(name="paid", type=FieldType.BOOLEAN),
        FieldSpec(name="total", type=FieldType.NUMBER),
    ],
    nested={"lines": LINE},
)


def registry_of(*schemas: EntitySchema) -> AdapterRegistry:
    registry = AdapterRegistry()
    for n, schema in enumerate(schemas):
        cls = type(f"A{n}", (FakeAdapter,), {"entity_type": schema.entity_type, "schema": schema})
        registry.register(cls(fake_config(f"a{n}")))
    return registry


SETTINGS = DictaMeshSettings.from_mapping({})


@pytest.fixture
def orders_package(tmp_path: Path) -> Iterator[Any]:
    write_files(tmp_path, python.generate(SETTINGS, registry_of(ORDER), package="orders_gen"))
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("orders_gen")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "orders_gen"]:
            del sys.modules[name]


def test_python_models_alias_names_python_cannot_use(orders_package: Any) -> None:
    model = orders_package.PurchaseOrder
    order = model.model_validate(
        {
            "class": "A",
            "json": {"free": ["form"]},
            "model_name": "m",
            "list": [1, 2],
            "placed_on": "2026-12-07",
            "placed_at": "2026-12-07T10:00:00Z",
            "lines": [{"sku": "S-1", "qty": 2}],
        }
    )
    assert order.class_ == "A"
    assert order.list_ == [1, 2]
    assert order.model_name_ == "m"
    assert order.placed_on == dt.date(2026, 12, 7)
    assert order.lines[0].sku == "S-1"
    assert order.model_dump(by_alias=True, exclude_unset=True)["class"] == "A"
    assert model.__doc__.startswith("An order. */ not the end")
    described = model.model_json_schema(by_alias=True)["properties"]["class"]
    assert described["description"] == 'ends in a quote "'


def test_every_target_handles_the_awkward_schema(tmp_path: Path) -> None:
    registry = registry_of(ORDER)
    avsc = json.loads(avro.generate(SETTINGS, registry)[0].content)
    fastavro.parse_schema(avsc)
    sdl = graphql.schema_sdl(SETTINGS, registry)
    assert "PurchaseOrder" in build_schema(sdl).type_map
    schema = json.loads(
        next(
            f.content
            for f in jsonschema_target.generate(SETTINGS, registry)
            if f.path == "purchase_order.schema.json"
        )
    )
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"class": "A", "placed_on": "2026-12-07", "lines": [{"sku": "x"}]})
    assert not validator.is_valid({"class": "A", "placed_on": "2026-12-07", "lines": [{}]})
    node = _tsc()
    write_files(tmp_path / "gen", typescript.generate(SETTINGS, registry))
    usage = (
        'import type { PurchaseOrder } from "./gen/index.js";\n'
        'export const o: PurchaseOrder = { class: "A", placed_on: "2026-12-07",'
        ' lines: [{ sku: "S", qty: null }], json: { any: 1 } };\n'
    )
    compiled = _compile(node, tmp_path, usage)
    assert compiled.returncode == 0, compiled.stdout


@pytest.mark.parametrize(
    ("entity_type", "target"),
    [("page", typescript), ("entity", typescript), ("field", python), ("source_ref", python)],
)
def test_names_a_target_defines_itself_are_refused(entity_type: str, target: Any) -> None:
    schema = LINE.model_copy(update={"entity_type": entity_type})
    with pytest.raises(ConfigurationError, match="code defines itself"):
        target.generate(SETTINGS, registry_of(schema))
