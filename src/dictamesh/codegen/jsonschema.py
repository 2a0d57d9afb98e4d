"""``dictamesh codegen jsonschema``: a JSON Schema (2020-12) of each entity type's
attributes, ``<entity_type>.schema.json``, and ``index.json`` naming them.

An entity's ``attributes`` (as the REST API returns them under ``attributes``, and change
events under ``before``/``after``) validate against its type's schema:

============  ==================================================
``FieldType``  JSON Schema
============  ==================================================
string        ``{"type": "string"}``
integer       ``{"type": "integer"}``
number        ``{"type": "number"}``
boolean       ``{"type": "boolean"}``
datetime      ``{"type": "string", "format": "date-time"}``
date          ``{"type": "string", "format": "date"}``
json          ``{}`` (any JSON value)
============  ==================================================

A ``required`` field must be present and not null; the others may be missing or null.
Unknown attributes are allowed (adding a field to a schema is a compatible change, as in
Avro). Nested object lists are ``$defs``; a field's classification is the annotation
``x-dictamesh-classification``.
"""

from __future__ import annotations

from typing import Any, Final

from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.codegen.files import GeneratedFile, dump_json
from dictamesh.codegen.types import FieldDef, TypeDef, type_defs
from dictamesh.core.models import Classification, FieldType
from dictamesh.core.settings import DictaMeshSettings

__all__ = ["DIALECT", "INDEX_FILE", "entity_json_schema", "generate"]

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
INDEX_FILE: Final = "index.json"

_SCALARS: Final[dict[FieldType, dict[str, Any]]] = {
    FieldType.STRING: {"type": "string"},
    FieldType.INTEGER: {"type": "integer"},
    FieldType.NUMBER: {"type": "number"},
    FieldType.BOOLEAN: {"type": "boolean"},
    FieldType.DATETIME: {"type": "string", "format": "date-time"},
    FieldType.DATE: {"type": "string", "format": "date"},
    FieldType.JSON: {},
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if not schema:  # any JSON value already includes null
        return schema
    if isinstance(schema.get("type"), str) and "$ref" not in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _field_schema(spec: FieldDef) -> dict[str, Any]:
    item = {"$ref": f"#/$defs/{spec.nested}"} if spec.nested else dict(_SCALARS[spec.kind])
    value: dict[str, Any] = {"type": "array", "items": item} if spec.many else item
    if not spec.required:
        value = _nullable(value)
    if spec.description:
        value = {**value, "description": spec.description}
    if spec.classification is not Classification.PUBLIC:
        value = {**value, "x-dictamesh-classification": spec.classification.value}
    return value


def _object(td: TypeDef) -> dict[str, Any]:
    schema: dict[str, Any] = {"title": td.name}
    if td.description:
        schema["description"] = td.description
    schema["type"] = "object"
    schema["properties"] = {f.name: _field_schema(f) for f in td.fields}
    required = [f.name for f in td.fields if f.required]
    if required:
        schema["required"] = required
    return schema


def _collect_defs(td: TypeDef, defs: dict[str, dict[str, Any]]) -> None:
    for child in td.children:
        if child.name not in defs:
            defs[child.name] = _object(child)
            _collect_defs(child, defs)


def entity_json_schema(td: TypeDef) -> dict[str, Any]:
    """The JSON Schema of one top-level type's attributes."""
    schema: dict[str, Any] = {
        "$schema": DIALECT,
        "$id": f"{td.entity_type}.schema.json",
        **_object(td),
        "x-dictamesh-entity-type": td.entity_type,
        "x-dictamesh-domain": td.domain,
        "x-dictamesh-schema-version": td.version,
    }
    defs: dict[str, dict[str, Any]] = {}
    _collect_defs(td, defs)
    if defs:
        schema["$defs"] = {name: defs[name] for name in sorted(defs)}
    return schema


def generate(settings: DictaMeshSettings, registry: AdapterRegistry) -> list[GeneratedFile]:
    files: list[GeneratedFile] = []
    index: dict[str, Any] = {}
    for td in type_defs(registry.schemas()):
        path = f"{td.entity_type}.schema.json"
        files.append(GeneratedFile(path, dump_json(entity_json_schema(td))))
        index[td.entity_type] = {
            "schema": path,
            "title": td.name,
            "domain": td.domain,
            "version": td.version,
        }
    files.append(GeneratedFile(INDEX_FILE, dump_json({"entity_types": index})))
    return files
