"""Compatibility rules between versions of an :class:`~dictamesh.core.models.EntitySchema`.

* BACKWARD — consumers on the *new* schema read data written with the old one: fields may be
  added if optional, and deleted; a new required field, an optional field turned required,
  or a changed type (``type`` or ``many``) is refused.
* FORWARD — consumers still on the *old* schema read data written with the new one: fields
  may be added, and deleted only if they were optional; a required field turned optional,
  or a changed type, is refused.
* FULL — both. ``*_TRANSITIVE`` checks against every earlier version, the plain forms only
  against the latest. NONE checks nothing.

Nested object lists (``EntitySchema.nested``) count as fields of their own kind and are
compared recursively (reasons name them ``items.product_id``). Relationships, descriptions
and classifications do not affect compatibility.

Avro schemas (the Confluent-compatible registry, :mod:`dictamesh.catalog.registry_api`) follow
Avro's schema resolution instead: :func:`avro_compatibility_reasons`, and
:func:`avro_schema_check` to pass to ``CatalogService.register_schema_text``.

Example::

    reasons = check_compatibility(v2, [v1], Compatibility.BACKWARD)
    # ["BACKWARD: new required field 'currency' is missing from data written with version 1"]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from dictamesh.catalog._avro_compat import (
    InvalidAvroSchema,
    avro_compatibility_reasons,
    avro_schema_check,
    normalize_avro_schema,
    validate_avro_schema,
)
from dictamesh.catalog.records import Compatibility
from dictamesh.core.models import EntitySchema, FieldSpec

__all__ = [
    "InvalidAvroSchema",
    "avro_compatibility_reasons",
    "avro_schema_check",
    "backward_reasons",
    "check_compatibility",
    "forward_reasons",
    "normalize_avro_schema",
    "validate_avro_schema",
]

_Mode = Literal["BACKWARD", "FORWARD"]


def check_compatibility(
    new: EntitySchema, previous: Sequence[EntitySchema], level: Compatibility
) -> list[str]:
    """Why ``new`` may not follow ``previous`` (oldest first) under ``level``; [] if it may."""
    if level is Compatibility.NONE or not previous:
        return []
    against = list(previous) if level.transitive else [previous[-1]]
    reasons: list[str] = []
    for old in against:
        if level.backward:
            reasons.extend(backward_reasons(old, new))
        if level.forward:
            reasons.extend(forward_reasons(old, new))
    return list(dict.fromkeys(reasons))


def backward_reasons(old: EntitySchema, new: EntitySchema) -> list[str]:
    """Why readers on ``new`` could not read data written with ``old``."""
    return _problems(reader=new, writer=old, mode="BACKWARD", other=old.version, path="")


def forward_reasons(old: EntitySchema, new: EntitySchema) -> list[str]:
    """Why readers on ``old`` could not read data written with ``new``."""
    return _problems(reader=old, writer=new, mode="FORWARD", other=old.version, path="")


def _kind(spec: FieldSpec | EntitySchema) -> str:
    if isinstance(spec, EntitySchema):
        return f"list of {spec.entity_type}"
    return f"list of {spec.type.value}" if spec.many else spec.type.value


def _required(spec: FieldSpec | EntitySchema) -> bool:
    # A nested object list may always be absent or empty.
    return isinstance(spec, FieldSpec) and spec.required


def _members(schema: EntitySchema) -> dict[str, FieldSpec | EntitySchema]:
    members: dict[str, FieldSpec | EntitySchema] = {f.name: f for f in schema.fields}
    members.update(schema.nested)
    return members


def _problems(
    *, reader: EntitySchema, writer: EntitySchema, mode: _Mode, other: int, path: str
) -> list[str]:
    reasons: list[str] = []
    if reader.entity_type != writer.entity_type:
        where = f" of {path.rstrip('.')!r}" if path else ""
        reasons.append(
            f"{mode}: entity type{where} changed from {writer.entity_type!r} to"
            f" {reader.entity_type!r}"
            if mode == "BACKWARD"
            else f"{mode}: entity type{where} changed from {reader.entity_type!r} to"
            f" {writer.entity_type!r}"
        )
    read, written = _members(reader), _members(writer)
    for name in sorted(set(read) | set(written)):
        dotted = f"{path}{name}"
        r, w = read.get(name), written.get(name)
        if r is None:
            continue  # the reader ignores what it does not know
        if w is None:
            if _required(r):
                reasons.append(
                    f"{mode}: new required field {dotted!r} is missing from data written"
                    f" with version {other}"
                    if mode == "BACKWARD"
                    else f"{mode}: required field {dotted!r} of version {other} was removed;"
                    f" version {other} readers need it"
                )
            continue
        if _kind(r) != _kind(w):
            old_kind, new_kind = (
                (_kind(w), _kind(r)) if mode == "BACKWARD" else (_kind(r), _kind(w))
            )
            reasons.append(
                f"{mode}: field {dotted!r} changed type from {old_kind} to {new_kind}"
                f" (version {other})"
            )
            continue
        if _required(r) and not _required(w):
            reasons.append(
                f"{mode}: field {dotted!r} became required; data written with version"
                f" {other} may lack it"
                if mode == "BACKWARD"
                else f"{mode}: field {dotted!r} became optional; version {other} readers require it"
            )
        if isinstance(r, EntitySchema) and isinstance(w, EntitySchema):
            reasons.extend(_problems(reader=r, writer=w, mode=mode, other=other, path=f"{dotted}."))
    return reasons
