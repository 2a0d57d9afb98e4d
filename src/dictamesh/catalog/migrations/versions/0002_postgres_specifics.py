"""PostgreSQL specifics: fuzzy entity search, graph/timeline/JSONB indexes, updated_at triggers.

Only PostgreSQL changes; on SQLite both directions are no-ops, so every database walks the
same revision chain. What it adds (all names prefixed ``dictamesh_``):

* extensions ``pg_trgm`` (trigram similarity) and ``fuzzystrmatch`` (``levenshtein``, so a
  transposed letter — ``Jhon`` — still finds ``John``; trigrams alone cannot tell ``John``
  from ``Jane`` there). Both are *trusted*: the database owner may create them, no superuser;
* ``dictamesh_entity_search_text(type, id, attributes)``: the lower-cased text an entity is
  searched by (IMMUTABLE, so it can back an index), and a trigram GIN index over it;
* ``dictamesh_search_entities(q, p_tenant, p_type, p_limit)``: ranked fuzzy search (``_SEARCH``);
* GIN ``jsonb_path_ops`` on ``entity_catalog.attributes`` (``@>`` containment);
* graph: a partial covering index for *incoming* current edges. The outgoing side needs
  none: 0001's indexes on the subject serve it (its partial unique ``(tenant, subject,
  relationship_type, object) WHERE valid_to IS NULL`` even covers every column read);
* event timeline ``(tenant, entity_type, entity_id, event_timestamp, id)``, which serves
  ``get_event_log``'s filter *and* its ``ORDER BY event_timestamp DESC, id DESC``;
* ``dictamesh_touch_updated_at()`` and BEFORE UPDATE triggers on the tables with
  ``updated_at``.

Relationship ``metadata`` gets no GIN index: nothing queries inside it, and the table is
write-heavy. Downgrade drops everything above except the extensions, which may be shared
with other users of the database (and, if a superuser installed them, are not ours to drop).

Revision ID: 0002_postgres_specifics
Revises: 0001_initial
Create Date: 2025-06-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002_postgres_specifics"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXTENSIONS = ("pg_trgm", "fuzzystrmatch")

#: ``(name, table)`` of every index this revision creates
INDEXES = (
    ("ix_dictamesh_entity_catalog_search_trgm", "dictamesh_entity_catalog"),
    ("ix_dictamesh_entity_catalog_attributes_gin", "dictamesh_entity_catalog"),
    ("ix_dictamesh_entity_relationships_object_current", "dictamesh_entity_relationships"),
    ("ix_dictamesh_event_log_timeline", "dictamesh_event_log"),
)
FUNCTIONS = (
    "dictamesh_search_entities(text, text, text, integer)",
    "dictamesh_search_token_score(text[], text)",
    "dictamesh_entity_search_text(text, text, jsonb)",
    "dictamesh_touch_updated_at()",
)
#: tables with an ``updated_at`` column; each gets trigger ``dictamesh_touch_updated_at``
UPDATED_AT_TABLES = ("dictamesh_entity_catalog", "dictamesh_schema_config")
TRIGGER = "dictamesh_touch_updated_at"

# The text an entity is searched by: its type, id, and every string/number value anywhere
# in its attributes (keys do not count; ``strict`` stops ``$.**`` visiting array items
# twice). The JSON array's punctuation and escapes (``\n``, ``\"``) become separators.
# Built from IMMUTABLE built-ins only, as one expression, so the planner inlines it (3x
# faster than a subquery) and search_path never matters (autovacuum, pg_restore).
_SEARCH_TEXT = r"""
CREATE FUNCTION dictamesh_entity_search_text(p_type text, p_id text, p_attributes jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN lower(p_type || ' ' || p_id || ' ' || regexp_replace(
    jsonb_path_query_array(
        p_attributes, 'strict $.** ? (@.type() == "string" || @.type() == "number")'
    )::text,
    '\\(["\\/bfnrt]|u[0-9a-fA-F]{4})', ' ', 'g'
))
"""

# Mean over the query's words of each word's best token of ``p_text``: 1 - normalised edit
# distance, or high for a prefix (search-as-you-type). The distance is Levenshtein's, except
# that one swap of adjacent letters counts 1, not 2 (optimal string alignment): "jhon" is
# then nearer "john" than "joan". Tokens over 64 chars are skipped (levenshtein refuses
# > 255, and such tokens are hashes or blobs, not names).
_TOKEN_SCORE = """
CREATE FUNCTION dictamesh_search_token_score(p_words text[], p_text text)
RETURNS real
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT coalesce(avg(best), 0)::real
    FROM (
        SELECT max(CASE
                   WHEN starts_with(t, w) THEN 1 - 0.5 * (length(t) - length(w)) / length(t)
                   WHEN abs(length(t) - length(w)) > 3 THEN 0
                   ELSE greatest(0, 1 - (
                       CASE WHEN lev.d = 2 AND length(w) = length(t) AND EXISTS (
                                SELECT FROM generate_series(1, length(w) - 1) AS i
                                WHERE overlay(w PLACING substr(w, i + 1, 1) || substr(w, i, 1)
                                              FROM i FOR 2) = t)
                            THEN 1 ELSE lev.d END
                   )::numeric / greatest(length(w), length(t)))
               END) AS best
        FROM unnest(p_words) AS w
        CROSS JOIN regexp_split_to_table(lower(p_text), '[^[:alnum:]]+') AS t
        CROSS JOIN LATERAL (SELECT levenshtein_less_equal(w, t, 4) AS d) AS lev
        WHERE t <> '' AND length(t) <= 64 AND length(w) <= 64
        GROUP BY w
    ) AS per_word;
END
"""

#: candidates ranked in full per search; bounds the cost of unselective queries
MAX_CANDIDATES = 1000
#: a top-level attribute is reported as matched when one query word scores this in it
MATCHED_ATTRIBUTE_SCORE = 0.7
#: hits ranked lower are dropped: they share trigrams with the query, hardly a word
MIN_SCORE = 0.3

# Candidates come from the trigram index: ``<%`` is word similarity to some stretch of the
# text, with threshold 0.2 (set on the function) — low enough for a typo in each of two
# short words, which share little more than their first letters' trigrams. An entity's id is
# part of its text, so an exact id is always a candidate. The MAX_CANDIDATES most similar
# (exact id first) are ranked by 0.5 token score (typos) + 0.3 word similarity (trigrams)
# + 0.2 full-text rank (exact words; ts_rank of one hit is ~0.06, hence * 10); an exact id
# scores 1 and comes first, hits under MIN_SCORE are dropped. ``matched`` (top-level
# attributes whose values match; not their keys) is computed for returned rows only.
# BEGIN ATOMIC binds every name (tables, pg_trgm's and fuzzystrmatch's functions and
# operators) when the function is created, whatever the caller's search_path.
_SEARCH = f"""
CREATE FUNCTION dictamesh_search_entities(
    q text,
    p_tenant text DEFAULT 'default',
    p_type text DEFAULT NULL,
    p_limit integer DEFAULT 20
)
RETURNS TABLE (entity_type text, entity_id text, domain text, score real, matched text[])
LANGUAGE sql STABLE PARALLEL SAFE
SET pg_trgm.word_similarity_threshold = 0.2
BEGIN ATOMIC
    WITH query AS (
        SELECT btrim(q) AS raw,
               array_remove(regexp_split_to_array(lower(q), '[^[:alnum:]]+'), '') AS words,
               plainto_tsquery('simple', q) AS tsq
    ),
    candidates AS (
        SELECT e.entity_type, e.entity_id, e.domain, e.attributes,
               dictamesh_entity_search_text(e.entity_type, e.entity_id, e.attributes) AS body,
               e.entity_id = query.raw AS exact,
               query.raw, query.words, query.tsq
        FROM dictamesh_entity_catalog AS e
        CROSS JOIN query
        WHERE e.tenant_id = p_tenant
          AND e.status = 'active'
          AND (p_type IS NULL OR e.entity_type = p_type)
          AND query.raw <% dictamesh_entity_search_text(e.entity_type, e.entity_id, e.attributes)
    ),
    shortlist AS (
        SELECT c.*, word_similarity(c.raw, c.body) AS trigram
        FROM candidates AS c
        ORDER BY c.exact DESC, trigram DESC
        LIMIT {MAX_CANDIDATES}
    ),
    ranked AS (
        SELECT c.*,
               CASE WHEN c.exact THEN 1.0 ELSE
                   0.5 * dictamesh_search_token_score(c.words, c.body)
                   + 0.3 * c.trigram
                   + 0.2 * least(1.0, 10 * ts_rank(to_tsvector('simple', c.body), c.tsq))
               END AS rank
        FROM shortlist AS c
    ),
    top AS (
        SELECT * FROM ranked
        WHERE rank >= {MIN_SCORE}
        ORDER BY exact DESC, rank DESC, entity_type, entity_id
        LIMIT greatest(p_limit, 0)
    )
    SELECT t.entity_type, t.entity_id, t.domain, t.rank::real,
           ARRAY(
               SELECT a.key FROM jsonb_each(t.attributes) AS a
               WHERE EXISTS (
                   SELECT FROM unnest(t.words) AS w
                   WHERE dictamesh_search_token_score(ARRAY[w], jsonb_path_query_array(
                       a.value, 'strict $.** ? (@.type() == "string" || @.type() == "number")'
                   )::text) >= {MATCHED_ATTRIBUTE_SCORE})
               ORDER BY a.key
           )
    FROM top AS t
    ORDER BY t.exact DESC, t.rank DESC, t.entity_type, t.entity_id;
END
"""

# Writers that set updated_at themselves (the service, with its own clock) keep their
# value; an UPDATE that leaves it unchanged (hand-written SQL, a tool) gets now().
_TOUCH = """
CREATE FUNCTION dictamesh_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for extension in EXTENSIONS:
        op.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
    op.execute(_SEARCH_TEXT)
    op.execute(_TOKEN_SCORE)
    op.execute(
        "CREATE INDEX ix_dictamesh_entity_catalog_search_trgm ON dictamesh_entity_catalog"
        " USING gin (dictamesh_entity_search_text(entity_type, entity_id, attributes)"
        " gin_trgm_ops)"
    )
    op.execute(_SEARCH)
    op.execute(
        "CREATE INDEX ix_dictamesh_entity_catalog_attributes_gin ON dictamesh_entity_catalog"
        " USING gin (attributes jsonb_path_ops)"
    )
    # Key columns: what the graph walk joins on; INCLUDE: what it reads, so the scan never
    # visits the table (an index-only scan once the visibility map is set).
    op.execute(
        "CREATE INDEX ix_dictamesh_entity_relationships_object_current"
        " ON dictamesh_entity_relationships (tenant_id, object_type, object_id)"
        " INCLUDE (relationship_type, subject_type, subject_id) WHERE valid_to IS NULL"
    )
    op.execute(
        "CREATE INDEX ix_dictamesh_event_log_timeline ON dictamesh_event_log"
        " (tenant_id, entity_type, entity_id, event_timestamp, id)"
    )
    op.execute(_TOUCH)
    for table in UPDATED_AT_TABLES:
        op.execute(
            f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION dictamesh_touch_updated_at()"
        )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table in UPDATED_AT_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}")
    for name, _table in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    # Dependents first: the search function uses the two helpers.
    for signature in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
