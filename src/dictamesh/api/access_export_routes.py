"""Right of access over HTTP: ``GET /api/v1/admin/governance/subjects/{ref}/export``.

Admin only (the policy action ``admin`` on the subject's entity type, and the auth layer's
``/api/v1/admin`` rule). ``ref`` is ``<type>:<id>`` (``customer:42``): a malformed one is a
400 ``VALIDATION_ERROR``, an unknown subject a 404, both before anything is read. The
answer is the bundle of :func:`dictamesh.governance.access_export.export_subject` as a JSON
download, and the export itself is written to the audit log before it is served.

Example::

    GET /api/v1/admin/governance/subjects/customer:42/export
    → {"manifest": {"format": "dictamesh-access-export/1", "counts": {...}}, "entities": [...]}
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from dictamesh.api.errors import error_response
from dictamesh.catalog.service import CatalogService
from dictamesh.core.context import current_principal, tenant_id
from dictamesh.core.errors import PermissionDenied
from dictamesh.core.models import EntityRef
from dictamesh.governance.access_export import audit_reason, export_subject
from dictamesh.governance.audit import AuditLog
from dictamesh.governance.enforce import CHANNEL_REST, Governance
from dictamesh.governance.policy import Action, Resource

if TYPE_CHECKING:
    from dictamesh.api.context import ApiContext

__all__ = ["EXPORT_PATH", "access_export_router"]

EXPORT_PATH = "/api/v1/admin/governance/subjects/{ref}/export"


def access_export_router(ctx: ApiContext, governance: Governance) -> APIRouter:
    router = APIRouter(tags=["governance", "admin"])

    @router.get(EXPORT_PATH)
    async def export(ref: str) -> Any:
        """Everything the mesh holds about one data subject (right of access; admin)."""
        subject = EntityRef.parse(ref)  # a 400 before any decision or read
        schemas = ctx.registry.schemas()
        domain = schemas[subject.type].domain if subject.type in schemas else None
        principal = current_principal.get()
        decision = governance.decide(
            principal, Action.ADMIN, Resource(subject.type, domain, tenant=tenant_id())
        )
        if not decision.allowed:
            await governance.record([governance.entry(decision, principal, channel=CHANNEL_REST)])
            raise PermissionDenied("not allowed: the access export needs the admin action")
        if not isinstance(ctx.catalog, CatalogService):
            return error_response(
                501, "NOT_IMPLEMENTED", "the access export needs the node's catalog database"
            )
        bundle = await export_subject(ctx.catalog, subject)
        log = governance.audit_log or AuditLog(ctx.catalog)
        note = dataclasses.replace(decision, reason=audit_reason(bundle))
        # written now, not queued: an export of personal data must be provable
        await log.record(
            [governance.entry(note, principal, channel=CHANNEL_REST, entity_id=subject.id)]
        )
        filename = f"access-export-{subject.type}-{subject.id.replace(':', '_')}.json"
        return JSONResponse(
            bundle, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )

    return router
