"""Search that matches and scores only what the caller may read in clear.

0002's search matched every attribute value, so a hidden value (a postal code in a
withheld address) still raised an entity's score, and a query naming it decided which
entities came back. This revision adds 5-argument overloads taking ``p_hidden``: a JSON
object ``{entity_type: [top-level attribute names]}`` whose values are removed from an
entity's attributes before it is matched, ranked and reported in ``matched``.

The trigram index still finds the candidates (over all values: a superset), then each
candidate must match its *visible* text too, and the shortlist is ordered by that text —
so the result equals a search over the stripped rows. The 4-argument functions stay
(nothing hidden); the guarded one checks the tenant as in 0004.

Revision ID: 0005_search_hidden_fields
Revises: 0004_row_level_security
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005_search_hidden_fields"
down_revision: str | Sequence[str] | None = "0004_row_level_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUC = "dictamesh.tenant_id"
APP_ROLE = "dictamesh_app"
SEARCH = "dictamesh_search_entities"
SEARCH_ANY_TENANT = "dictamesh_search_entities_any_tenant"
_ARGS = "(text, text, text, integer, jsonb)"
# as in 0002
MAX_CANDIDATES = 1000
MATCHED_ATTRIBUTE_SCORE = 0.7
MIN_SCORE = 0.3

# ``jsonb - text[]`` drops the hidden top-level keys; the names come from the caller's
# governance (Redactor.hidden_names), which hides a whole top-level value when any part of
# it is hidden.
_VISIBLE = (
    "(e.attributes - coalesce(ARRAY(SELECT jsonb_array_elements_text("
    "p_hidden -> e.entity_type)), '{}'::text[]))"
)

_SEARCH_VISIBLE = f"""
CREATE FUNCTION {SEARCH_ANY_TENANT}(
    q text, p_tenant text, p_type text, p_limit integer, p_hidden jsonb
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
    indexed AS (
        SELECT e.entity_type, e.entity_id, e.domain, {_VISIBLE} AS attributes,
               e.entity_id = query.raw AS exact,
               query.raw, query.words, query.tsq
        FROM dictamesh_entity_catalog AS e
        CROSS JOIN query
        WHERE e.tenant_id = p_tenant
          AND e.status = 'active'
          AND (p_type IS NULL OR e.entity_type = p_type)
          AND query.raw <% dictamesh_entity_search_text(
              e.entity_type, e.entity_id, e.attributes)
    ),
    candidates AS (
        SELECT i.*,
               dictamesh_entity_search_text(i.entity_type, i.entity_id, i.attributes)
                   AS body
        FROM indexed AS i
    ),
    shortlist AS (
        SELECT c.*, word_similarity(c.raw, c.body) AS trigram
        FROM candidates AS c
        WHERE c.exact OR c.raw <% c.body
        ORDER BY c.exact DESC, trigram DESC, c.entity_type, c.entity_id
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
                   WHERE dictamesh_search_token_score(ARRAY[w],
                       jsonb_path_query_array(a.value,
                           'strict $.** ? (@.type() == "string" || @.type() == "number")'
                       )::text) >= {MATCHED_ATTRIBUTE_SCORE})
               ORDER BY a.key
           )
    FROM top AS t
    ORDER BY t.exact DESC, t.rank DESC, t.entity_type, t.entity_id;
END
"""

_SEARCH_GUARDED = f"""
CREATE FUNCTION {SEARCH}(
    q text, p_tenant text, p_type text, p_limit integer, p_hidden jsonb
)
RETURNS TABLE (entity_type text, entity_id text, domain text, score real, matched text[])
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT s.entity_type, s.entity_id, s.domain, s.score, s.matched
    FROM {SEARCH_ANY_TENANT}(q, p_tenant, p_type, p_limit, p_hidden) WITH ORDINALITY
         AS s(entity_type, entity_id, domain, score, matched, position)
    WHERE p_tenant = current_setting('{GUC}', true)
       OR pg_has_role(session_user, current_user, 'MEMBER')
       OR EXISTS (SELECT FROM pg_roles AS r
                  WHERE r.rolname = session_user AND (r.rolsuper OR r.rolbypassrls))
    ORDER BY s.position;
END
"""

_GRANT = f"""
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN
        GRANT EXECUTE ON FUNCTION {SEARCH}{_ARGS} TO {APP_ROLE};
    END IF;
END
$$
"""


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    # Loads pg_trgm into this session: until then its GUC is an unknown placeholder, and a
    # non-superuser may not give a function a SET of it ("permission denied to set").
    op.execute("SELECT word_similarity('a', 'a')")
    op.execute(_SEARCH_VISIBLE)
    op.execute(f"REVOKE ALL ON FUNCTION {SEARCH_ANY_TENANT}{_ARGS} FROM PUBLIC")
    op.execute(_SEARCH_GUARDED)
    op.execute(f"REVOKE ALL ON FUNCTION {SEARCH}{_ARGS} FROM PUBLIC")
    op.execute(_GRANT)


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(f"DROP FUNCTION IF EXISTS {SEARCH}{_ARGS}")
    op.execute(f"DROP FUNCTION IF EXISTS {SEARCH_ANY_TENANT}{_ARGS}")
