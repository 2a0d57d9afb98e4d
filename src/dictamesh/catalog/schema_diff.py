"""What changed between two versions of an Avro subject or of an entity schema, judged by
the registry's compatibility rules (``dictamesh schema check|diff``).

The verdict is the registry's own checker
(:func:`~dictamesh.catalog.schemas.avro_compatibility_reasons`, and
:func:`~dictamesh.catalog.schemas.check_compatibility` for entity schemas): a subject it
accepts under the level has only SAFE changes. The rows name what changed,
field by field, since the checker's reasons point into unions (``field 'before'``) rather
than at the entity field that changed. Adding or removing a field *with a default* never
breaks Avro resolution in either direction, nor does changing a default or a doc; every
other change of a refused subject is BREAKING. A subject the checker refuses without any
such change (a renamed record, say) gets the checker's reasons as its rows.

Example::

    changes = avro_subject_changes("customers.crm.entity_changed-value", old_text,
                                   new_text, Compatibility.BACKWARD)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from dictamesh.catalog.records import Compatibility
from dictamesh.catalog.schemas import (
    InvalidAvroSchema,
    avro_compatibility_reasons,
    check_compatibility,
    normalize_avro_schema,
    validate_avro_schema,
)
from dictamesh.core.errors import ValidationError
from dictamesh.core.models import EntitySchema
from dictamesh.core.schema_changes import SchemaChange, Severity

__all__ = ["avro_subject_changes", "entity_schema_changes"]

_REASON = re.compile(r"\{errorType:'(?P<code>\w+)', description:'(?P<text>.*)', additionalInfo:")
#: changes Avro resolution never refuses, whatever the direction
_ALWAYS_SAFE = frozenset({"FIELD_ADDED", "FIELD_REMOVED", "DEFAULT_CHANGED", "DOC_CHANGED"})


def _normalized(subject: str, text: str) -> Any:
    try:
        validate_avro_schema(text)
        return json.loads(normalize_avro_schema(text))
    except InvalidAvroSchema as exc:
        raise ValidationError(f"Avro schema of {subject!r} is not valid: {exc}") from exc


def _named(node: Any, found: dict[str, Mapping[str, Any]]) -> None:
    """Every named type of a normalized schema (full names everywhere), by full name."""
    if isinstance(node, list):
        for branch in node:
            _named(branch, found)
    elif isinstance(node, Mapping):
        kind = node.get("type")
        if kind in ("record", "error", "enum", "fixed"):
            found[str(node["name"])] = node
            for entry in node.get("fields", ()):
                _named(entry["type"], found)
        elif kind == "array":
            _named(node.get("items"), found)
        elif kind == "map":
            _named(node.get("values"), found)
        elif isinstance(kind, list | Mapping):
            _named(kind, found)


def _shape(node: Any) -> str:
    """A type with named types as their names (compared on their own) and docs dropped."""

    def walk(n: Any) -> Any:
        if isinstance(n, list):
            return [walk(b) for b in n]
        if isinstance(n, Mapping):
            if n.get("type") in ("record", "error", "enum", "fixed"):
                return n["name"]
            return {k: walk(v) for k, v in n.items() if k != "doc"}
        return n

    return json.dumps(walk(node), sort_keys=True, separators=(",", ":"))


def _structural(old: Any, new: Any) -> list[tuple[str, str, str]]:
    """(code, where, message) for every difference of two normalized schemas."""
    before: dict[str, Mapping[str, Any]] = {}
    after: dict[str, Mapping[str, Any]] = {}
    _named(old, before)
    _named(new, after)
    out: list[tuple[str, str, str]] = []
    if not before and not after and _shape(old) != _shape(new):
        out.append(("TYPE_CHANGED", "", f"type {_shape(old)} → {_shape(new)}"))
    for name in sorted(after.keys() - before.keys()):
        out.append(("TYPE_ADDED", name, f"{after[name]['type']} {name} added"))
    for name in sorted(before.keys() - after.keys()):
        out.append(("TYPE_REMOVED", name, f"{before[name]['type']} {name} removed"))
    for name in sorted(before.keys() & after.keys()):
        was, now = before[name], after[name]
        if was["type"] != now["type"]:
            out.append(("TYPE_CHANGED", name, f"{name}: {was['type']} → {now['type']}"))
        elif was["type"] in ("record", "error"):
            out.extend(_field_changes(name, was, now))
        elif was["type"] == "enum":
            old_symbols, new_symbols = list(was["symbols"]), list(now["symbols"])
            for symbol in (s for s in new_symbols if s not in old_symbols):
                out.append(("ENUM_SYMBOL_ADDED", name, f"{name}: symbol {symbol} added"))
            for symbol in (s for s in old_symbols if s not in new_symbols):
                out.append(("ENUM_SYMBOL_REMOVED", name, f"{name}: symbol {symbol} removed"))
        elif was.get("size") != now.get("size"):
            out.append(("FIXED_SIZE_CHANGED", name, f"{name}: size {was['size']} → {now['size']}"))
    return out


def _field_changes(
    record: str, was: Mapping[str, Any], now: Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    old_fields = {f["name"]: f for f in was["fields"]}
    new_fields = {f["name"]: f for f in now["fields"]}
    out: list[tuple[str, str, str]] = []
    for name, entry in new_fields.items():
        where = f"{record}.{name}"
        old = old_fields.get(name)
        if old is None:
            with_default = "default" in entry
            code = "FIELD_ADDED" if with_default else "REQUIRED_FIELD_ADDED"
            what = "with a default" if with_default else "without a default"
            out.append((code, where, f"{where} added {what}: {_shape(entry['type'])}"))
        elif _shape(old["type"]) != _shape(entry["type"]):
            out.append(
                (
                    "FIELD_TYPE_CHANGED",
                    where,
                    f"{where}: type {_shape(old['type'])} → {_shape(entry['type'])}",
                )
            )
        elif ("default" in old, old.get("default")) != ("default" in entry, entry.get("default")):
            out.append(("DEFAULT_CHANGED", where, f"{where}: default changed"))
    for name, entry in old_fields.items():
        if name not in new_fields:
            where = f"{record}.{name}"
            with_default = "default" in entry
            code = "FIELD_REMOVED" if with_default else "REQUIRED_FIELD_REMOVED"
            what = "(it had a default)" if with_default else "(it had no default)"
            out.append((code, where, f"{where} removed {what}"))
    return out


def avro_subject_changes(
    subject: str, old: str | None, new: str | None, level: Compatibility
) -> list[SchemaChange]:
    """The changes of ``subject`` from schema text ``old`` to ``new`` (either may be None:
    the subject is new, or no longer produced). :class:`ValidationError` for a text that is
    not a valid Avro schema."""
    level = Compatibility(level)
    if old is None and new is None:
        return []
    if old is None:
        _normalized(subject, new or "")
        return [_change(subject, Severity.SAFE, "SUBJECT_ADDED", f"new subject {subject}")]
    if new is None:
        _normalized(subject, old)
        # its readers do not fail; they get no new data from this mesh
        return [
            _change(
                subject,
                Severity.DANGEROUS,
                "SUBJECT_REMOVED",
                f"{subject} is no longer produced by this mesh's adapters",
            )
        ]
    old_doc, new_doc = _normalized(subject, old), _normalized(subject, new)
    if old_doc == new_doc:
        return []
    try:
        reasons = avro_compatibility_reasons(new, [old], level)
    except InvalidAvroSchema as exc:  # also SchemaTooComplex
        raise ValidationError(f"Avro schema of {subject!r} cannot be checked: {exc}") from exc
    rows = _structural(old_doc, new_doc)
    if not reasons:
        return [_change(subject, Severity.SAFE, code, msg) for code, _where, msg in rows]
    suspects = [r for r in rows if r[0] not in _ALWAYS_SAFE]
    changes = [
        _change(
            subject,
            Severity.SAFE if code in _ALWAYS_SAFE else Severity.BREAKING,
            code,
            msg + ("" if code in _ALWAYS_SAFE else f" (not {level.value} compatible)"),
        )
        for code, _where, msg in rows
    ]
    if not suspects:  # refused for something the rows do not show: the checker's words
        for reason in reasons:
            match = _REASON.match(reason)
            code, text = (match["code"], match["text"]) if match else ("INCOMPATIBLE", reason)
            changes.append(_change(subject, Severity.BREAKING, code, text))
    return changes


def _change(subject: str, severity: Severity, code: str, message: str) -> SchemaChange:
    return SchemaChange("avro", subject, severity, code, message)


def entity_schema_changes(
    entity_type: str, old: EntitySchema | None, new: EntitySchema | None, level: Compatibility
) -> list[SchemaChange]:
    """The changes of an entity type's schema (``dictamesh.catalog.schemas`` rules): the
    compatibility reasons as BREAKING rows, added and removed fields they do not name as
    SAFE rows."""
    if old is None and new is None:
        return []
    if old is None:
        return [_entity(entity_type, Severity.SAFE, "ENTITY_TYPE_ADDED", f"{entity_type} added")]
    if new is None:
        return [
            _entity(entity_type, Severity.BREAKING, "ENTITY_TYPE_REMOVED", f"{entity_type} removed")
        ]
    reasons = check_compatibility(new, [old], Compatibility(level))
    changes = [
        _entity(entity_type, Severity.BREAKING, f"ENTITY_{reason.partition(':')[0]}", reason)
        for reason in reasons
    ]
    old_names = {f.name for f in old.fields} | set(old.nested)
    new_names = {f.name for f in new.fields} | set(new.nested)
    named = " ".join(reasons)
    for name in sorted(new_names - old_names):
        if f"'{name}'" not in named:
            changes.append(
                _entity(entity_type, Severity.SAFE, "FIELD_ADDED", f"{entity_type}.{name} added")
            )
    for name in sorted(old_names - new_names):
        if f"'{name}'" not in named:
            changes.append(
                _entity(
                    entity_type, Severity.SAFE, "FIELD_REMOVED", f"{entity_type}.{name} removed"
                )
            )
    return changes


def _entity(entity_type: str, severity: Severity, code: str, message: str) -> SchemaChange:
    return SchemaChange("entity", entity_type, severity, code, message)
