"""A Confluent-compatible Schema Registry REST API (v1) served from the catalog.

Schemas live in the catalog (``dictamesh_schemas``, ``dictamesh_schema_config``), so Kafka
tooling and Confluent's own clients (``SchemaRegistryClient``, ``AvroSerializer``, Kafka
Connect, ksqlDB ...) use the catalog as their schema registry: point them at
``http://<node>/schema-registry``.

* AVRO schemas only: they are validated with fastavro and checked with Avro's schema
  resolution rules (:mod:`dictamesh.catalog.schemas`); JSON and PROTOBUF are refused with
  42201 (this registry cannot check them). Schema references, metadata and rule sets are
  refused too.
* Errors have Confluent's shape, ``{"error_code": 40401, "message": "..."}``, on every
  route of this router (also unknown routes and wrong methods under its prefix).
* The catalog's own ``DICTAMESH`` entity schemas share the table but are not part of
  this view.

Example::

    app.include_router(registry_router(catalog))          # under /schema-registry
    SchemaRegistryClient({"url": "http://127.0.0.1:8000/schema-registry"})
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.routing import Match

from dictamesh.catalog._avro_limits import AvroLimits
from dictamesh.catalog._registry_check import check_in_worker, off_loop, start_workers
from dictamesh.catalog.avro_registry import register_avro
from dictamesh.catalog.records import Compatibility, StoredSchema
from dictamesh.catalog.schemas import (
    InvalidAvroSchema,
    normalize_avro_schema,
    validate_avro_schema,
)
from dictamesh.catalog.service import CatalogService, canonical_schema_text
from dictamesh.core.errors import (
    CatalogError,
    DictaMeshError,
    NotFoundError,
    SchemaCompatibilityError,
    ValidationError,
)
from dictamesh.core.inputs import InvalidInput, parse_json

__all__ = [
    "REGISTRY_CONTENT_TYPE",
    "REGISTRY_PREFIX",
    "REGISTRY_SCHEMA_TYPES",
    "AvroLimits",
    "RegistryError",
    "registry_router",
]

logger = logging.getLogger("dictamesh.api.schema_registry")

REGISTRY_PREFIX = "/schema-registry"
REGISTRY_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
#: the schema types this view shows (DICTAMESH entity schemas are the catalog's own)
REGISTRY_SCHEMA_TYPES = ("AVRO", "JSON", "PROTOBUF")
#: the types that can be registered and checked
SUPPORTED_SCHEMA_TYPES = ("AVRO",)
_REQUEST_MEDIA_TYPES = frozenset(
    {
        "application/vnd.schemaregistry.v1+json",
        "application/vnd.schemaregistry+json",
        "application/json",
        "application/octet-stream",
    }
)
_MAX_VERSION = 2**31 - 1
#: ids are 4 bytes in Confluent's wire format: no larger id can exist
_MAX_SCHEMA_ID = 2**31 - 1
_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


class RegistryError(Exception):
    """An answer in Confluent's error format: HTTP ``status``, ``error_code``, ``message``."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


def _subject_not_found(subject: str) -> RegistryError:
    return RegistryError(404, 40401, f"Subject '{subject}' not found.")


def _version_not_found(version: int | str) -> RegistryError:
    return RegistryError(404, 40402, f"Version {version} not found.")


def _schema_not_found(what: str = "Schema not found") -> RegistryError:
    return RegistryError(404, 40403, what)


def _invalid_schema(message: str) -> RegistryError:
    return RegistryError(422, 42201, message)


def _invalid_version(raw: str) -> RegistryError:
    return RegistryError(
        422,
        42202,
        f"The specified version '{raw}' is not a valid version id. Allowed values are between"
        ' [1, 2^31-1] and the string "latest"',
    )


def _no_subject_config(subject: str) -> RegistryError:
    return RegistryError(
        404, 40408, f"Subject '{subject}' does not have subject-level compatibility configured"
    )


def _respond(content: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(content, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        media_type=REGISTRY_CONTENT_TYPE,
    )


def _error(status: int, error_code: int, message: str) -> Response:
    return _respond({"error_code": error_code, "message": message}, status)


class _RegistryRoute(APIRoute):
    """Turns every failure of a registry route into a Confluent error body (the app's own
    handlers, with their ``{"error": ...}`` shape, never see them)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RegistryError as exc:
                return _error(exc.status, exc.error_code, exc.message)
            except InvalidAvroSchema as exc:  # also SchemaTooComplex from a bounded check
                return _error(422, 42201, f"Invalid schema: {exc}")
            except RequestValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                    for e in exc.errors()
                )
                return _error(422, 422, f"Invalid request: {problems}")
            except NotFoundError as exc:
                return _error(404, 404, exc.message)
            except ValidationError as exc:
                return _error(422, 422, exc.message)
            except CatalogError as exc:
                logger.warning("%s %s failed: %s", request.method, request.url.path, exc.message)
                return _error(500, 50001, f"Error in the backend data store: {exc.message}")
            except DictaMeshError as exc:
                return _error(exc.http_status, exc.http_status, exc.message)
            except Exception:
                logger.exception("unhandled error on %s %s", request.method, request.url.path)
                return _error(500, 500, "Internal Server Error")

        return route


# --- request parsing ---------------------------------------------------------------------


async def _json_body(request: Request) -> dict[str, Any]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media and media not in _REQUEST_MEDIA_TYPES:
        raise RegistryError(415, 415, f"HTTP 415 Unsupported Media Type: {media}")
    raw = await request.body()
    try:
        # nesting and text (no NUL, no lone surrogate) checked like every other edge
        body = parse_json(raw, "the request body") if raw.strip() else {}
    except InvalidInput as exc:
        raise RegistryError(400, 400, f"Malformed JSON request body: {exc.message}") from None
    if not isinstance(body, dict):
        raise RegistryError(422, 422, "the request body must be a JSON object")
    return body


async def _schema_of(request: Request, limits: AvroLimits, *, normalize: bool) -> tuple[str, str]:
    """:func:`_schema_from` of the request's body, validated in a worker thread: parsing a
    schema up to the size bound takes time the event loop must not spend."""
    body = await _json_body(request)
    return await off_loop(_schema_from, body, normalize=normalize, limits=limits)


def _schema_from(
    body: dict[str, Any], *, normalize: bool, limits: AvroLimits | None = None
) -> tuple[str, str]:
    """``(schema type, schema text)`` of a register/lookup/compatibility request body."""
    limits = limits or AvroLimits()
    text = body.get("schema")
    if not isinstance(text, str) or not text.strip():
        raise _invalid_schema("Invalid schema: 'schema' must be a non-empty string")
    schema_type = body.get("schemaType") or "AVRO"
    if not isinstance(schema_type, str) or schema_type.upper() not in REGISTRY_SCHEMA_TYPES:
        raise _invalid_schema(f"Invalid schema type {schema_type!r}")
    schema_type = schema_type.upper()
    if schema_type not in SUPPORTED_SCHEMA_TYPES:
        raise _invalid_schema(
            f"Schema type {schema_type} is not supported by this registry: it can only check"
            " AVRO schemas"
        )
    if body.get("references"):
        raise _invalid_schema("Schema references are not supported by this registry")
    if body.get("metadata") or body.get("ruleSet"):
        raise _invalid_schema("Schema metadata and rule sets are not supported by this registry")
    try:
        validate_avro_schema(text, limits)
    except InvalidAvroSchema as exc:
        raise _invalid_schema(f"Invalid schema: {exc}") from exc
    return schema_type, normalize_avro_schema(text, limits) if normalize else text


def _version(raw: str) -> int | None:
    """A version number, or None for the latest (``latest`` or ``-1``)."""
    if raw == "latest":
        return None
    try:
        version = int(raw)
    except ValueError:
        raise _invalid_version(raw) from None
    if version == -1:
        return None
    if not 1 <= version <= _MAX_VERSION:
        raise _invalid_version(raw)
    return version


def _schema_id(raw: str) -> int:
    try:
        schema_id = int(raw)
    except ValueError:
        raise _schema_not_found(f"Schema {raw} not found") from None
    if not 1 <= schema_id <= _MAX_SCHEMA_ID:  # never sent to the database (it may not fit)
        raise _schema_not_found(f"Schema {raw} not found")
    return schema_id


def _compatibility(body: dict[str, Any]) -> Compatibility:
    level = body.get("compatibility", body.get("compatibilityLevel"))
    try:
        # (a missing level must not become the string "None", a valid level)
        return Compatibility(level.upper() if isinstance(level, str) else "")
    except ValueError:
        raise RegistryError(
            422,
            42203,
            "Invalid compatibility level. Valid values are none, backward, forward, full,"
            " backward_transitive, forward_transitive, and full_transitive",
        ) from None


# --- answers -----------------------------------------------------------------------------


def _typed(body: dict[str, Any], row: StoredSchema) -> dict[str, Any]:
    # Confluent leaves schemaType out for AVRO, the default.
    if row.schema_type != "AVRO":
        body["schemaType"] = row.schema_type
    return body


def _version_body(row: StoredSchema) -> dict[str, Any]:
    return _typed(
        {"subject": row.subject, "version": row.version, "id": row.id, "schema": row.schema_text},
        row,
    )


def _raw_schema(row: StoredSchema) -> Response:
    try:
        return _respond(json.loads(row.schema_text))
    except ValueError:  # not JSON (a protobuf text): as it is
        return Response(row.schema_text, media_type="text/plain")


def _incompatible_message(subject: str, exc: SchemaCompatibilityError) -> str:
    reasons = [str(r) for r in exc.details.get("reasons", [])]
    versions = exc.details.get("versions", [])
    level = exc.details.get("compatibility", "")
    return (
        f'Schema being registered is incompatible with an earlier schema for subject "{subject}",'
        f" details: [{', '.join(reasons)}, {{oldSchemaVersions: {versions}}},"
        f" {{compatibility: '{level}'}}]"
    )


# --- the router ----------------------------------------------------------------------------


def registry_router(
    catalog: CatalogService,
    *,
    prefix: str = REGISTRY_PREFIX,
    limits: AvroLimits | None = None,
) -> APIRouter:
    """The Schema Registry API over ``catalog``, under ``prefix`` (the registry URL's path)."""
    router = APIRouter(prefix=prefix, route_class=_RegistryRoute, tags=["schema registry"])
    types = REGISTRY_SCHEMA_TYPES
    bounds = limits or AvroLimits()  # size, nesting, unions, check time (docs/security.md)
    start_workers()  # compatibility checks run in worker processes, ready before the first

    async def subject_rows(subject: str, *, deleted: bool) -> list[StoredSchema]:
        """The subject's versions (``deleted``: soft-deleted too); 40401 if there are none."""
        rows = await catalog.list_schemas(subject, deleted=deleted, schema_types=types)
        if not rows:
            raise _subject_not_found(subject)
        return rows

    async def find_version(subject: str, raw: str, *, deleted: bool) -> StoredSchema:
        version = _version(raw)
        rows = await subject_rows(subject, deleted=deleted)
        if version is None:
            live = [r for r in rows if not r.deleted]
            return (live or rows)[-1]
        row = next((r for r in rows if r.version == version), None)
        if row is None:
            raise _version_not_found(version)
        return row

    # -- root, types, modes, contexts ---------------------------------------------------

    async def root() -> Response:
        return _respond({})

    router.add_api_route("/", root, methods=["GET"])
    if prefix:
        router.add_api_route("", root, methods=["GET"], include_in_schema=False)

    @router.get("/schemas/types")
    async def schema_types() -> Response:
        return _respond(list(SUPPORTED_SCHEMA_TYPES))

    @router.get("/mode")
    async def global_mode() -> Response:
        return _respond({"mode": "READWRITE"})

    @router.get("/mode/{subject}")
    async def subject_mode(subject: str) -> Response:
        return _respond({"mode": "READWRITE"})

    @router.get("/contexts")
    async def contexts() -> Response:
        return _respond(["."])

    # -- subjects --------------------------------------------------------------------------

    @router.get("/subjects")
    async def list_subjects(
        deleted: bool = False,
        deleted_only: bool = False,
        deletedOnly: bool = False,
        subjectPrefix: str = "",
    ) -> Response:
        if deleted_only or deletedOnly:
            live = set(await catalog.list_subjects(schema_types=types))
            subjects = [
                s
                for s in await catalog.list_subjects(deleted=True, schema_types=types)
                if s not in live
            ]
        else:
            subjects = await catalog.list_subjects(deleted=deleted, schema_types=types)
        return _respond([s for s in subjects if s.startswith(subjectPrefix)])

    @router.get("/subjects/{subject}/versions")
    async def list_versions(
        subject: str,
        deleted: bool = False,
        deleted_only: bool = False,
        deletedOnly: bool = False,
    ) -> Response:
        only_deleted = deleted_only or deletedOnly
        rows = await subject_rows(subject, deleted=deleted or only_deleted)
        if only_deleted:
            rows = [r for r in rows if r.deleted]
        return _respond([r.version for r in rows])

    @router.get("/subjects/{subject}/versions/{version}")
    async def get_version(subject: str, version: str, deleted: bool = False) -> Response:
        return _respond(_version_body(await find_version(subject, version, deleted=deleted)))

    @router.get("/subjects/{subject}/versions/{version}/schema")
    async def get_version_schema(subject: str, version: str, deleted: bool = False) -> Response:
        return _raw_schema(await find_version(subject, version, deleted=deleted))

    @router.get("/subjects/{subject}/versions/{version}/referencedby")
    async def referenced_by(subject: str, version: str) -> Response:
        await find_version(subject, version, deleted=False)
        return _respond([])  # schema references are not supported, so nothing refers

    @router.post("/subjects/{subject}/versions")
    async def register(request: Request, subject: str, normalize: bool = False) -> Response:
        _, text = await _schema_of(request, bounds, normalize=normalize)  # AVRO only
        try:
            registered = await register_avro(catalog, subject, text, bounds)
        except SchemaCompatibilityError as exc:
            raise RegistryError(409, 409, _incompatible_message(subject, exc)) from exc
        return _respond({"id": registered.id})

    @router.post("/subjects/{subject}")
    async def lookup(
        request: Request, subject: str, normalize: bool = False, deleted: bool = False
    ) -> Response:
        schema_type, text = await _schema_of(request, bounds, normalize=False)
        rows = await subject_rows(subject, deleted=deleted)
        wanted = canonical_schema_text(text)
        wanted_normal = await off_loop(normalize_avro_schema, text, bounds) if normalize else None
        matches = [
            r
            for r in rows
            if r.schema_type == schema_type
            and (
                r.schema_text == wanted
                or (wanted_normal is not None and _normalized(r) == wanted_normal)
            )
        ]
        if not matches:
            raise _schema_not_found()
        # a live version before a soft-deleted copy of the same schema
        row = sorted(matches, key=lambda r: (not r.deleted, r.version))[-1]
        return _respond(_version_body(row))

    @router.delete("/subjects/{subject}")
    async def delete_subject(subject: str, permanent: bool = False) -> Response:
        rows = await subject_rows(subject, deleted=True)
        live = [r for r in rows if not r.deleted]
        if permanent and live:
            raise RegistryError(
                404,
                40405,
                f"Subject '{subject}' was not deleted first before being permanently deleted",
            )
        if not permanent and not live:
            raise RegistryError(
                404,
                40404,
                f"Subject '{subject}' was soft deleted. Set permanent=true to delete permanently",
            )
        versions = await catalog.delete_subject(subject, permanent=permanent, schema_types=types)
        # As in Confluent, the subject's own compatibility setting goes with it.
        await catalog.delete_compatibility(subject)
        return _respond(versions)

    @router.delete("/subjects/{subject}/versions/{version}")
    async def delete_version(subject: str, version: str, permanent: bool = False) -> Response:
        number = _version(version)
        rows = await subject_rows(subject, deleted=True)
        if number is None:
            live = [r for r in rows if not r.deleted]
            if not live:
                raise _version_not_found(version)
            row = live[-1]
        else:
            found = next((r for r in rows if r.version == number), None)
            if found is None:
                raise _version_not_found(number)
            row = found
        if permanent and not row.deleted:
            raise RegistryError(
                404,
                40407,
                f"Subject '{subject}' Version {row.version} was not deleted first before being"
                " permanently deleted",
            )
        if not permanent and row.deleted:
            raise RegistryError(
                404,
                40406,
                f"Subject '{subject}' Version {row.version} was soft deleted. Set"
                " permanent=true to delete permanently",
            )
        await catalog.delete_schema_version(subject, row.version, permanent=permanent)
        return _respond(row.version)

    # -- schemas by id ------------------------------------------------------------------------

    async def id_rows(raw: str, *, deleted: bool, subject: str | None = None) -> list[StoredSchema]:
        schema_id = _schema_id(raw)
        # Soft-deleted versions still resolve by id: records written with them exist.
        rows = await catalog.list_schemas(schema_id=schema_id, deleted=True, schema_types=types)
        if subject is not None:
            rows = [r for r in rows if r.subject == subject]
        if not rows:
            raise _schema_not_found(f"Schema {schema_id} not found")
        return rows if deleted else [r for r in rows if not r.deleted]

    # ``subject`` only names a context in Confluent's registry (there is one here):
    # deserializers pass their topic's subject, which need not be the one the writer used.
    @router.get("/schemas/ids/{schema_id}")
    async def get_by_id(schema_id: str, subject: str | None = None) -> Response:
        row = (await id_rows(schema_id, deleted=True))[0]
        return _respond(_typed({"schema": row.schema_text}, row))

    @router.get("/schemas/ids/{schema_id}/schema")
    async def get_raw_by_id(schema_id: str, subject: str | None = None) -> Response:
        return _raw_schema((await id_rows(schema_id, deleted=True))[0])

    @router.get("/schemas/ids/{schema_id}/versions")
    async def versions_of_id(
        schema_id: str, deleted: bool = False, subject: str | None = None
    ) -> Response:
        rows = await id_rows(schema_id, deleted=deleted, subject=subject or None)
        return _respond([{"subject": r.subject, "version": r.version} for r in rows])

    @router.get("/schemas/ids/{schema_id}/subjects")
    async def subjects_of_id(
        schema_id: str, deleted: bool = False, subject: str | None = None
    ) -> Response:
        rows = await id_rows(schema_id, deleted=deleted, subject=subject or None)
        return _respond(sorted({r.subject for r in rows}))

    # -- compatibility ------------------------------------------------------------------------

    async def test_compatibility(
        request: Request, subject: str, version: str | None, *, verbose: bool, normalize: bool
    ) -> Response:
        _, text = await _schema_of(request, bounds, normalize=normalize)
        level = await catalog.get_compatibility(subject)
        rows = await catalog.list_schemas(subject, schema_types=types)
        against: Sequence[StoredSchema]
        if version is None:  # what registering would check
            against = rows if level.transitive else rows[-1:]
        else:
            number = _version(version)
            if number is None:
                against = rows[-1:]  # a new subject: compatible with nothing, so with all
            else:
                found = next((r for r in rows if r.version == number), None)
                if found is None:
                    raise _version_not_found(number)
                against = [found]
        messages: list[str] = []
        for old in against:
            reasons = await check_in_worker(text, [old.schema_text], level, bounds)
            if reasons:
                messages.extend(reasons)
                messages.append(f"{{oldSchemaVersion: {old.version}}}")
                messages.append(f"{{oldSchema: '{old.schema_text}'}}")
        if messages:
            messages.append(f"{{compatibility: '{level.value}'}}")
        body: dict[str, Any] = {"is_compatible": not messages}
        if verbose:
            body["messages"] = messages
        return _respond(body)

    @router.post("/compatibility/subjects/{subject}/versions/{version}")
    async def compatible_with_version(
        request: Request,
        subject: str,
        version: str,
        verbose: bool = False,
        normalize: bool = False,
    ) -> Response:
        return await test_compatibility(
            request, subject, version, verbose=verbose, normalize=normalize
        )

    @router.post("/compatibility/subjects/{subject}/versions")
    async def compatible_with_subject(
        request: Request, subject: str, verbose: bool = False, normalize: bool = False
    ) -> Response:
        return await test_compatibility(
            request, subject, None, verbose=verbose, normalize=normalize
        )

    # -- config --------------------------------------------------------------------------------

    @router.get("/config")
    async def get_global_config() -> Response:
        level = await catalog.get_compatibility()
        return _respond({"compatibilityLevel": level.value})

    @router.put("/config")
    async def put_global_config(request: Request) -> Response:
        level = _compatibility(await _json_body(request))
        await catalog.set_compatibility(level)
        return _respond({"compatibility": level.value})

    @router.delete("/config")
    async def delete_global_config() -> Response:
        old = await catalog.get_compatibility()
        await catalog.delete_compatibility()
        return _respond({"compatibilityLevel": old.value})

    @router.get("/config/{subject}")
    async def get_subject_config(subject: str, defaultToGlobal: bool = False) -> Response:
        level = await catalog.get_subject_compatibility(subject)
        if level is None:
            if not defaultToGlobal:
                raise _no_subject_config(subject)
            level = await catalog.get_compatibility()
        return _respond({"compatibilityLevel": level.value})

    @router.put("/config/{subject}")
    async def put_subject_config(request: Request, subject: str) -> Response:
        level = _compatibility(await _json_body(request))
        await catalog.set_compatibility(level, subject)
        return _respond({"compatibility": level.value})

    @router.delete("/config/{subject}")
    async def delete_subject_config(subject: str) -> Response:
        old = await catalog.delete_compatibility(subject)
        if old is None:
            if not await catalog.list_schemas(subject, deleted=True, schema_types=types):
                raise _subject_not_found(subject)
            raise _no_subject_config(subject)
        return _respond({"compatibilityLevel": old.value})

    # -- anything else under the prefix: Confluent-shaped 404/405 --------------------------------

    @router.api_route("/{path:path}", methods=_METHODS, include_in_schema=False)
    async def unknown(request: Request, path: str) -> Response:
        # FastAPI nests included routers, so look for a method mismatch in our own routes.
        for other in router.routes:
            if other.matches(request.scope)[0] is Match.PARTIAL:
                return _error(405, 405, "HTTP 405 Method Not Allowed")
        return _error(404, 404, "HTTP 404 Not Found")

    return router


def _normalized(row: StoredSchema) -> str | None:
    try:
        return normalize_avro_schema(row.schema_text)
    except InvalidAvroSchema:
        return None
