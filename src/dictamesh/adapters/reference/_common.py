"""Helpers shared by the reference adapters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dictamesh.adapters.base import AdapterBase
from dictamesh.adapters.http import IDEMPOTENCY_HEADER
from dictamesh.core.errors import SourceResponseError, ValidationError
from dictamesh.core.inputs import InvalidInput
from dictamesh.core.models import (
    Entity,
    FieldFilter,
    SortSpec,
    validate_entity_id,
    validate_idempotency_key,
)

__all__ = [
    "EPOCH",
    "QueryPairs",
    "amount_to_cents",
    "by_id_or_key",
    "cents_to_amount",
    "filter_values",
    "keyed",
    "later_since",
    "parse_datetime",
    "payload_id",
    "payload_int",
    "source_entity",
    "source_object",
    "timestamp_param",
    "unsupported_filter",
    "unsupported_sort",
    "updated_since_for_sort",
]

#: query parameters as pairs (repeated names allowed), typed as httpx accepts them
QueryPairs = list[tuple[str, str | int | float | bool | None]]

#: the earliest ``updated_since``: asking with it orders a whole listing by update time
EPOCH = "1970-01-01T00:00:00.000000Z"


def parse_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def timestamp_param(value: Any) -> str:
    """A filter's datetime value in the sources' fixed-width UTC form, which compares as text
    (``2026-01-02T03:04:05.000000Z``); ``ValidationError`` if it is not a datetime."""
    try:
        parsed = value if isinstance(value, datetime) else parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValidationError(f"{value!r} is not a timezone-aware ISO 8601 datetime")
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cents_to_amount(value: Any) -> float:
    """Integer minor units → a decimal amount (the canonical ``number`` fields)."""
    return round(int(value) / 100, 2)


def amount_to_cents(value: Any, where: str) -> int:
    """A canonical decimal amount (major units) → integer minor units; InvalidInput if it is
    not a non-negative number with at most two decimals."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(f"{where} must be a number", field=where)
    try:
        cents = Decimal(str(value)) * 100
    except InvalidOperation:
        raise InvalidInput(f"{where} must be a number", field=where) from None
    if not cents.is_finite() or cents < 0 or cents != cents.to_integral_value():
        raise InvalidInput(f"{where} must be >= 0 with at most two decimals", field=where)
    return int(cents)


def keyed(idempotency_key: str) -> dict[str, str]:
    """The headers of a write carrying ``idempotency_key``."""
    return {IDEMPOTENCY_HEADER: idempotency_key}


def payload_id(payload: Mapping[str, Any], name: str) -> str:
    """``payload[name]`` as an entity id (they travel in URLs); InvalidInput otherwise."""
    value = payload.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    try:
        return validate_entity_id(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InvalidInput(f"{name}: {exc}", field=name) from None


def payload_int(payload: Mapping[str, Any], name: str, *, minimum: int = 1) -> int:
    """``payload[name]`` as an integer >= ``minimum``; InvalidInput otherwise."""
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(f"{name} must be an integer >= {minimum}", field=name)
    return value


def by_id_or_key(payload: Mapping[str, Any], id_name: str, key_name: str) -> tuple[str, str]:
    """``("id", value)`` or ``("key", value)``: a command naming its target by id or by the
    idempotency key of the write that made it (e.g. ``reservation_id`` / ``reserve_key``)."""
    has_id, has_key = payload.get(id_name) is not None, payload.get(key_name) is not None
    if has_id == has_key:
        raise InvalidInput(f"give exactly one of {id_name} and {key_name}", field=id_name)
    if has_id:
        return "id", payload_id(payload, id_name)
    key = payload.get(key_name)
    try:
        return "key", validate_idempotency_key(key)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InvalidInput(f"{key_name}: {exc}", field=key_name) from None


def unsupported_filter(adapter: str, flt: FieldFilter) -> ValidationError:
    return ValidationError(
        f"{adapter} cannot filter on {flt.field} {flt.op.value}",
        adapter=adapter,
        field=flt.field,
        op=flt.op.value,
    )


def unsupported_sort(adapter: str, sort: SortSpec) -> ValidationError:
    direction = "descending" if sort.descending else "ascending"
    return ValidationError(
        f"{adapter} cannot sort by {sort.field} {direction}", adapter=adapter, field=sort.field
    )


def filter_values(flt: FieldFilter) -> list[Any]:
    """The values a filter names: its list (``in``), else its one value."""
    return flt.value if isinstance(flt.value, list) else [flt.value]


def later_since(since: str | None, value: Any) -> str:
    """``updated_since`` for one more ``updated_at >= value`` filter: the later of the two."""
    stamp = timestamp_param(value)
    return stamp if since is None else max(since, stamp)


def updated_since_for_sort(adapter: str, sort: Sequence[SortSpec], since: str | None) -> str | None:
    """``updated_since`` to ask a list with, given ``sort``; ``ValidationError`` for a sort
    the API cannot give.

    The products and invoices APIs list by id, or by update time when asked with
    ``updated_since``: so only ascending ``id`` and ``updated_at`` sorts, ``updated_at`` first
    asks from :data:`EPOCH` unless a filter set a later start, and a filter on ``updated_at``
    allows no sort on ``id``.
    """
    for spec in sort:
        if spec.descending or spec.field not in ("id", "updated_at"):
            raise unsupported_sort(adapter, spec)
    if sort and sort[0].field == "updated_at":
        return since or EPOCH
    if since is not None and sort:
        raise unsupported_sort(adapter, sort[0])
    return since


def source_object(row: Any, source: str, what: str) -> dict[str, Any]:
    """``row`` if it is a JSON object, else ``SourceResponseError`` (``what``: "a product")."""
    if not isinstance(row, dict):
        raise SourceResponseError(f"{source}: expected {what} object", source=source)
    return row


def source_entity(
    adapter: AdapterBase, raw: Mapping[str, Any], attributes: dict[str, Any], updated_at: Any
) -> Entity:
    """The adapter's entity for source record ``raw``: its ``id``, its ``version`` (1 when it
    has none), ``attributes``, and the source's update time ``updated_at``."""
    return Entity(
        type=adapter.entity_type,
        id=str(raw["id"]),
        version=int(raw.get("version") or 1),
        attributes=attributes,
        source=adapter.source,
        updated_at=parse_datetime(updated_at),
    )
