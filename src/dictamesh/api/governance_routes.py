"""Governance in the HTTP API: enforcement on the REST entity and catalog bodies, the
per-request activation of the node's :class:`~dictamesh.governance.enforce.Governance`, and
the governance routes under ``/api/v1/governance``.

* :func:`install_governance` (called by :func:`dictamesh.api.app.create_app`) adds
  :class:`GovernanceMiddleware`, which activates the governance for every HTTP request and
  WebSocket (GraphQL resolvers and subscriptions find it there) and adds the
  ``X-DictaMesh-Redacted`` header listing the fields withheld from the caller (and
  ``X-DictaMesh-Masked`` those served masked: the browser UI marks them);
* :func:`entity_body`, :func:`page_body` and :func:`events_body` mask what the REST routes
  return (``dictamesh.api.rest`` calls them), :func:`search_scope` governs search;
  :func:`check_readable`,
  :func:`graph_body` and :func:`lineage_body` keep graphs and lineage to the entity types the
  caller may read;
* ``GET /api/v1/governance/audit`` and ``/audit/summary`` read the audit log,
  ``POST /api/v1/governance/erasure`` erases an entity, ``GET /api/v1/governance/policy/explain``
  explains a decision. The first three need the policy action ``admin``.

Example::

    app = FastAPI()
    install_governance(app, ctx)      # ctx.governance, or the built-in default policy
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dictamesh.api.access_export_routes import access_export_router
from dictamesh.api.errors import error_response
from dictamesh.catalog.service import CatalogService
from dictamesh.core.context import current_principal, current_purpose, tenant_id
from dictamesh.core.errors import DictaMeshError, PermissionDenied, ValidationError
from dictamesh.core.inputs import MAX_STORED_INT
from dictamesh.core.models import Classification, EntityRef, EntitySchema, validate_entity_id
from dictamesh.core.principal import Principal
from dictamesh.governance.audit import MAX_AUDIT_QUERY_LIMIT, AuditLog
from dictamesh.governance.consent import consent_scope
from dictamesh.governance.enforce import (
    CHANNEL_GRAPHQL,
    CHANNEL_REST,
    CHANNEL_SUBSCRIPTION,
    Governance,
    Redactor,
    active_governance,
    current_channel,
    current_governance,
)
from dictamesh.governance.erasure import erase_entity
from dictamesh.governance.policy import Action, Decision, Resource
from dictamesh.governance.related import (
    TypeAccess,
    visible_changed_fields,
    visible_flow,
    visible_graph,
)
from dictamesh.search.hybrid import SearchScope

if TYPE_CHECKING:
    from dictamesh.api.context import ApiContext

__all__ = [
    "MASKED_HEADER",
    "REDACTED_HEADER",
    "GovernanceMiddleware",
    "check_readable",
    "entity_body",
    "events_body",
    "governance_router",
    "graph_body",
    "install_governance",
    "lineage_body",
    "page_body",
    "search_scope",
]

REDACTED_HEADER = "X-DictaMesh-Redacted"
"""Comma-separated paths of the fields a REST answer withheld (``email,items.card``)."""
MASKED_HEADER = "X-DictaMesh-Masked"
"""Comma-separated paths of the fields a REST answer served masked (``phone,first_name``)."""

_redacted: ContextVar[dict[str, None] | None] = ContextVar(
    "dictamesh_redacted_fields", default=None
)
_masked: ContextVar[dict[str, None] | None] = ContextVar("dictamesh_masked_fields", default=None)
_ENTITY_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_PURPOSE = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")
PURPOSE_HEADER = "X-DictaMesh-Purpose"
"""The default purpose header (``governance.consent.header``)."""


class GovernanceMiddleware:
    """Activates ``governance`` for each request or WebSocket and reports redactions."""

    def __init__(self, app: ASGIApp, governance: Governance) -> None:
        self.app = app
        self.governance = governance

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        websocket = scope["type"] == "websocket"
        redacted: dict[str, None] = {}
        masked: dict[str, None] = {}

        async def send_reporting(message: Message) -> None:
            if message["type"] == "http.response.start" and (redacted or masked):
                headers = MutableHeaders(raw=message["headers"])
                if redacted:
                    headers[REDACTED_HEADER] = ",".join(redacted)
                if masked:
                    headers[MASKED_HEADER] = ",".join(masked)
            await send(message)

        try:
            purpose = declared_purpose(self.governance, scope)
        except ValidationError as exc:
            if websocket:
                await send({"type": "websocket.close", "code": 1008})
                return
            response = error_response(exc.http_status, exc.code, exc.message, exc.details)
            await response(scope, receive, send)
            return
        governance_token = current_governance.set(self.governance)
        channel_token = current_channel.set(CHANNEL_SUBSCRIPTION if websocket else CHANNEL_GRAPHQL)
        redacted_token = _redacted.set(redacted)
        masked_token = _masked.set(masked)
        purpose_token = current_purpose.set(purpose)
        try:
            if websocket:  # a subscription reads consents afresh for every event it sends
                await self.app(scope, receive, send)
            else:
                with consent_scope():
                    await self.app(scope, receive, send_reporting)
        finally:
            current_purpose.reset(purpose_token)
            _masked.reset(masked_token)
            _redacted.reset(redacted_token)
            current_channel.reset(channel_token)
            current_governance.reset(governance_token)


def declared_purpose(governance: Governance, scope: Scope) -> str | None:
    """The purpose header's value (``governance.consent.header``); an unknown purpose is a
    typed 400 before anything is read."""
    consent = governance.consent
    name = (consent.settings.header if consent is not None else PURPOSE_HEADER).lower()
    raw = next(
        (v for k, v in scope.get("headers") or () if k.decode("latin-1").lower() == name), None
    )
    if raw is None:
        return None
    value: str = bytes(raw).decode("latin-1").strip()
    if consent is not None:
        return consent.check_purpose(value)
    if not _PURPOSE.match(value):
        raise ValidationError("malformed purpose", header=name)
    return value


def install_governance(app: FastAPI, ctx: ApiContext) -> Governance:
    """Enforce ``ctx.governance`` (default: the built-in policy, unaudited) on ``app`` and
    serve the governance routes."""
    governance = getattr(ctx, "governance", None)
    if not isinstance(governance, Governance):
        governance = Governance()
    app.add_middleware(GovernanceMiddleware, governance=governance)
    app.include_router(governance_router(ctx, governance))
    app.include_router(access_export_router(ctx, governance))
    return governance


# --- REST bodies ------------------------------------------------------------------------


def _governance(ctx: ApiContext) -> Governance | None:
    found = active_governance() or getattr(ctx, "governance", None)
    return found if isinstance(found, Governance) else None


async def _schema(ctx: ApiContext, entity_type: str) -> EntitySchema | None:
    """The entity type's current schema: the adapter's, else the catalog's."""
    schemas = ctx.registry.schemas()
    if entity_type in schemas:
        return schemas[entity_type]
    try:
        found = await ctx.catalog.get_schema(entity_type)
    except DictaMeshError:
        return None
    return found if isinstance(found, EntitySchema) else None


def _report(redactor: Redactor) -> None:
    reported = _redacted.get()
    if reported is not None:
        reported.update(dict.fromkeys(redactor.denied))
    masked = _masked.get()
    if masked is not None:
        masked.update(dict.fromkeys(redactor.masked))


async def _governed(
    ctx: ApiContext, entity_type: str, entity_id: str | None = None
) -> tuple[Redactor, EntitySchema] | None:
    governance = _governance(ctx)
    if governance is None:
        return None
    schema = await _schema(ctx, entity_type)
    if schema is None:  # nothing known about it is classified
        return None
    redactor = governance.redactor(current_principal.get(), channel=CHANNEL_REST)
    await redactor.check_entity(entity_type, schema.domain, entity_id)
    return redactor, schema


async def entity_body(
    ctx: ApiContext, entity_type: str, entity_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """``GET /entities/{type}/{id}``: the catalog snapshot's and the live record's
    attributes masked (denied fields ``null``); 403 when the entity type is denied."""
    governed = await _governed(ctx, entity_type, entity_id)
    if governed is None:
        return body
    redactor, schema = governed
    await redactor.prepare(entity_type, [entity_id])
    if isinstance(body.get("attributes"), dict):
        body["attributes"] = redactor.attributes(schema, body["attributes"], entity_id=entity_id)
    live = body.get("live")
    if isinstance(live, dict) and isinstance(live.get("attributes"), dict):
        live["attributes"] = redactor.attributes(schema, live["attributes"], entity_id=entity_id)
    await redactor.commit()
    _report(redactor)
    return body


async def page_body(ctx: ApiContext, entity_type: str, body: dict[str, Any]) -> dict[str, Any]:
    """``GET /entities/{type}``: every item's attributes masked."""
    governed = await _governed(ctx, entity_type)
    if governed is None:
        return body
    redactor, schema = governed
    items = [i for i in body.get("items") or () if isinstance(i, dict)]
    await redactor.prepare(entity_type, [i.get("id") for i in items])
    for item in body.get("items") or ():
        if isinstance(item, dict) and isinstance(item.get("attributes"), dict):
            item["attributes"] = redactor.attributes(
                schema, item["attributes"], entity_id=item.get("id")
            )
    await redactor.commit()
    _report(redactor)
    return body


async def events_body(
    ctx: ApiContext, entity_type: str, events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``GET /entities/{type}/{id}/events``: each event's ``before``/``after`` masked."""
    governed = await _governed(ctx, entity_type)
    if governed is None:
        return events
    redactor, schema = governed
    await redactor.prepare(entity_type, [r.get("entity_id") for r in events])
    out = []
    for record in events:
        payload = record.get("payload")
        if isinstance(payload, dict):
            record = {
                **record,
                "payload": redactor.event_payload(
                    schema, payload, entity_id=record.get("entity_id")
                ),
            }
        out.append(_changed_fields_shown(redactor, schema, record))
    await redactor.commit()
    _report(redactor)
    return out


def search_scope(ctx: ApiContext) -> SearchScope:
    """``GET /search``, ``/similar``: the caller's governance for :class:`SearchService`
    (hidden values neither match nor score, unreadable types are dropped before fusion)."""

    async def lookup(name: str) -> EntitySchema | None:
        return await _schema(ctx, name)

    return SearchScope(
        governance=_governance(ctx),
        principal=current_principal.get(),
        channel=CHANNEL_REST,
        lookup=lookup,
        known_types=list(ctx.registry.schemas()),
    )


def _changed_fields_shown(
    redactor: Redactor, schema: EntitySchema, record: dict[str, Any]
) -> dict[str, Any]:
    """``changed_fields`` (of the record and of its payload) without the fields the caller
    cannot read in clear: that a hidden value changed is data about it."""

    def shown(names: list[Any]) -> list[Any]:
        return visible_changed_fields(
            redactor.governance, redactor.principal, schema, names, channel=CHANNEL_REST
        )[0]

    if isinstance(record.get("changed_fields"), list):
        record = {**record, "changed_fields": shown(record["changed_fields"])}
    payload = record.get("payload")
    if isinstance(payload, dict) and isinstance(payload.get("changed_fields"), list):
        record["payload"] = {**payload, "changed_fields": shown(payload["changed_fields"])}
    return record


def _type_access(ctx: ApiContext, governance: Governance) -> TypeAccess:
    async def lookup(entity_type: str) -> EntitySchema | None:
        return await _schema(ctx, entity_type)

    return TypeAccess(governance, current_principal.get(), lookup)


async def check_readable(ctx: ApiContext, entity_type: str, entity_id: str | None = None) -> None:
    """403 ``FORBIDDEN`` (audited) when the caller may not read ``entity_type`` at all —
    asked before the catalog, so a denied type's graph or lineage is not even looked up
    (its 404s would tell which ids exist)."""
    governance = _governance(ctx)
    if governance is None:
        return
    access = _type_access(ctx, governance)
    await governance.check_entity(
        access.principal,
        entity_type,
        await access.domain(entity_type),
        channel=CHANNEL_REST,
        entity_id=entity_id,
    )


async def readable_types(ctx: ApiContext, entity_types: Iterable[str]) -> set[str]:
    """Those of ``entity_types`` the caller may read (no audit: for listings that leave
    the others out rather than refuse)."""
    governance = _governance(ctx)
    if governance is None:
        return set(entity_types)
    access = _type_access(ctx, governance)
    return {t for t in entity_types if await access.readable(t)}


def _ref(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict) and "type" in value and "id" in value:
        return str(value["type"]), str(value["id"])
    return None


async def graph_body(
    ctx: ApiContext,
    entity_type: str,
    entity_id: str,
    body: dict[str, Any],
    *,
    direction: str,
    max_depth: int,
) -> dict[str, Any]:
    """``GET /entities/{type}/{id}/graph`` (after :func:`check_readable`): nodes of types
    the caller may not read, the nodes reachable only through them and the edges touching
    them are left out; ``withheld_nodes`` counts the nodes (not audited: no values)."""
    governance = _governance(ctx)
    nodes = [n for n in body.get("nodes") or () if isinstance(n, dict)]
    edges = [e for e in body.get("edges") or () if isinstance(e, dict)]
    if governance is None:
        body["withheld_nodes"] = 0
        return body
    depths: dict[tuple[str, str], int] = {}
    for node in nodes:
        key = _ref(node)
        if key is not None:
            depths[key] = int(node.get("depth") or 0)
    pairs = [(_ref(e.get("subject")), _ref(e.get("object"))) for e in edges]
    view = await visible_graph(
        _type_access(ctx, governance),
        (entity_type, entity_id),
        depths,
        [(s, o) for s, o in pairs if s is not None and o is not None],
        direction=direction,
        max_depth=max_depth,
    )
    if view.withheld:
        kept = []
        for node in nodes:
            key = _ref(node)
            if key is not None and view.shows(key):
                if "depth" in node:
                    node["depth"] = view.depths[key]
                kept.append(node)
        body["nodes"] = kept
        body["edges"] = [
            e
            for e, (s, o) in zip(edges, pairs, strict=True)
            if s is not None and o is not None and view.shows_edge(s, o)
        ]
    body["withheld_nodes"] = view.withheld
    return body


def _lineage_parts(record: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str | None]]:
    datasets = []
    for side in ("upstream", "downstream"):
        ref = record.get(side)
        if isinstance(ref, dict):
            datasets.append((str(ref.get("namespace")), str(ref.get("name"))))
    types = []
    for side in ("upstream_entity", "downstream_entity"):
        ref = record.get(side)
        types.append(str(ref.get("type")) if isinstance(ref, dict) else None)
    return datasets, types


async def lineage_body(ctx: ApiContext, body: dict[str, Any]) -> dict[str, Any]:
    """``GET /lineage/{type}[/{id}]`` (after :func:`check_readable`): flows naming an
    entity or a data product of a type the caller may not read are left out;
    ``withheld_edges`` counts them."""
    governance = _governance(ctx)
    withheld = 0
    if governance is not None:
        access = _type_access(ctx, governance)
        for side in ("upstream", "downstream"):
            records = body.get(side)
            if not isinstance(records, list):
                continue
            kept = []
            for record in records:
                datasets, types = _lineage_parts(record) if isinstance(record, dict) else ([], [])
                if await visible_flow(access, datasets, types):
                    kept.append(record)
                else:
                    withheld += 1
            body[side] = kept
    body["withheld_edges"] = withheld
    return body


# --- the governance API -----------------------------------------------------------------


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity_type: str = Field(min_length=1, max_length=63)
    entity_id: str = Field(min_length=1)


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _principal_json(principal: Principal | None) -> dict[str, Any] | None:
    if principal is None:
        return None
    return {"subject": principal.subject, "roles": sorted(principal.roles)}


@dataclasses.dataclass(frozen=True)
class _Someone:
    """A principal to explain a decision for (``policy/explain`` with ``subject``)."""

    subject: str
    roles: tuple[str, ...]
    tenant: str | None
    claims: dict[str, Any]


def governance_router(ctx: ApiContext, governance: Governance) -> APIRouter:
    """``/api/v1/governance``: the audit log, erasure and policy explanations."""
    router = APIRouter(prefix="/api/v1/governance", tags=["governance"])

    def audit_log() -> AuditLog | None:
        if governance.audit_log is not None:
            return governance.audit_log
        if isinstance(ctx.catalog, CatalogService):
            return AuditLog(ctx.catalog)
        return None

    async def require_admin(entity_type: str | None = None, domain: str | None = None) -> Decision:
        principal = current_principal.get()
        resource = Resource(entity_type or "*", domain, tenant=tenant_id())
        decision = governance.decide(principal, Action.ADMIN, resource)
        if not decision.allowed:
            await governance.record([governance.entry(decision, principal, channel=CHANNEL_REST)])
            raise PermissionDenied("not allowed: the governance API needs the admin action")
        return decision

    def unavailable(what: str) -> Any:
        return error_response(
            501, "NOT_IMPLEMENTED", f"{what} needs the node's catalog database (CatalogService)"
        )

    async def flush_audit() -> None:
        # What this node saw so far is in the answer.
        flush = getattr(governance.audit_sink, "flush", None)
        if flush is not None:
            await flush()

    @router.get("/audit")
    async def audit(
        subject: Annotated[str | None, Query(max_length=255)] = None,
        entity_type: Annotated[str | None, Query(max_length=63)] = None,
        entity_id: Annotated[str | None, Query(max_length=512)] = None,
        decision: Annotated[str | None, Query(description="allow | deny")] = None,
        since: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
        until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_QUERY_LIMIT)] = 100,
        before_id: Annotated[
            int | None, Query(ge=1, le=MAX_STORED_INT, description="next page")
        ] = None,
    ) -> Any:
        """Audit rows of the caller's tenant, newest first (admin)."""
        await require_admin(entity_type)
        log = audit_log()
        if log is None:
            return unavailable("the audit log")
        await flush_audit()
        rows = await log.query(
            subject=subject,
            entity_type=entity_type,
            entity_id=entity_id,
            decision=decision,
            since=_utc(since),
            until=_utc(until),
            limit=limit,
            before_id=before_id,
        )
        return {
            "entries": [r.to_dict() for r in rows],
            "next_before_id": rows[-1].id if len(rows) == limit else None,
        }

    @router.get("/audit/summary")
    async def audit_summary(
        since: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
        until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
    ) -> Any:
        """Accesses per subject, entity type, classification and decision (admin)."""
        await require_admin()
        log = audit_log()
        if log is None:
            return unavailable("the audit log")
        await flush_audit()
        return {"summary": await log.summary(since=_utc(since), until=_utc(until))}

    @router.post("/erasure")
    async def erasure(request: ErasureRequest) -> Any:
        """Erase an entity's personal data from the mesh (admin; see docs/governance.md)."""
        if not _ENTITY_TYPE.match(request.entity_type):
            raise ValidationError("entity_type must be a lower-case name")
        try:
            entity_id = validate_entity_id(request.entity_id)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        schema = await _schema(ctx, request.entity_type)
        decision = await require_admin(
            request.entity_type, schema.domain if schema is not None else None
        )
        if not isinstance(ctx.catalog, CatalogService):
            return unavailable("erasure")
        report = await erase_entity(
            ctx.catalog, governance.publisher, EntityRef.from_input(request.entity_type, entity_id)
        )
        published = governance.publisher is not None
        log = audit_log()
        if governance.audit_sink is not None and log is not None:
            note = dataclasses.replace(
                decision,
                reason=f"erasure: snapshot emptied, {report.event_log_rows_scrubbed} event"
                f" payloads scrubbed, DELETED event {'published' if published else 'not sent'}",
            )
            entry = governance.entry(
                note, current_principal.get(), channel=CHANNEL_REST, entity_id=entity_id
            )
            await log.record([entry])  # written now: the erasure must be provable
        return {
            "entity_type": report.ref.type,
            "entity_id": report.ref.id,
            "tenant": report.tenant,
            "version": report.version,
            "event_id": report.event_id,
            "event_log_rows_scrubbed": report.event_log_rows_scrubbed,
            "cache_rows_removed": report.cache_rows_removed,
            "published": published,
        }

    @router.get("/policy/explain")
    async def explain(
        action: Annotated[str, Query(description="read | read_unmasked | subscribe | admin")],
        entity_type: Annotated[str, Query(max_length=63)],
        field: Annotated[str | None, Query(max_length=255)] = None,
        tag: Annotated[str | None, Query(description="the field's classification")] = None,
        domain: Annotated[str | None, Query(max_length=63)] = None,
        subject: Annotated[str | None, Query(max_length=255, description="admin only")] = None,
        roles: Annotated[str | None, Query(description="comma-separated; admin only")] = None,
        tenant: Annotated[str | None, Query(max_length=255, description="admin only")] = None,
    ) -> Any:
        """How the policy decides an access: for the caller, or (admin) for ``subject``.
        Admins also see every rule, matched or skipped with the reason."""
        try:
            act = Action(action)
        except ValueError:
            raise ValidationError(
                f"action must be one of {', '.join(a.value for a in Action)}"
            ) from None
        classification = Classification.PUBLIC
        if tag is not None:
            try:
                classification = Classification(tag)
            except ValueError:
                raise ValidationError(
                    f"tag must be one of {', '.join(c.value for c in Classification)}"
                ) from None
        caller = current_principal.get()
        admin = governance.decide(caller, Action.ADMIN, Resource("*", tenant=tenant_id())).allowed
        who: Any = caller
        if subject is not None or roles is not None or tenant is not None:
            if not admin:
                raise PermissionDenied("explaining another principal's access needs admin")
            split = tuple(r.strip() for r in (roles or "").split(",") if r.strip())
            who = None if subject is None else _Someone(subject, split, tenant, {})
        resource = Resource(entity_type, domain, field, classification, tenant_id())
        decision = governance.policy.decide(who, act, resource)
        body: dict[str, Any] = {
            "allowed": decision.allowed,
            "action": act.value,
            "mask": decision.mask.value if decision.allowed and resource.classified else None,
            "reason": decision.reason,
            "deciding_rules": list(decision.deciding_rules),
            "principal": _principal_json(caller) if who is caller else {"subject": subject},
        }
        if admin:
            body["trace"] = [
                {"rule": t.rule_id, "matched": t.matched, "reason": t.reason}
                for t in decision.trace
            ]
        return body

    return router
