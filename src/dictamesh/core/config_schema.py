"""The JSON Schema (2020-12) of ``mesh.yaml``, made from the settings model
(:class:`~dictamesh.core.settings.DictaMeshSettings`).

Editors use it for completion and checking (``dictamesh config schema -o mesh.schema.json``,
then ``# yaml-language-server: $schema=./mesh.schema.json`` on the first line of
``mesh.yaml``). What it adds to pydantic's schema:

* secrets (``SecretStr``) are strings marked ``writeOnly``, with no default shown;
* a typed or constrained value (a port, a flag, an enum, a URL pattern) may also be written as
  ``${VAR}`` / ``${VAR:-default}``, which is expanded when the file is read
  (:mod:`dictamesh.core.yaml_env`), so a file using the environment still validates.

Example::

    schema = settings_json_schema()
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(open("mesh.yaml")))
"""

from __future__ import annotations

from typing import Any

from dictamesh.core.settings import DictaMeshSettings

__all__ = ["ENV_REFERENCE", "SCHEMA_DIALECT", "settings_json_schema"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: a string holding at least one ``${VAR}`` or ``${VAR:-default}``
ENV_REFERENCE: dict[str, Any] = {
    "type": "string",
    "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}",
    "description": "${VAR} or ${VAR:-default}: expanded from the environment when read",
}
_REF = {"$ref": "#/$defs/EnvReference"}
_ANNOTATIONS = frozenset({"title", "description", "default", "examples"})
_SCALARS = frozenset({"string", "integer", "number", "boolean"})
_HIDDEN = "**********"


def _is_constrained_scalar(node: dict[str, Any]) -> bool:
    if "enum" in node or "const" in node:
        return True
    if node.get("type") not in _SCALARS:
        return False
    if node["type"] != "string":
        return True
    rules = set(node) - _ANNOTATIONS - {"type", "writeOnly"}
    return bool(rules - {"format"}) or node.get("format") not in (None, "password")


#: keys whose value maps names to schemas (a property named ``type`` is not a schema's type)
_NAMED_SCHEMAS = frozenset({"properties", "$defs", "patternProperties"})


def _rewrite(node: Any, *, schema: bool = True) -> Any:
    if isinstance(node, list):
        return [_rewrite(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _rewrite(value, schema=key not in _NAMED_SCHEMAS) for key, value in node.items()}
    if not schema:
        return out
    if out.get("writeOnly") and out.get("default") == _HIDDEN:
        del out["default"]  # pydantic shows a secret's default masked: say nothing instead
    if _is_constrained_scalar(out):
        typed = {k: v for k, v in out.items() if k not in _ANNOTATIONS}
        kept = {k: v for k, v in out.items() if k in _ANNOTATIONS}
        return {**kept, "anyOf": [typed, _REF]}
    return out


def settings_json_schema() -> dict[str, Any]:
    """The schema of a whole ``mesh.yaml`` (every section optional, unknown keys refused)."""
    raw = DictaMeshSettings.model_json_schema(mode="validation")
    schema: dict[str, Any] = _rewrite(raw)
    schema.setdefault("$defs", {})["EnvReference"] = dict(ENV_REFERENCE)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "DictaMesh mesh.yaml",
        "description": "Configuration of a DictaMesh node; environment variables"
        " (DICTAMESH_SECTION__KEY) override what the file says.",
        **{k: v for k, v in schema.items() if k != "title"},
    }
