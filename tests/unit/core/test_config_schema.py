"""The JSON Schema of ``mesh.yaml`` (``dictamesh config schema``), and every ``mesh.yaml``
example of the documentation validated against it, so the docs cannot drift from the code.

A fenced ``yaml`` block of ``docs/**/*.md`` or the README is a ``mesh.yaml`` example when its
first line is a ``# mesh.yaml`` comment, or when every top-level key is a section of the
settings (``bus:``, ``adapters:``, ...). A block mixing sections with other keys is refused
as a likely typo; other blocks (policy files, rule files, Prometheus) are not mesh.yaml.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from dictamesh.core.config_schema import SCHEMA_DIALECT, settings_json_schema
from dictamesh.core.settings import DictaMeshSettings

ROOT = Path(__file__).resolve().parents[3]
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)\s*$")
SECTIONS = frozenset(DictaMeshSettings.model_fields)


def yaml_blocks() -> Iterator[tuple[str, str]]:
    """``(where, text)`` of every fenced yaml block, dedented by its fence's indent."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        lines = path.read_text(encoding="utf-8").splitlines()
        start: int | None = None
        lang = indent = ""
        for number, line in enumerate(lines, 1):
            match = FENCE.match(line)
            if match is None:
                continue
            if start is None:
                start, lang, indent = number, match["lang"], match["indent"]
            else:
                if lang in ("yaml", "yml"):
                    body = "\n".join(lines[start : number - 1])
                    where = f"{path.relative_to(ROOT)}:{start}"
                    yield where, textwrap.dedent(body) if indent else body
                start = None


def is_mesh_yaml(text: str, data: Any) -> bool:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if first.startswith("# mesh.yaml"):
        return True
    return isinstance(data, dict) and bool(data) and set(data) <= SECTIONS


def mesh_examples() -> list[tuple[str, str]]:
    found = []
    for where, text in yaml_blocks():
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None
        if is_mesh_yaml(text, data):
            found.append((where, text))
        elif isinstance(data, dict) and set(data) & SECTIONS and len(set(data) - SECTIONS):
            found.append((where, text))  # part sections, part unknown: validated, so it fails
    return found


EXAMPLES = mesh_examples()


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = settings_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_schema_is_2020_12_and_describes_every_section() -> None:
    schema = settings_json_schema()
    assert schema["$schema"] == SCHEMA_DIALECT
    assert set(schema["properties"]) == SECTIONS
    assert schema["additionalProperties"] is False
    catalog = schema["$defs"]["CatalogSettings"]["properties"]
    assert catalog["url"]["writeOnly"] is True
    assert catalog["url"]["type"] == "string"
    assert "default" not in catalog["url"]  # never "**********"
    assert "**********" not in str(schema)


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        ({"api": {"port": 8080}}, True),
        ({"api": {"port": "${PORT:-8080}"}}, True),  # expanded when the file is read
        ({"auth": {"mode": "${AUTH_MODE}"}}, True),
        ({"api": {"port": "eighty"}}, False),
        ({"api": {"port": 70000}}, False),
        ({"auth": {"mode": "sometimes"}}, False),
        ({"bus": {"pth": "x"}}, False),  # a typo is not silently ignored
        ({"adapters": [{"name": "crm", "kind": "customers_directus"}]}, False),  # no base_url
        (
            {"adapters": [{"name": "crm", "kind": "k", "base_url": "http://x", "api_key": "s"}]},
            True,
        ),
    ],
)
def test_the_schema_agrees_with_the_settings(
    validator: jsonschema.Draft202012Validator, document: dict[str, Any], valid: bool
) -> None:
    assert validator.is_valid(document) is valid
    if "${" not in str(document):  # the settings see the expanded value, not the reference
        try:
            DictaMeshSettings.from_mapping(document)
        except ValueError:
            accepted = False
        else:
            accepted = True
        assert accepted is valid


def test_the_docs_have_mesh_yaml_examples() -> None:
    assert len(EXAMPLES) >= 20, EXAMPLES
    assert any(where.startswith("docs/cli.md") for where, _ in EXAMPLES)


@pytest.mark.parametrize(("where", "text"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_every_mesh_yaml_example_validates(
    validator: jsonschema.Draft202012Validator, where: str, text: str
) -> None:
    data = yaml.safe_load(text) or {}
    problems = [
        f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(data)
    ]
    assert problems == [], f"{where}: " + "; ".join(problems)
