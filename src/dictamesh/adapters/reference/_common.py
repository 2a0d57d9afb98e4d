"""Helpers shared by the reference adapters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dictamesh.core.errors import ValidationError
from dictamesh.core.models import FieldFilter, SortSpec

__all__ = [
    "EPOCH",
    "QueryPairs",
    "cents_to_amount",
    "parse_datetime",
    "timestamp_param",
    "unsupported_filter",
    "unsupported_sort",
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
