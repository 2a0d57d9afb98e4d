"""Consent records over HTTP (``docs/governance.md``, "Consent and purpose").

* ``GET /api/v1/governance/consent/{subject}`` → the subject's current state per purpose,
  its CCPA flags and full history;
* ``POST /api/v1/governance/consent/{subject}`` ``{"purpose", "state": "given"|"withdrawn",
  "evidence"}`` → 201 with the record (a withdrawal is in force for the next read, on
  every node);
* ``POST /api/v1/governance/consent/{subject}/withdraw`` ``{"purpose", "evidence"}``;
* ``PUT /api/v1/governance/consent/{subject}/ccpa`` ``{"do_not_sell": true,
  "do_not_share": false}`` → withdraws (or gives back) the ``sale``/``share`` purposes.

``subject`` is an entity reference, ``customer:c-1``. The caller needs the policy action
``admin`` on the subject's entity type, or must be the subject itself (its JWT names it in
``governance.consent.subject_claim``). Unknown purposes, malformed subjects and oversized
evidence are typed 400s before anything is written. Every change is audited.

Example::

    POST /api/v1/governance/consent/customer:c-1   {"purpose": "marketing", "state": "given"}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse

from dictamesh.catalog.service import CatalogService
from dictamesh.core.context import current_principal, tenant_id
from dictamesh.core.errors import PermissionDenied, ValidationError
from dictamesh.core.models import EntityRef
from dictamesh.governance.consent import CCPA_FLAGS, ConsentService
from dictamesh.governance.consent_store import ConsentStore
from dictamesh.governance.enforce import CHANNEL_REST, Governance
from dictamesh.governance.policy import Action, Resource

if TYPE_CHECKING:
    from dictamesh.api.context import ApiContext

__all__ = ["CONSENT_PATH", "consent_router"]

CONSENT_PATH = "/api/v1/governance/consent"
#: bound on the evidence text before the configured limit is checked (a body cap)
_EVIDENCE_CAP = 100_000


class ConsentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(min_length=1, max_length=63)
    state: Literal["given", "withdrawn"] = "given"
    evidence: str = Field(default="", max_length=_EVIDENCE_CAP)
    #: where the consent was collected: ``api`` (default) or ``import`` (a bulk load)
    source: Literal["api", "import"] = "api"


class WithdrawBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(min_length=1, max_length=63)
    evidence: str = Field(default="", max_length=_EVIDENCE_CAP)


class CcpaBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    do_not_sell: bool | None = None
    do_not_share: bool | None = None
    evidence: str = Field(default="", max_length=_EVIDENCE_CAP)


def consent_service(ctx: ApiContext, governance: Governance) -> ConsentService | None:
    """The node's consent service, else one over the API's catalog (default settings)."""
    if governance.consent is not None:
        return governance.consent
    if isinstance(ctx.catalog, CatalogService):
        from dictamesh.core.settings import ConsentSettings
        from dictamesh.governance.audit import AuditLog

        governance.consent = ConsentService(
            ConsentSettings(), ConsentStore(ctx.catalog.database), audit=AuditLog(ctx.catalog)
        )
        return governance.consent
    return None


def consent_router(ctx: ApiContext, governance: Governance) -> APIRouter:
    router = APIRouter(prefix=CONSENT_PATH, tags=["governance"])

    def service() -> ConsentService:
        found = consent_service(ctx, governance)
        if found is None:
            raise ValidationError("consent records need the node's catalog database")
        return found

    async def allowed(subject: str) -> str:
        """The normalised subject, once the caller may see and change its consents."""
        ref = EntityRef.parse(subject)
        consent = service()
        principal = current_principal.get()
        if consent.is_subject(principal, str(ref)):
            return str(ref)
        resource = Resource(ref.type, tenant=tenant_id())
        decision = governance.decide(principal, Action.ADMIN, resource)
        if not decision.allowed:
            await governance.record(
                [governance.entry(decision, principal, channel=CHANNEL_REST, entity_id=ref.id)]
            )
            raise PermissionDenied(
                "not allowed: consent records need the admin action or the subject itself"
            )
        return str(ref)

    async def change(subject: str, purpose: str, state: Any, evidence: str, source: str) -> Any:
        principal = current_principal.get()
        record = await service().record(
            subject, purpose, state, source=source, evidence=evidence,
            actor=principal.subject if principal is not None else "anonymous",
            roles=sorted(principal.roles) if principal is not None else (),
            auth_method=str(principal.method) if principal is not None else "none",
        )  # fmt: skip
        return record.to_dict()

    @router.get("/{subject}")
    async def read(subject: str) -> Any:
        """The subject's consents: state per purpose, CCPA flags, history (oldest first)."""
        return await service().state(await allowed(subject))

    @router.post("/{subject}", status_code=201)
    async def record(subject: str, body: ConsentBody) -> Any:
        """Record consent given or withdrawn for one purpose."""
        ref = await allowed(subject)
        return await change(ref, body.purpose, body.state, body.evidence, body.source)

    @router.post("/{subject}/withdraw", status_code=201)
    async def withdraw(subject: str, body: WithdrawBody) -> Any:
        """Withdraw consent for one purpose: the next read is masked or denied."""
        ref = await allowed(subject)
        return await change(ref, body.purpose, "withdrawn", body.evidence, "api")

    @router.put("/{subject}/ccpa")
    async def ccpa(subject: str, body: CcpaBody) -> Any:
        """Set the CCPA do-not-sell / do-not-share flags (opt-outs of ``sale``/``share``)."""
        ref = await allowed(subject)
        flags = {"do_not_sell": body.do_not_sell, "do_not_share": body.do_not_share}
        if all(v is None for v in flags.values()):
            raise ValidationError("give do_not_sell and/or do_not_share")
        records = []
        for flag, value in flags.items():
            if value is None:
                continue
            state = "withdrawn" if value else "given"
            records.append(await change(ref, CCPA_FLAGS[flag], state, body.evidence, "api"))
        return JSONResponse({"records": records, **(await service().state(ref))["ccpa"]})

    return router
