"""A search request checked once, at the edge, before any catalog or provider call.

Both transports (REST ``GET /api/v1/search``, GraphQL ``catalogSearch``) build a
:class:`SearchRequest` with :meth:`SearchRequest.checked`; a bad text, mode, filter or limit
is a :class:`~dictamesh.core.errors.ValidationError` (400) there, so nothing is embedded,
searched or counted for it.

Example::

    request = SearchRequest.checked("wireless headphones", mode="hybrid", limit=10)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from dictamesh.core.errors import QueryLimitExceeded, ValidationError
from dictamesh.core.models import TYPE_NAME_PATTERN

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_SEARCH_LIMIT",
    "SearchMode",
    "SearchRequest",
    "check_limit",
    "check_name",
]

#: the catalog's text search refuses longer text; semantic search embeds no more either
MAX_QUERY_CHARS = 200
#: results per search (the catalog's text search answers at most this many)
MAX_SEARCH_LIMIT = 100

_NAME = re.compile(TYPE_NAME_PATTERN)


class SearchMode(StrEnum):
    """How the catalog is searched (``docs/search.md``)."""

    #: words, typos tolerated (trigram on PostgreSQL, substrings on SQLite)
    TEXT = "text"
    #: meaning: the query's embedding against the entries' embeddings
    SEMANTIC = "semantic"
    #: both lists fused by reciprocal rank
    HYBRID = "hybrid"

    @classmethod
    def parse(cls, value: str | SearchMode | None, default: str | SearchMode) -> SearchMode:
        raw = default if value is None or value == "" else value
        try:
            return cls(str(raw).lower())
        except ValueError:
            raise ValidationError(
                f"unknown search mode {str(raw)[:32]!r}",
                mode=str(raw)[:32],
                modes=[m.value for m in cls],
            ) from None


def check_limit(limit: int) -> int:
    """``limit`` within 1..:data:`MAX_SEARCH_LIMIT`, else a typed 400."""
    if limit > MAX_SEARCH_LIMIT:
        raise QueryLimitExceeded(
            f"search limit {limit} exceeds the maximum of {MAX_SEARCH_LIMIT}",
            limit=limit,
            max_limit=MAX_SEARCH_LIMIT,
        )
    if limit < 1:
        raise ValidationError("search limit must be at least 1", limit=limit)
    return limit


def check_name(value: str | None, what: str) -> str | None:
    """A type, domain or source system name as the catalog stores them, else a 400."""
    if value is None:
        return None
    if not _NAME.match(value):
        raise ValidationError(
            f"invalid {what}: lower-case letters, digits and '_', at most 63",
            **{what: value[:64]},
        )
    return value


@dataclass(frozen=True)
class SearchRequest:
    """One checked search: stripped text, a mode, filters, a limit."""

    text: str
    mode: SearchMode
    entity_type: str | None = None
    domain: str | None = None
    source: str | None = None
    limit: int = 20

    @classmethod
    def checked(
        cls,
        text: str | None,
        *,
        mode: str | SearchMode | None = None,
        default_mode: str | SearchMode = SearchMode.HYBRID,
        entity_type: str | None = None,
        domain: str | None = None,
        source: str | None = None,
        limit: int = 20,
    ) -> SearchRequest:
        if text is None or not isinstance(text, str) or not text.strip():
            raise ValidationError("search query must not be empty")
        stripped = text.strip()
        if len(stripped) > MAX_QUERY_CHARS:
            raise ValidationError(
                f"search query longer than {MAX_QUERY_CHARS} characters",
                length=len(stripped),
                max_length=MAX_QUERY_CHARS,
            )
        return cls(
            text=stripped,
            mode=SearchMode.parse(mode, default_mode),
            entity_type=check_name(entity_type, "type"),
            domain=check_name(domain, "domain"),
            source=check_name(source, "source"),
            limit=check_limit(limit),
        )

    @property
    def depth(self) -> int:
        """Candidates asked of each list: more than ``limit`` so fusion can promote an entity
        both lists found lower down, and facets count more than one page. Filters the
        catalog cannot apply itself (domain, source) take the most."""
        if self.domain is not None or self.source is not None:
            return MAX_SEARCH_LIMIT
        return min(MAX_SEARCH_LIMIT, max(3 * self.limit, 50))
