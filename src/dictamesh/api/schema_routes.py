"""The schema registry for people (``docs/api.md``, "Schema subjects and diffs"; the Schemas
page): what ``/schema-registry`` holds, in fewer calls, and what changed between versions.

* ``GET /api/v1/schema-subjects?limit=200`` → ``{"compatibility": <global level>,
  "subjects": [{"subject", "schema_type", "versions": [...], "latest", "compatibility",
  "compatibility_configured"}], "truncated"}``: every live subject of the request's tenant
  (entity schemas, whose subject is the entity type, and Avro subjects), sorted, with the
  level its next registration is checked under (its own, else the global one).
* ``GET /api/v1/schemas/{subject}/diff?from=1&to=2`` → ``{"subject", "schema_type",
  "from", "to", "compatibility", "compatible", "changes": [{"severity", "code",
  "message"}], "schemas": {"from": ..., "to": ...}}``: the changes of ``to`` against
  ``from`` judged by the registry's own checker under the subject's level
  (:mod:`dictamesh.catalog.schema_diff`). ``to`` defaults to the latest version, ``from`` to
  the one before ``to``. A version the subject does not have is ``404``; ``from`` not below
  ``to`` (or a subject with one version and no ``from``) is ``422 INVALID_VERSION_RANGE``;
  a version that is not a positive integer ``400``.

Example::

    curl -s 'localhost:8000/api/v1/schemas/customer/diff?from=1&to=2'
    # {"changes": [{"severity": "safe", "code": "FIELD_ADDED",
    #               "message": "customer.loyalty_tier added"}], "compatible": true, ...}
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query

from dictamesh.catalog.records import Compatibility, StoredSchema
from dictamesh.catalog.schema_diff import avro_subject_changes, entity_schema_changes
from dictamesh.catalog.service import CatalogService
from dictamesh.core.errors import NotFoundError, ValidationError
from dictamesh.core.inputs import MAX_STORED_INT
from dictamesh.core.models import EntitySchema
from dictamesh.core.schema_changes import SchemaChange, Severity

if TYPE_CHECKING:
    from dictamesh.api.context import ApiContext

__all__ = ["MAX_SUBJECTS", "InvalidVersionRange", "schema_browser_router"]

#: most subjects one listing returns
MAX_SUBJECTS = 1000
#: entity types and the usual Avro subjects (``<topic>-value``); others: ``/schema-registry``
SUBJECT_PATTERN = r"^[A-Za-z0-9._:-]{1,255}$"

Version = Annotated[int | None, Query(ge=1, le=MAX_STORED_INT)]


class InvalidVersionRange(ValidationError):
    """Two versions that cannot be compared as asked (``from`` not below ``to``)."""

    code = "INVALID_VERSION_RANGE"
    http_status = 422


def _body(stored: StoredSchema) -> Any:
    try:
        return json.loads(stored.schema_text)
    except ValueError:
        return stored.schema_text  # a non-JSON schema type: shown as text


def _changes(
    subject: str, old: StoredSchema, new: StoredSchema, level: Compatibility
) -> list[SchemaChange]:
    if new.schema_type == "AVRO" and old.schema_type == "AVRO":
        return avro_subject_changes(subject, old.schema_text, new.schema_text, level)
    if new.schema_type == "DICTAMESH" and old.schema_type == "DICTAMESH":
        return entity_schema_changes(
            subject,
            EntitySchema.model_validate(json.loads(old.schema_text)),
            EntitySchema.model_validate(json.loads(new.schema_text)),
            level,
        )
    raise InvalidVersionRange(
        f"versions of {subject!r} of types {old.schema_type} and {new.schema_type}"
        " cannot be compared",
        subject=subject,
    )


def schema_browser_router(ctx: ApiContext, catalog: CatalogService) -> APIRouter:
    """``/api/v1/schema-subjects`` and ``/api/v1/schemas/{subject}/diff`` over ``catalog``."""
    router = APIRouter(prefix="/api/v1", tags=["schemas"])
    store = catalog.schemas

    @router.get("/schema-subjects")
    async def list_schema_subjects(
        limit: Annotated[int, Query(ge=1, le=MAX_SUBJECTS)] = 200,
    ) -> Any:
        """Every registered subject with its versions and compatibility level."""
        rows = await store.stored()
        by_subject: dict[str, list[StoredSchema]] = {}
        for row in rows:
            by_subject.setdefault(row.subject, []).append(row)
        names = sorted(by_subject)
        shown = names[:limit]
        subjects = []
        for name in shown:
            versions = by_subject[name]
            own = await store.subject_compatibility(name)
            effective = own or await store.compatibility()
            subjects.append(
                {
                    "subject": name,
                    "schema_type": versions[-1].schema_type,
                    "versions": [v.version for v in versions],
                    "latest": versions[-1].version,
                    "compatibility": effective.value,
                    "compatibility_configured": own is not None,
                }
            )
        return {
            "compatibility": (await store.compatibility()).value,
            "subjects": subjects,
            "truncated": len(names) > len(shown),
        }

    @router.get("/schemas/{subject}/diff")
    async def diff_schema_versions(
        subject: Annotated[
            str, Path(pattern=SUBJECT_PATTERN, description="entity type or subject")
        ],
        from_version: Annotated[Version, Query(alias="from")] = None,
        to_version: Annotated[Version, Query(alias="to")] = None,
    ) -> Any:
        """What changed between two versions of a subject, judged by its compatibility level."""
        versions = await store.versions(subject)
        if not versions:
            raise NotFoundError(f"no schema registered for {subject!r}", subject=subject)
        to = versions[-1] if to_version is None else to_version
        if from_version is None:
            earlier = [v for v in versions if v < to]
            if not earlier:
                raise InvalidVersionRange(
                    f"{subject!r} has no version before {to} to compare with", subject=subject
                )
            from_version = earlier[-1]
        if from_version >= to:
            raise InvalidVersionRange(
                f"'from' ({from_version}) must be below 'to' ({to})", subject=subject
            )
        old = await store.text(subject, from_version)  # 404 for a version it does not have
        new = await store.text(subject, to)
        level = await store.compatibility(subject)
        changes = _changes(subject, old, new, level)
        return {
            "subject": subject,
            "schema_type": new.schema_type,
            "from": from_version,
            "to": to,
            "compatibility": level.value,
            "compatible": not any(c.severity is Severity.BREAKING for c in changes),
            "changes": [
                {"severity": c.severity.value, "code": c.code, "message": c.message}
                for c in changes
            ],
            "schemas": {"from": _body(old), "to": _body(new)},
        }

    return router
