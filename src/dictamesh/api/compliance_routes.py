"""``GET /api/v1/admin/compliance/report`` — the compliance report
(:mod:`dictamesh.governance.compliance`): personal fields, their flows by lineage, who read
them, consent coverage. Under ``/api/v1/admin`` (the ``admin`` role by default).

Query: ``format=json`` (default) or ``markdown``; ``since``/``until`` (ISO 8601) bound the
audited reads; ``sample`` (0 to 1000) catalog snapshots per entity type for the detectors.

Example::

    GET /api/v1/admin/compliance/report?format=markdown&since=2026-12-01T00:00:00Z
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Query
from starlette.responses import PlainTextResponse

from dictamesh.catalog.service import CatalogService
from dictamesh.core.errors import ValidationError
from dictamesh.governance.compliance import DEFAULT_SAMPLE, build_report, to_markdown
from dictamesh.governance.enforce import Governance

if TYPE_CHECKING:
    from dictamesh.api.context import ApiContext

__all__ = ["COMPLIANCE_PATH", "compliance_router"]

COMPLIANCE_PATH = "/api/v1/admin/compliance"


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def compliance_router(ctx: ApiContext, governance: Governance) -> APIRouter:
    router = APIRouter(prefix=COMPLIANCE_PATH, tags=["governance"])

    @router.get("/report")
    async def report(
        format: Annotated[Literal["json", "markdown"], Query()] = "json",
        since: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
        until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
        sample: Annotated[int, Query(ge=0, le=1000)] = DEFAULT_SAMPLE,
    ) -> Any:
        """The compliance report of the caller's tenant (admin)."""
        catalog = ctx.catalog
        if not isinstance(catalog, CatalogService):
            raise ValidationError("the compliance report needs the node's catalog database")
        flush = getattr(governance.audit_sink, "flush", None)
        if flush is not None:  # what this node saw so far is in the report
            await flush()
        adapters = list(ctx.registry.adapters())
        body = await build_report(
            catalog,
            consent=governance.consent,
            schemas=dict(ctx.registry.schemas()),
            lineage=[a.get_lineage() for a in adapters if hasattr(a, "get_lineage")],
            since=_utc(since),
            until=_utc(until),
            sample=sample,
            subject_types=(governance.consent.settings.subject_types if governance.consent else ()),
        )
        if format == "markdown":
            return PlainTextResponse(to_markdown(body), media_type="text/markdown")
        return body

    return router
