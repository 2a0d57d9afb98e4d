"""``dictamesh schema export|check|diff`` against file baselines: exit codes (0 / 1 on a
breaking change / 2 bad input), table and JSON output, nothing written on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dictamesh.catalog.records import Compatibility
from dictamesh.cli.main import app
from dictamesh.cli.schema import Level

runner = CliRunner()

CUSTOMERS = "customers.directus.entity_changed-value"


def write_config(path: Path, *kinds: str, extra: str = "") -> Path:
    adapters = "".join(
        f"  - {{name: {kind}, kind: {kind}, base_url: 'http://127.0.0.1:9'}}\n" for kind in kinds
    )
    path.write_text(f"{extra}adapters:\n{adapters}")
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "mesh.yaml", "customers_directus", "products_rest")


@pytest.fixture
def bundle(config: Path, tmp_path: Path) -> Path:
    out = tmp_path / "baseline.json"
    result = runner.invoke(app, ["schema", "export", "-c", str(config), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def output(result: Any) -> str:
    return " ".join(str(result.output).split())  # rich wraps long lines


def run(*args: str) -> Any:
    return runner.invoke(app, ["schema", *args])


def as_json(result: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_levels_are_the_registrys() -> None:
    assert [level.value for level in Level] == [c.value for c in Compatibility]


def test_export_writes_sdl_avro_and_entity_schemas(bundle: Path) -> None:
    document = json.loads(bundle.read_text())
    assert document["format"] == "dictamesh-schema-bundle"
    assert "type Customer" in document["graphql"]
    assert "createInvoice" in document["graphql"]  # sagas: on by default, as the node
    assert sorted(document["avro"]) == [CUSTOMERS, "products.thirdparty.entity_changed-value"]
    assert document["avro"][CUSTOMERS]["name"] == "ChangeEvent"
    assert sorted(document["entities"]) == ["customer", "product"]


def test_export_to_stdout_and_to_a_directory(config: Path, tmp_path: Path) -> None:
    printed = run("export", "-c", str(config))
    assert printed.exit_code == 0, printed.output
    assert as_json(printed)["format"] == "dictamesh-schema-bundle"
    out = tmp_path / "schemas"
    written = run("export", "-c", str(config), "-o", str(out))
    assert written.exit_code == 0, written.output
    assert (out / "schema.graphql").read_text() == as_json(printed)["graphql"]
    assert sorted(p.name for p in (out / "avro").iterdir()) == [
        f"{CUSTOMERS}.avsc",
        "products.thirdparty.entity_changed-value.avsc",
    ]
    assert sorted(p.name for p in (out / "entities").iterdir()) == [
        "customer.json",
        "product.json",
    ]
    same = run("check", "-c", str(config), "--against", str(out))
    assert same.exit_code == 0, same.output


def test_export_refuses_a_non_empty_directory_and_writes_nothing(
    config: Path, tmp_path: Path
) -> None:
    out = tmp_path / "schemas"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run("export", "-c", str(config), "-o", str(out))
    assert result.exit_code == 2
    assert "not an empty directory" in output(result)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    missing_parent = run("export", "-c", str(config), "-o", str(tmp_path / "no" / "b.json"))
    assert missing_parent.exit_code == 2
    assert not (tmp_path / "no").exists()


def test_check_against_its_own_export_passes(config: Path, bundle: Path) -> None:
    result = run("check", "-c", str(config), "--against", str(bundle))
    assert result.exit_code == 0, result.output
    assert "0 breaking, 0 dangerous, 0 safe" in output(result)
    data = as_json(run("check", "-c", str(config), "--against", str(bundle), "-f", "json"))
    assert data["breaking"] == 0
    assert data["changes"] == []
    assert data["compatibility"] == "BACKWARD"


def test_an_adapter_removed_is_breaking(config: Path, bundle: Path, tmp_path: Path) -> None:
    fewer = write_config(tmp_path / "fewer.yaml", "customers_directus")
    result = run("check", "-c", str(fewer), "--against", str(bundle), "--format", "json")
    assert result.exit_code == 1, result.output
    data = as_json(result)
    found = {(c["area"], c["code"], c["subject"]) for c in data["changes"]}
    assert ("graphql", "TYPE_REMOVED", "Product") in found
    assert ("graphql", "FIELD_REMOVED", "Query.product") in found
    assert ("avro", "SUBJECT_REMOVED", "products.thirdparty.entity_changed-value") in found
    assert ("entity", "ENTITY_TYPE_REMOVED", "product") in found
    assert data["breaking"] == sum(1 for c in data["changes"] if c["severity"] == "breaking")
    assert {c["severity"] for c in data["changes"]} <= {"breaking", "dangerous"}  # no safe
    table = run("check", "-c", str(fewer), "--against", str(bundle))
    assert table.exit_code == 1
    assert "TYPE_REMOVED" in output(table)
    assert "breaking" in output(table)


def test_diff_lists_safe_additions_and_exits_0(bundle: Path, tmp_path: Path) -> None:
    more = write_config(
        tmp_path / "more.yaml", "customers_directus", "products_rest", "invoices_ecommerce"
    )
    checked = run("check", "-c", str(more), "--against", str(bundle), "-f", "json")
    assert checked.exit_code == 0, checked.output
    assert as_json(checked)["breaking"] == 0
    assert as_json(checked)["safe"] > 0  # counted, not listed by check
    listed = as_json(checked)["changes"]
    assert {(c["severity"], c["code"], c["subject"]) for c in listed} == {
        ("dangerous", "TYPE_ADDED_TO_UNION", "Invoice")  # AnyEntity gains a member
    }
    diffed = run("diff", "-c", str(more), "--against", str(bundle), "-f", "json")
    assert diffed.exit_code == 0, diffed.output
    data = as_json(diffed)
    assert data["safe"] > 0
    found = {(c["area"], c["code"], c["subject"]) for c in data["changes"]}
    assert ("graphql", "TYPE_ADDED", "Invoice") in found
    assert ("avro", "SUBJECT_ADDED", "invoices.ecommerce.entity_changed-value") in found
    assert ("entity", "ENTITY_TYPE_ADDED", "invoice") in found
    table = run("diff", "-c", str(more), "--against", str(bundle))
    assert table.exit_code == 0
    assert "SUBJECT_ADDED" in output(table)


def _export(config: Path) -> dict[str, Any]:
    return as_json(run("export", "-c", str(config)))


def test_graphql_baseline_with_a_field_the_mesh_lacks(config: Path, tmp_path: Path) -> None:
    sdl = _export(config)["graphql"].replace("type Customer {", "type Customer {\n  loyalty: Int!")
    assert "loyalty" in sdl
    baseline = tmp_path / "schema.graphql"
    baseline.write_text(sdl)
    result = run("check", "-c", str(config), "--against", str(baseline), "-f", "json")
    assert result.exit_code == 1, result.output
    changes = as_json(result)["changes"]
    assert [(c["code"], c["subject"]) for c in changes] == [("FIELD_REMOVED", "Customer.loyalty")]


def _avsc_without(config: Path, tmp_path: Path, field: str) -> Path:
    value = _export(config)["avro"][CUSTOMERS]
    customer = next(b for b in value["fields"][6]["type"] if isinstance(b, dict))
    assert value["fields"][6]["name"] == "before"
    names = [f["name"] for f in customer["fields"]]
    assert field in names
    customer["fields"] = [f for f in customer["fields"] if f["name"] != field]
    path = tmp_path / f"{CUSTOMERS}.avsc"
    path.write_text(json.dumps(value))
    return path


def test_avsc_baseline_required_field_added_is_breaking(config: Path, tmp_path: Path) -> None:
    avsc = _avsc_without(config, tmp_path, "email")  # required in the customer schema
    result = run("check", "-c", str(config), "--against", str(avsc), "-f", "json")
    assert result.exit_code == 1, result.output
    changes = as_json(result)["changes"]
    assert [(c["area"], c["subject"], c["code"]) for c in changes] == [
        ("avro", CUSTOMERS, "REQUIRED_FIELD_ADDED")
    ]
    assert "customer.email" in changes[0]["message"]
    relaxed = run("check", "-c", str(config), "--against", str(avsc), "--compatibility", "forward")
    assert relaxed.exit_code == 0, relaxed.output


def test_avsc_baseline_optional_field_added_is_safe(config: Path, tmp_path: Path) -> None:
    avsc = _avsc_without(config, tmp_path, "phone")  # optional
    result = run("check", "-c", str(config), "--against", str(avsc))
    assert result.exit_code == 0, result.output
    diffed = as_json(run("diff", "-c", str(config), "--against", str(avsc), "-f", "json"))
    assert [(c["severity"], c["code"]) for c in diffed["changes"]] == [("safe", "FIELD_ADDED")]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.json", None, "cannot read baseline"),
        ("bad.json", "{not json", "neither SDL"),
        ("other.json", '{"a": 1}', "not a schema bundle"),
        ("list.json", "[1]", "not a schema bundle"),
        ("bad.graphql", "type Query {", "not a GraphQL schema"),
        (f"{CUSTOMERS}.avsc", '{"type": "record"}', "is not valid"),
        ("nobody-value.avsc", '"string"', "no Avro subject 'nobody-value'"),
        (
            "entities.json",
            '{"format": "dictamesh-schema-bundle", "entities": {"x": {}}}',
            "not an entity schema",
        ),
    ],
)
def test_bad_baselines_exit_2(
    config: Path, tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    for command in ("check", "diff"):
        result = run(command, "-c", str(config), "--against", str(path))
        assert result.exit_code == 2, result.output
        assert message in output(result)
        assert "Traceback" not in result.output


def test_an_empty_directory_is_no_baseline(config: Path, tmp_path: Path) -> None:
    result = run("check", "-c", str(config), "--against", str(tmp_path / "."))
    assert result.exit_code == 2
    assert "no schema.graphql, avro/ or entities/" in output(result)


def test_unreachable_node_exits_2(config: Path) -> None:
    result = run("check", "-c", str(config), "--against", "http://127.0.0.1:9", "--timeout", "2")
    assert result.exit_code == 2
    assert "cannot read baseline http://127.0.0.1:9" in output(result)


def test_bad_config_and_options_exit_2(tmp_path: Path, bundle: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("adapters: []\n")
    result = run("check", "-c", str(empty), "--against", str(bundle))
    assert result.exit_code == 2
    assert "no adapters configured" in output(result)
    unknown = write_config(tmp_path / "unknown.yaml", "no_such_kind")
    result = run("export", "-c", str(unknown), "-o", str(tmp_path / "x.json"))
    assert result.exit_code == 2
    assert not (tmp_path / "x.json").exists()
    result = run("check", "-c", str(unknown), "--against", str(bundle), "--compatibility", "SOME")
    assert result.exit_code == 2
