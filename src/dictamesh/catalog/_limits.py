"""The one check of a caller's ``limit`` against a catalog maximum (pages, graphs, event log,
search)."""

from __future__ import annotations

from dictamesh.core.errors import QueryLimitExceeded, ValidationError

__all__ = ["check_limit"]


def check_limit(limit: int, maximum: int, what: str) -> None:
    """:class:`QueryLimitExceeded` above ``maximum``, :class:`ValidationError` below 1."""
    if limit > maximum:
        raise QueryLimitExceeded(
            f"{what} limit {limit} exceeds the maximum of {maximum}",
            limit=limit,
            max_limit=maximum,
        )
    if limit < 1:
        raise ValidationError(f"{what} limit must be at least 1", limit=limit)
