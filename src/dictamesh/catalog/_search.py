"""Entity search: fuzzy on PostgreSQL, a portable substring fallback on SQLite.

PostgreSQL calls ``dictamesh_search_entities`` (migration ``0002_postgres_specifics``):
trigram candidates from a GIN index, ranked by edit distance per word (typos), trigram
word similarity and full-text rank. SQLite has no such index; it matches each query word
as a case-insensitive substring of the same text (type, id, string/number attribute
values) and scores the share of words found. Both put an exact id first with score 1.

``hidden`` (``{entity_type: top-level attribute names}``, from the caller's governance)
removes those values before anything is matched, scored or reported: a value the caller
cannot read in clear must not raise a score or decide which entities come back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dictamesh.catalog._limits import check_limit
from dictamesh.catalog.records import EntitySearchResult
from dictamesh.core.errors import ValidationError

__all__ = [
    "MAX_SEARCH_LIMIT",
    "MAX_SEARCH_QUERY_LENGTH",
    "check_search",
    "query_words",
    "search",
]

MAX_SEARCH_QUERY_LENGTH = 200
MAX_SEARCH_LIMIT = 100

# Letters and digits of any script, as PostgreSQL's [[:alnum:]] (``_`` is punctuation there).
_WORD = re.compile(r"[^\W_]+")

_POSTGRES = text(
    "SELECT entity_type, entity_id, domain, score, matched"
    " FROM dictamesh_search_entities(:q, :tenant, :entity_type, :limit)"
)
# migration 0005: the same search over the attributes left once ``hidden`` ones are removed
_POSTGRES_VISIBLE = text(
    "SELECT entity_type, entity_id, domain, score, matched"
    " FROM dictamesh_search_entities(:q, :tenant, :entity_type, :limit, CAST(:hidden AS jsonb))"
)

Hidden = Mapping[str, Collection[str]]

# Words hold letters/digits only, so they need no LIKE escaping. SQLite's lower() and LIKE
# fold ASCII only: good enough for the embedded fallback.
_SQLITE_BODY = """
lower(e.entity_type || ' ' || e.entity_id || ' ' || coalesce((
    SELECT group_concat(j.value, ' ') FROM json_tree(e.visible) AS j
    WHERE j.type IN ('text', 'integer', 'real')
), ''))
"""
# JSON merge patch (RFC 7396) with ``{"name": null, ...}`` deletes those top-level keys
_SQLITE_VISIBLE = """
CASE WHEN m.mask IS NULL THEN e.attributes ELSE json_patch(e.attributes, m.mask) END
"""


def query_words(q: str) -> list[str]:
    """The lower-cased words of ``q`` (distinct, in order), as both engines split them."""
    return list(dict.fromkeys(_WORD.findall(q.lower())))


def check_search(q: str, limit: int) -> str:
    """``q`` stripped, or a :class:`ValidationError`/:class:`QueryLimitExceeded`."""
    if not isinstance(q, str) or not q.strip():
        raise ValidationError("search query must not be empty")
    stripped = q.strip()
    if len(stripped) > MAX_SEARCH_QUERY_LENGTH:
        raise ValidationError(
            f"search query longer than {MAX_SEARCH_QUERY_LENGTH} characters",
            length=len(stripped),
            max_length=MAX_SEARCH_QUERY_LENGTH,
        )
    check_limit(limit, MAX_SEARCH_LIMIT, "search")
    return stripped


async def search(
    conn: AsyncConnection,
    *,
    dialect: str,
    tenant: str,
    q: str,
    entity_type: str | None,
    limit: int,
    hidden: Hidden | None = None,
) -> list[EntitySearchResult]:
    """Ranked hits for an already checked ``q`` (see :func:`check_search`), never matched
    through the ``hidden`` attributes."""
    masks = _masks(hidden)
    if dialect == "postgresql":
        params: dict[str, Any] = {
            "q": q,
            "tenant": tenant,
            "entity_type": entity_type,
            "limit": limit,
        }
        if not masks:
            rows = await conn.execute(_POSTGRES, params)
        else:
            lists = {t: sorted(names) for t, names in masks.items()}
            rows = await conn.execute(_POSTGRES_VISIBLE, {**params, "hidden": json.dumps(lists)})
        return [_hit(r, list(r.matched or [])) for r in rows]
    return await _search_sqlite(conn, tenant, q, entity_type, limit, masks)


def _masks(hidden: Hidden | None) -> dict[str, frozenset[str]]:
    if not hidden:
        return {}
    out: dict[str, frozenset[str]] = {}
    for entity_type, names in hidden.items():
        if isinstance(names, str):
            raise TypeError("hidden maps an entity type to a collection of names")
        if names:
            out[str(entity_type)] = frozenset(str(n) for n in names)
    return out


async def _search_sqlite(
    conn: AsyncConnection,
    tenant: str,
    q: str,
    entity_type: str | None,
    limit: int,
    masks: Mapping[str, frozenset[str]],
) -> list[EntitySearchResult]:
    words = query_words(q)
    found = [f"(CASE WHEN body LIKE :w{i} THEN 1 ELSE 0 END)" for i in range(len(words))]
    share = f"(CAST({' + '.join(found)} AS REAL) / {len(words)})" if words else "0.0"
    any_word = " OR ".join(f"body LIKE :w{i}" for i in range(len(words))) or "0"
    statement = text(
        f"""
        SELECT entity_type, entity_id, domain, visible AS attributes, exact,
               CASE WHEN exact THEN 1.0 ELSE {share} END AS score
        FROM (
            SELECT e.entity_type, e.entity_id, e.domain, e.visible,
                   e.entity_id = :q AS exact, {_SQLITE_BODY} AS body
            FROM (
                SELECT e.*, {_SQLITE_VISIBLE} AS visible
                FROM dictamesh_entity_catalog AS e
                LEFT JOIN (SELECT key AS entity_type, value AS mask FROM json_each(:masks))
                     AS m ON m.entity_type = e.entity_type
                WHERE e.tenant_id = :tenant AND e.status = 'active'
                  AND (:entity_type IS NULL OR e.entity_type = :entity_type)
            ) AS e
        ) AS c
        WHERE exact OR {any_word}
        ORDER BY exact DESC, score DESC, entity_type, entity_id
        LIMIT :limit
        """
    )
    params: dict[str, Any] = {
        "q": q,
        "tenant": tenant,
        "entity_type": entity_type,
        "limit": limit,
        "masks": json.dumps({t: dict.fromkeys(sorted(names)) for t, names in masks.items()}),
    }
    params.update({f"w{i}": f"%{w}%" for i, w in enumerate(words)})
    rows = await conn.execute(statement, params)
    return [_hit(r, _matched(r.attributes, words)) for r in rows]


def _hit(row: Any, matched: list[str]) -> EntitySearchResult:
    return EntitySearchResult(
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        domain=row.domain,
        score=_clamp(row.score),
        matched=matched,
    )


def _matched(attributes: Any, words: list[str]) -> list[str]:
    """Top-level attributes whose text holds one of ``words`` (SQLite returns JSON text)."""
    if isinstance(attributes, str):
        attributes = json.loads(attributes)
    if not isinstance(attributes, Mapping) or not words:
        return []
    return sorted(key for key, value in attributes.items() if any(w in _text(value) for w in words))


def _text(value: Any) -> str:
    """The searchable text of a value: its strings and numbers, not keys or booleans."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, str | int | float):
        return str(value).lower()
    if isinstance(value, Mapping):
        return " ".join(_text(v) for v in value.values())
    if isinstance(value, list):
        return " ".join(_text(v) for v in value)
    return ""


def _clamp(score: Any) -> float:
    # real -> float shows noise digits (0.44749999...); four places are plenty for a rank
    return round(min(1.0, max(0.0, float(score))), 4)
