"""The node's OpenAPI 3.1 document, as the API really behaves.

FastAPI's own document says every route may answer 422 ``HTTPValidationError``; this node
answers bad parameters with 400 in its error envelope (:mod:`dictamesh.api.errors`), and
the schema registry in Confluent's. :func:`openapi_document` starts from FastAPI's
document and states, per operation:

* the success body (the models of :mod:`dictamesh.api.responses`);
* the error statuses the node returns there, each with its envelope: 400 (the edge's text
  check, bad parameters; every route), 401/403 (auth on, path not public; 403 also from
  the access policy and governance), 404 (a path naming something), 409 (state
  conflicts), 413 (bodies over ``api.max_body_bytes``), 429 (tenant quotas), 500, 502/503
  (a source, the catalog or the identity provider down);
* ``security`` from ``auth``: a bearer JWT and/or an API key (``X-API-Key`` or
  ``Authorization: ApiKey <key>``), optional when ``auth.mode`` is ``optional``;
* an ``operationId`` in camelCase named after what the operation does (:func:`operation_id`).

``tests/unit/api/test_openapi_live.py`` sends bad input to every documented operation of
a live node and checks the answer's status is declared.

Example::

    app = FastAPI(generate_unique_id_function=operation_id)
    app.openapi = lambda: openapi_document(app, ctx)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from dictamesh.api.ops_responses import (
    AdapterStatus,
    AdapterStatusList,
    DeadLetterPage,
    DeadLetterTopicList,
    SchemaDiff,
    SchemaSubjectList,
)
from dictamesh.api.responses import (
    AdapterList,
    CacheSummary,
    EntityCacheStatus,
    EntityEventList,
    EntityGraph,
    EntityLineage,
    EntityPage,
    EntityRecord,
    ErrorResponse,
    Health,
    InboxPage,
    MarkedRead,
    OutboxDepth,
    OutboxMessage,
    OutboxPage,
    Readiness,
    RecipientPreferences,
    RegistryErrorResponse,
    SagaAccepted,
    SagaDetail,
    SagaList,
    SagaState,
    SchemaList,
    SearchResults,
    SimilarEntities,
    WebhookAccepted,
)
from dictamesh.api.sagas import SAGAS_PATH
from dictamesh.auth.authenticator import Authenticator
from dictamesh.auth.policy import path_matches
from dictamesh.catalog.registry_api import REGISTRY_PREFIX
from dictamesh.core.models import EntitySchema
from dictamesh.core.settings import AuthSettings, QuotaSettings
from dictamesh.tenancy.quotas import TenantQuotas

if TYPE_CHECKING:
    from dictamesh.api.context import ApiContext

__all__ = ["API_KEY_SCHEME", "BEARER_SCHEME", "openapi_document", "operation_id"]

BEARER_SCHEME = "bearerAuth"
API_KEY_SCHEME = "apiKeyAuth"
OPENAPI_VERSION = "3.1.0"

#: names where the handler's own would say too little (``audit``) or read oddly
_NAMES = {
    "get_entity": "getEntity",
    "get_graph": "getEntityGraph",
    "get_events": "listEntityEvents",
    "search": "searchCatalog",
    "similar": "listSimilarEntities",
    "get_type_lineage": "getTypeLineage",
    "get_entity_lineage": "getEntityLineage",
    "get_schema": "getEntitySchema",
    "list_schemas": "listEntitySchemas",
    "webhook": "receiveWebhook",
    "health": "getHealth",
    "ready": "getReadiness",
    "entity_cache": "getEntityCacheStatus",
    "cache_summary": "getCacheSummary",
    "audit": "listAuditRecords",
    "audit_summary": "getAuditSummary",
    "erasure": "requestErasure",
    "explain": "explainPolicy",
    "list_inbox": "listInbox",
    "mark_read": "markInboxRead",
    "mark_one_read": "markInboxMessageRead",
    "get_preferences": "getNotificationPreferences",
    "put_preferences": "putNotificationPreferences",
    "list_notifications": "listOutboxMessages",
    "outbox": "getOutboxSummary",
    "get_notification": "getOutboxMessage",
    "retry_notification": "retryOutboxMessage",
}

#: success bodies of the routes whose handlers build their answer themselves
_BODIES: dict[str, type[BaseModel]] = {
    "getEntity": EntityRecord,
    "listEntities": EntityPage,
    "getEntityGraph": EntityGraph,
    "listEntityEvents": EntityEventList,
    "searchCatalog": SearchResults,
    "listSimilarEntities": SimilarEntities,
    "getTypeLineage": EntityLineage,
    "getEntityLineage": EntityLineage,
    "listEntitySchemas": SchemaList,
    "getEntitySchema": EntitySchema,
    "listAdapters": AdapterList,
    "receiveWebhook": WebhookAccepted,
    "getHealth": Health,
    "getReadiness": Readiness,
    "getEntityCacheStatus": EntityCacheStatus,
    "getCacheSummary": CacheSummary,
    "getSaga": SagaDetail,
    "listSagas": SagaList,
    "retrySaga": SagaState,
    "abortSaga": SagaState,
    "listInbox": InboxPage,
    "markInboxRead": MarkedRead,
    "markInboxMessageRead": MarkedRead,
    "getNotificationPreferences": RecipientPreferences,
    "putNotificationPreferences": RecipientPreferences,
    "listOutboxMessages": OutboxPage,
    "getOutboxSummary": OutboxDepth,
    "getOutboxMessage": OutboxMessage,
    # the operations pages' reads (api/adapter_routes.py, dlq_routes.py, schema_routes.py)
    "getAdapterStatus": AdapterStatus,
    "listAdapterStatuses": AdapterStatusList,
    "listDeadLetterTopics": DeadLetterTopicList,
    "listDeadLetters": DeadLetterPage,
    "listSchemaSubjects": SchemaSubjectList,
    "diffSchemaVersions": SchemaDiff,
}

#: statuses beyond the rules of the module docs, by operationId
_EXTRA: dict[str, set[int]] = {
    "getEntity": {502, 503},  # live=true reads the source (a failed read is in the body)
    "listEntities": {502, 503},
    "receiveWebhook": {401, 413, 502, 503},  # signature; the adapter re-fetches
    "getReadiness": {503},
    "retrySaga": {409},
    "abortSaga": {409},
    "retryOutboxMessage": {409},
    "registryRegister": {409},
    "registryCompatibleWithVersion": {409},
    "registryCompatibleWithSubject": {409},
    "listAuditRecords": {501},
    "getAuditSummary": {501},
    "requestErasure": {501},
    "diffSchemaVersions": {422},  # INVALID_VERSION_RANGE
}
#: the caller's own inbox needs a signed-in caller even with auth off
_SIGNED_IN = ("/api/v1/notifications",)

_DESCRIPTIONS = {
    "400": "Bad request: invalid parameters, body or text (the details say which)",
    "401": "Unauthenticated: no or invalid credentials (`WWW-Authenticate` says why)",
    "403": "Forbidden: the access policy or governance does not allow it",
    "404": "Not found",
    "409": "Conflict with the current state",
    "413": "Request body over the node's limit",
    "415": "Unsupported media type",
    "422": "Unprocessable: an invalid schema or request (schema registry), an Idempotency-Key"
    " reused with another body (sagas), two schema versions that cannot be compared",
    "429": "Tenant quota used up (`Retry-After` says when to retry)",
    "500": "Internal error (no details; the node logs them)",
    "501": "Not available on this node's catalog",
    "502": "The source answered wrongly",
    "503": "A dependency is unavailable: a source, the catalog, the identity provider",
}

_TAGS = [
    {"name": "entities", "description": "Data products: entities read from their sources"},
    {"name": "catalog", "description": "The metadata catalog: graph, events, lineage, search"},
    {"name": "schemas", "description": "Entity schemas of the data products"},
    {"name": "adapters", "description": "The adapters serving data products on this node"},
    {"name": "sagas", "description": "Durable sagas (docs/sagas.md)"},
    {"name": "notifications", "description": "Inbox, preferences, outbox"},
    {"name": "governance", "description": "Audit, erasure, policy explanations"},
    {"name": "admin", "description": "Operator actions (admin role)"},
    {"name": "dlq", "description": "Dead-letter topics (admin role)"},
    {"name": "webhooks", "description": "Change notifications from sources"},
    {"name": "ops", "description": "Liveness and readiness"},
    {"name": "schema registry", "description": "Confluent-compatible schema registry"},
]


def operation_id(route: APIRoute) -> str:
    """A unique camelCase ``operationId`` naming what ``route`` does (``getEntityGraph``);
    schema-registry routes are prefixed ``registry``."""
    if route.path.startswith(REGISTRY_PREFIX):
        return _camel(f"registry_{route.name}")
    return _NAMES.get(route.name) or _camel(route.name)


def _camel(name: str) -> str:
    head, *rest = [w for w in re.split(r"[^0-9A-Za-z]+", name) if w]
    return head.lower() + "".join(w[:1].upper() + w[1:] for w in rest)


def openapi_document(app: FastAPI, ctx: ApiContext) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app`` (built by ``create_app(ctx)``), as it behaves."""
    doc = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=OPENAPI_VERSION,
        description=app.description,
        routes=app.routes,
        tags=_TAGS,
    )
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)  # FastAPI's 422 body: never sent
    models: list[type[BaseModel]] = [ErrorResponse, RegistryErrorResponse, SagaAccepted, SagaDetail]
    _add_models(schemas, [*models, *_BODIES.values()])
    auth = _auth_settings(ctx.auth)
    doc["components"]["securitySchemes"] = _security_schemes()
    quotas = _quota_settings(ctx.quotas)
    for path, operations in doc.get("paths", {}).items():
        for method, op in operations.items():
            _describe(op, method, path, auth=auth, quotas=quotas, body_cap=ctx.api.max_body_bytes)
    return doc


def _describe(
    op: dict[str, Any],
    method: str,
    path: str,
    *,
    auth: AuthSettings | None,
    quotas: QuotaSettings | None,
    body_cap: int,
) -> None:
    registry = path.startswith(REGISTRY_PREFIX)
    responses: dict[str, Any] = op.setdefault("responses", {})
    if not registry:
        responses.pop("422", None)
    body = _BODIES.get(op["operationId"])
    success = next((s for s in responses if s.startswith("2")), "200")
    if body is not None:
        ok = responses.setdefault(success, {"description": "Successful Response"})
        ok["content"] = _json_ref(body)
    statuses = {400, 500, *_EXTRA.get(op["operationId"], ())}
    if method == "post" and path.startswith(SAGAS_PATH + "/"):  # one route per saga
        responses["202"]["content"] = _json_ref(SagaAccepted)
        responses["200"] = {
            "description": "The saga of this Idempotency-Key, or one that ended within the"
            " `Prefer: wait`",
            "content": _json_ref(SagaDetail),
        }
        statuses.add(422)  # IDEMPOTENCY_KEY_REUSED
    if any(p.get("in") == "path" for p in op.get("parameters", ())):
        statuses.add(404)
    # some routes read their body themselves (no requestBody here); the cap applies to all
    has_body = "requestBody" in op or method in ("post", "put", "patch")
    if has_body and body_cap > 0:
        statuses.add(413)
    if path.startswith("/api/v1"):
        statuses |= {403, 503}  # access rules and governance; the catalog may be down
    if registry:
        statuses |= {404, 422, 503}
        if has_body:
            statuses.add(415)
    if any(path_matches(path, p) for p in _SIGNED_IN):
        statuses.add(401)
    if auth is not None and not any(path_matches(path, p) for p in auth.public_paths):
        statuses |= {401, 403}
        if auth.jwks_url:
            statuses.add(503)  # the identity provider's keys cannot be fetched
        op["security"] = _requirements(auth)
    if quotas is not None and not any(path_matches(path, p) for p in quotas.exempt_paths):
        statuses.add(429)
    envelope = RegistryErrorResponse if registry else ErrorResponse
    for status in sorted(statuses):
        key = str(status)
        if status < 400:
            continue  # a declared success (202) already has its body
        responses[key] = {
            "description": _DESCRIPTIONS.get(key, "Error"),
            "content": _json_ref(envelope),
        }


def _json_ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}


def _add_models(schemas: dict[str, Any], models: Iterable[type[BaseModel]]) -> None:
    _, defs = models_json_schema(
        [(m, "serialization") for m in models], ref_template="#/components/schemas/{model}"
    )
    for name, schema in defs.get("$defs", {}).items():
        schemas.setdefault(name, schema)


def _auth_settings(auth: AuthSettings | Authenticator | None) -> AuthSettings | None:
    settings = auth.settings if isinstance(auth, Authenticator) else auth
    return None if settings is None or settings.mode == "off" else settings


def _quota_settings(quotas: TenantQuotas | QuotaSettings | None) -> QuotaSettings | None:
    return quotas.settings if isinstance(quotas, TenantQuotas) else quotas


def _security_schemes() -> dict[str, Any]:
    """What the node accepts (``auth/credentials.py``); required only where ``security``
    says so (nothing is checked while ``auth.mode`` is ``off``)."""
    return {
        BEARER_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A JWT: HS256 with auth.jwt_secret, or RS*/ES*/PS* from auth.jwks_url",
        },
        API_KEY_SCHEME: {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "A key of auth.api_keys (or sent as `Authorization: ApiKey <key>`)",
        },
    }


def _requirements(auth: AuthSettings) -> list[dict[str, list[str]]]:
    accepted: list[dict[str, list[str]]] = []
    if auth.jwt_secret is not None or auth.jwks_url:
        accepted.append({BEARER_SCHEME: []})
    if auth.api_keys:
        accepted.append({API_KEY_SCHEME: []})
    if auth.mode == "optional":
        accepted.append({})  # anonymous callers get what the access rules allow them
    return accepted
