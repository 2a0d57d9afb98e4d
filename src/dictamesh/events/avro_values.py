"""Entity attributes to typed Avro values and back, never losing a value silently.

:func:`to_avro` checks and converts an event's attributes for an
:class:`~dictamesh.events.avro_schema.EntityRecord`: a missing required field, an attribute
the entity schema does not declare, or a value the field's type cannot hold (a string in an
integer field, a datetime with microseconds in a ``timestamp-millis`` field, a float that is
not whole in an integer field) raises :class:`SerializationError` naming the field.

:func:`from_avro` turns what fastavro decoded with a *writer* schema back into the values
the JSON encoding carries: timestamps as ISO 8601 text in UTC (``...Z``), dates as
``YYYY-MM-DD``, JSON fields parsed. It follows the writer schema, so any registered version
(older, newer, another producer's) decodes the same way.

Example::

    datum = to_avro(record, event.after, where="after")     # {'email': 'a@b.io', ...}
    attributes = from_avro(decoded["after"], writer_after_type, named)
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import pydantic_core

from dictamesh.core.bus_config import AvroTimestamps
from dictamesh.core.errors import SerializationError
from dictamesh.core.models import FieldType
from dictamesh.events.avro_schema import JSON_CONNECT_NAME, EntityRecord, FieldPlan

__all__ = ["Decoder", "decoder", "from_avro", "from_avro_union", "to_avro"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY: Final = date(1970, 1, 1)
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def _refuse(where: str, message: str) -> SerializationError:
    return SerializationError(f"field {where!r} {message}", field=where)


def to_avro(record: EntityRecord, attributes: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """``attributes`` as the Avro datum of ``record``; ``where`` prefixes field names in
    errors (``after`` → ``after.email``)."""
    if not isinstance(attributes, Mapping):
        raise _refuse(where, f"must be an object, not {type(attributes).__name__}")
    unknown = [key for key in attributes if key not in record.by_attribute]
    if unknown:
        raise _refuse(
            f"{where}.{unknown[0]}",
            f"is not a field of entity type {record.entity_type!r}: the typed Avro record"
            " cannot hold it (declare it in the entity schema)",
        )
    datum: dict[str, Any] = {}
    for plan in record.fields:
        path = f"{where}.{plan.attribute}"
        value = attributes.get(plan.attribute)
        if value is None:
            if plan.required:
                raise _refuse(path, f"is required by entity type {record.entity_type!r}")
            datum[plan.name] = None
            continue
        if plan.many:
            if not isinstance(value, list | tuple):
                raise _refuse(path, f"must be a list, not {type(value).__name__}")
            datum[plan.name] = [
                _item(plan, item, f"{path}[{n}]", record.timestamps) for n, item in enumerate(value)
            ]
        else:
            datum[plan.name] = _item(plan, value, path, record.timestamps)
    return datum


def _item(plan: FieldPlan, value: Any, path: str, timestamps: AvroTimestamps) -> Any:
    if value is None:
        raise _refuse(path, "is null: list items cannot be")
    if plan.nested is not None:
        return to_avro(plan.nested, value, where=path)
    return _scalar(plan.kind, value, path, timestamps)


def _scalar(kind: FieldType, value: Any, path: str, timestamps: AvroTimestamps) -> Any:
    if kind is FieldType.STRING:
        if isinstance(value, str):
            return value
    elif kind is FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
    elif kind is FieldType.INTEGER:
        return _long(value, path)
    elif kind is FieldType.NUMBER:
        return _double(value, path)
    elif kind is FieldType.DATETIME:
        return _timestamp(value, path, timestamps)
    elif kind is FieldType.DATE:
        return _days(value, path)
    elif kind is FieldType.JSON:
        try:
            # the JSON encoding's own encoder: datetimes, decimals, UUIDs as it writes them
            return pydantic_core.to_json(value).decode()
        except pydantic_core.PydanticSerializationError as exc:
            raise _refuse(path, f"cannot be written as JSON: {exc}") from exc
    raise _refuse(path, f"must be a {kind.value}, not {type(value).__name__} ({value!r:.40})")


def _long(value: Any, path: str) -> int:
    number: Any = value
    whole_decimal = (
        isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value()
    )
    if whole_decimal or (isinstance(value, float) and value.is_integer()):
        number = int(value)
    if isinstance(number, int) and not isinstance(number, bool):
        if _LONG_MIN <= number <= _LONG_MAX:
            return number
        raise _refuse(path, "does not fit a 64-bit integer (Avro long)")
    raise _refuse(path, f"must be a whole number, not {type(value).__name__} ({value!r:.40})")


def _double(value: Any, path: str) -> float:
    if isinstance(value, bool):
        raise _refuse(path, "must be a number, not bool")
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        number = float(value)
        if math.isfinite(number) and int(number) == value:
            return number
        raise _refuse(path, "is an integer a double cannot hold exactly")
    if isinstance(value, Decimal):
        number = float(value)
        try:
            # kept when the double reads back as the same decimal (0.1 does, 0.1000000001 not)
            exact = value.is_finite() and Decimal(repr(number)) == value
        except InvalidOperation:
            exact = False
        if exact:
            return number
        raise _refuse(path, f"is a decimal a double cannot hold exactly ({value})")
    raise _refuse(path, f"must be a number, not {type(value).__name__} ({value!r:.40})")


def _datetime(value: Any, path: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise _refuse(path, f"is not an ISO 8601 datetime ({value!r:.40})") from exc
    else:
        raise _refuse(path, f"must be a datetime, not {type(value).__name__}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # naive: UTC


def _timestamp(value: Any, path: str, timestamps: AvroTimestamps) -> int:
    micros = (_datetime(value, path) - _EPOCH) // timedelta(microseconds=1)
    if timestamps is AvroTimestamps.MICROS:
        return micros
    millis, rest = divmod(micros, 1000)
    if rest:
        raise _refuse(
            path,
            "has sub-millisecond digits a timestamp-millis field cannot hold (round it in the"
            " adapter, or set bus.avro_timestamps: micros)",
        )
    return millis


def _days(value: Any, path: str) -> int:
    if isinstance(value, datetime):
        raise _refuse(path, "must be a date, not a datetime")
    if isinstance(value, date):
        day = value
    elif isinstance(value, str):
        try:
            day = date.fromisoformat(value)
        except ValueError as exc:
            raise _refuse(path, f"is not an ISO 8601 date ({value!r:.40})") from exc
    else:
        raise _refuse(path, f"must be a date, not {type(value).__name__}")
    days = (day - _EPOCH_DAY).days
    if not _INT_MIN <= days <= _INT_MAX:  # pragma: no cover - date's range is smaller
        raise _refuse(path, "is out of the Avro date range")
    return days


# --- decoding ---------------------------------------------------------------------------------

Decoder = Callable[[Any], Any]
"""What turns one decoded Avro value into its JSON-like form (see :func:`decoder`)."""

_PRIMITIVES: Final = {
    "null": type(None),
    "boolean": bool,
    "int": int,
    "long": int,
    "float": float,
    "double": float,
    "string": str,
    "bytes": bytes,
}


def from_avro(value: Any, schema: Any, named: Mapping[str, Any]) -> Any:
    """``value`` (decoded by fastavro with ``return_record_name=True``) as JSON-like data,
    guided by its writer ``schema`` node; ``named``: the schema's named types by full name
    (fastavro's ``parsed["__named_schemas"]``). Decoding many values with one schema:
    build the :func:`decoder` once."""
    return decoder(schema, named)(value)


def decoder(schema: Any, named: Mapping[str, Any]) -> Decoder:
    """A function doing :func:`from_avro` for ``schema``, planned once: fields that need no
    conversion (strings, numbers, booleans) cost nothing per value."""
    return _compile(schema, named, set()) or _identity


def _identity(value: Any) -> Any:
    return value


def _compile(schema: Any, named: Mapping[str, Any], seen: set[str]) -> Decoder | None:
    """The conversion ``schema``'s values need, None when they are already JSON-like."""
    if isinstance(schema, str):
        if schema in named:
            if schema in seen:  # a recursive type: decide per value
                return lambda value: from_avro(value, named[schema], named)
            return _compile(named[schema], named, seen | {schema})
        return _plain if schema == "bytes" else None
    if isinstance(schema, list):
        return _compile_union(schema, named, seen)
    kind = schema.get("type")
    if isinstance(kind, list | dict) or (isinstance(kind, str) and kind in named):
        return _compile(kind, named, seen)
    if kind == "record":
        name = str(schema.get("name", ""))
        inner = seen | {name}
        fields = [(f["name"], _compile(f["type"], named, inner)) for f in schema["fields"]]
        return _record_decoder(fields)
    if kind == "array":
        item = _compile(schema["items"], named, seen)
        return None if item is None else lambda values: [item(v) for v in values]
    if kind == "map":
        entry = _compile(schema["values"], named, seen)
        return None if entry is None else lambda m: {k: entry(v) for k, v in m.items()}
    if kind == "string" and schema.get("connect.name") == JSON_CONNECT_NAME:
        return _json_value
    if schema.get("logicalType") is not None or kind in ("bytes", "fixed"):
        return _plain
    return None


def _record_decoder(fields: list[tuple[str, Decoder | None]]) -> Decoder:
    def decode(value: Any) -> Any:
        if not isinstance(value, Mapping):
            return _plain(value)
        return {
            name: (convert(value.get(name)) if convert else value.get(name))
            for name, convert in fields
        }

    return decode


def _compile_union(union: list[Any], named: Mapping[str, Any], seen: set[str]) -> Decoder | None:
    branches = [
        b for b in union if b != "null" and not (isinstance(b, dict) and b.get("type") == "null")
    ]
    if len(branches) == 1:  # ["null", T]: the usual optional field
        inner = _compile(branches[0], named, seen)
        if inner is None:
            return None
        return lambda value: None if value is None else inner(_unnamed(value))
    return lambda value: from_avro_union(value, union, named)


def _unnamed(value: Any) -> Any:
    # fastavro names the record of a one-record union only without the override
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return value[1]
    return value


def from_avro_union(value: Any, union: list[Any], named: Mapping[str, Any]) -> Any:
    """A value of a union with several branches: the branch fastavro named, or the first
    one whose type the value has."""
    inner, branch = _branch(value, union)
    return decoder(branch, named)(inner)


def _branch(value: Any, union: list[Any]) -> tuple[Any, Any]:
    """``(value, branch schema)`` of a union value."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        name, inner = value  # a union of several records: fastavro says which
        for branch in union:
            full = branch if isinstance(branch, str) else branch.get("name")
            if full == name:
                return inner, branch
        raise SerializationError(f"Avro union value of unknown record {name!r}")
    if value is None:
        return None, "null"
    for branch in union:
        kind = branch if isinstance(branch, str) else branch.get("type")
        if kind == "null":
            continue
        expected = _PRIMITIVES.get(kind) if isinstance(kind, str) else None
        if expected is None or isinstance(value, expected) or _logical(value):
            return value, branch
    return value, "string"


def _logical(value: Any) -> bool:
    return isinstance(value, datetime | date | Decimal)


def _json_value(value: Any) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"a JSON field holds text that is not JSON: {exc}") from exc


def _plain(value: Any) -> Any:
    """A decoded scalar as the JSON encoding has it (timestamps and dates as ISO text)."""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        spec = "seconds" if not moment.microsecond else "milliseconds"
        if moment.microsecond % 1000:
            spec = "microseconds"
        return moment.isoformat(timespec=spec).replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | bytes | uuid.UUID):
        return json.loads(pydantic_core.to_json(value))
    return value
