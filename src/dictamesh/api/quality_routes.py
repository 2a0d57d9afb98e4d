"""Data quality over HTTP (``docs/quality.md``, "API").

* ``GET /api/v1/quality`` → ``{"tenant", "data_products": [{"entity_type", "score",
  "rules", "failed", "failed_errors", "evaluated_at"}]}``: each data product's score from
  its rules' latest results over the catalog (types the caller may not read are left out);
* ``GET /api/v1/quality/{entity_type}?limit=50`` → the type's score, each rule's latest
  result over the catalog (``results``), the latest on-ingest counts (``ingest``) and the
  newest ``limit`` results of every run (``history``); 403 for a type the caller may not
  read, 404 for a type with no rule and no result;
* ``POST /api/v1/admin/quality/run`` ``{"rules": ["id", ...]}`` (optional) → runs the rules
  (all, or the named ones) over the catalog now, for the caller's tenant, and answers the
  run; an unknown rule id is ``400`` before anything runs. Under ``/api/v1/admin``: the
  ``admin`` role by the default access rules.

Results carry counts and failing entity **ids** only, never attribute values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

import dictamesh.api.governance_routes as governed
from dictamesh.core.context import current_tenant
from dictamesh.core.errors import NotFoundError
from dictamesh.quality.runtime import NodeQuality
from dictamesh.quality.store import Run, score

if TYPE_CHECKING:
    from dictamesh.api.context import ApiContext

__all__ = ["QUALITY_PATH", "quality_router", "scores_by_type"]

QUALITY_PATH = "/api/v1/quality"
RUN_PATH = "/api/v1/admin/quality/run"
#: most history rows one request returns
MAX_HISTORY_LIMIT = 500
_TYPE = r"^[a-z][a-z0-9_]{0,62}$"


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Annotated[str, Field(max_length=100)]] | None = Field(default=None, max_length=1000)


def _tenant(quality: NodeQuality) -> str:
    return quality.store.database.tenant(current_tenant.get())


async def scores_by_type(ctx: ApiContext) -> dict[str, dict[str, Any]]:
    """Each data product's quality score for the caller's tenant (``GET /api/v1/adapters``
    lists it beside the SLA); empty without quality on the node."""
    if ctx.quality is None:
        return {}
    scores = await ctx.quality.store.scores(_tenant(ctx.quality))
    return {t: s.as_dict() for t, s in scores.items()}


def run_body(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "tenant": run.tenant,
        "trigger": run.trigger,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "rules": len(run.results),
        "failed": run.failed,
        "failed_errors": sum(1 for r in run.results if not r.passed and r.severity == "error"),
        "results": [r.as_dict() for r in run.results],
        "scores": [s.as_dict() for s in score(run.results).values()],
    }


def quality_router(ctx: ApiContext, quality: NodeQuality) -> APIRouter:
    router = APIRouter(tags=["quality"])
    configured = {t for t, _ in quality.settings.all_rules()}

    @router.get(QUALITY_PATH)
    async def quality_scores() -> Any:
        """Each data product's quality score (latest run over the catalog)."""
        tenant = _tenant(quality)
        scores = await quality.store.scores(tenant)
        readable = await governed.readable_types(ctx, scores)
        return {
            "tenant": tenant,
            "data_products": [s.as_dict() for t, s in scores.items() if t in readable],
        }

    @router.get(QUALITY_PATH + "/{entity_type}")
    async def quality_of_type(
        entity_type: Annotated[str, Path(pattern=_TYPE)],
        limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_LIMIT)] = 50,
    ) -> Any:
        """One data product's rule results, on-ingest counts and history."""
        await governed.check_readable(ctx, entity_type)
        tenant = _tenant(quality)
        latest = await quality.store.latest(tenant, entity_type=entity_type)
        ingest = await quality.store.latest(tenant, entity_type=entity_type, ingest=True)
        history = await quality.store.history(tenant, entity_type, limit=limit)
        if not (latest or ingest or history) and entity_type not in configured:
            raise NotFoundError(f"no quality rule for {entity_type!r}", entity_type=entity_type)
        scored = score(latest).get(entity_type)
        return {
            "tenant": tenant,
            "entity_type": entity_type,
            "score": scored.as_dict() if scored is not None else None,
            "results": [r.as_dict() for r in latest],
            "ingest": [r.as_dict() for r in ingest],
            "history": [r.as_dict() for r in history],
        }

    @router.post(RUN_PATH)
    async def run_quality(body: RunRequest | None = None) -> Any:
        """Run the rules (all, or those named) over the catalog now."""
        run = await quality.run_now(_tenant(quality), rule_ids=body.rules if body else None)
        return run_body(run)

    return router
