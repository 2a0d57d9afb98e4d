"""The schema registry (Confluent-style): subjects, versions, global ids, compatibility.

Versions count up per subject and are never reused; ids are global per tenant (one id per
canonical text and type, shared across subjects). Deleting is soft (hidden, number kept) or
permanent (text erased, the row kept as a tombstone so neither number nor id is reused).

Example::

    schemas = SchemaStore(database)
    version = await schemas.register(invoice_schema)           # DICTAMESH entity schema
    await schemas.set_compatibility(Compatibility.FULL, "invoice")
    stored = await schemas.by_id(version.id)
    await schemas.delete_version("invoice", 1)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.records import Compatibility, SchemaVersion, StoredSchema
from dictamesh.catalog.schemas import check_compatibility
from dictamesh.catalog.tables import CONFIG, SCHEMAS, insert_for
from dictamesh.core.errors import (
    CatalogError,
    NotFoundError,
    SchemaCompatibilityError,
    ValidationError,
)
from dictamesh.core.models import EntitySchema

__all__ = [
    "DEFAULT_COMPATIBILITY",
    "SCHEMA_TYPES",
    "SchemaCheck",
    "SchemaStore",
    "canonical_schema_text",
    "entity_schema_text",
]

DEFAULT_COMPATIBILITY = Compatibility.BACKWARD
SCHEMA_TYPES = ("DICTAMESH", "AVRO", "JSON")

SchemaCheck = Callable[[Sequence[str], str, Compatibility], Sequence[str]]
"""``(earlier schema texts, new text, level) -> reasons it is incompatible`` ([] if not).

The earlier texts are those the level asks for: the latest only, or every live version
(oldest first) for ``*_TRANSITIVE``. ``level`` tells the direction (backward/forward/full).
"""

#: fingerprint (and text) of a permanently deleted schema row. The row stays as a tombstone
#: so that neither its version number nor its global id is ever handed out again (SQLite
#: would reuse the highest row id, and ids are the ids in Kafka records).
_PURGED = ""


def canonical_schema_text(text: str) -> str:
    """Whitespace/key-order independent JSON; non-JSON text (protobuf) only stripped."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return text.strip()
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entity_schema_text(schema: EntitySchema) -> str:
    """The stored form of an ``EntitySchema``: canonical JSON *without* its version.

    The registry assigns versions, so re-registering the same content under another
    declared version is recognised as the same schema.
    """
    body = schema.model_dump(mode="json", exclude={"version"})
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class SchemaStore:
    def __init__(self, database: CatalogDatabase) -> None:
        self.database = database

    # --- registering ---------------------------------------------------------------------

    async def register(
        self, schema: EntitySchema, *, compatibility: Compatibility | None = None
    ) -> SchemaVersion:
        """Register ``schema`` under subject ``schema.entity_type`` (type ``DICTAMESH``).

        The same content again returns its existing version. Otherwise it is checked against
        earlier versions under ``compatibility`` (default: the subject's configured level,
        else the global one, else BACKWARD) and refused with
        :class:`SchemaCompatibilityError` listing the reasons. The new version number is
        ``schema.version`` if that is above every existing one, else the next free number.
        """
        return await self._register(
            schema.entity_type,
            "DICTAMESH",
            entity_schema_text(schema),
            _dictamesh_check,
            compatibility=compatibility,
            min_version=schema.version,
        )

    async def register_text(
        self,
        subject: str,
        schema_type: str,
        text: str,
        check: SchemaCheck | None = None,
        *,
        compatibility: Compatibility | None = None,
    ) -> SchemaVersion:
        """Register a schema given as text (the base of a Confluent-compatible registry).

        Versions count up from 1 per subject; the returned ``id`` is global: the same
        canonical text and type under two subjects share one id. Without ``check`` no
        compatibility check is made.
        """
        return await self._register(subject, schema_type, text, check, compatibility=compatibility)

    async def _register(
        self,
        subject: str,
        schema_type: str,
        text: str,
        check: SchemaCheck | None,
        *,
        compatibility: Compatibility | None,
        min_version: int = 1,
    ) -> SchemaVersion:
        if not subject or not subject.strip() or len(subject) > 255:
            raise ValidationError("schema subject must be 1-255 characters", subject=subject)
        if schema_type not in SCHEMA_TYPES:
            raise ValidationError(
                f"schema type must be one of {list(SCHEMA_TYPES)}", schema_type=schema_type
            )
        canonical = canonical_schema_text(text)
        fingerprint = hashlib.sha256(canonical.encode()).hexdigest()
        tenant = self.database.tenant()
        for attempt in range(3):
            try:
                async with self.database.write() as conn:
                    return await self._register_in(
                        conn,
                        tenant,
                        subject,
                        schema_type,
                        canonical,
                        fingerprint,
                        check,
                        compatibility,
                        min_version,
                    )
            except IntegrityError as exc:  # a concurrent registration took the version
                if attempt == 2:
                    raise CatalogError(
                        f"could not register a schema under {subject!r}: {exc.orig}"
                    ) from exc
        raise AssertionError("unreachable")

    async def _register_in(
        self,
        conn: AsyncConnection,
        tenant: str,
        subject: str,
        schema_type: str,
        canonical: str,
        fingerprint: str,
        check: SchemaCheck | None,
        compatibility: Compatibility | None,
        min_version: int,
    ) -> SchemaVersion:
        rows = (
            await conn.execute(
                select(SCHEMAS)
                .where(SCHEMAS.c.tenant_id == tenant, SCHEMAS.c.subject == subject)
                .order_by(SCHEMAS.c.version)
            )
        ).all()
        for row in rows:
            if (
                not row.deleted
                and row.fingerprint == fingerprint
                and (row.schema_type == schema_type)
            ):
                return _schema_version(row)
        live = [r for r in rows if not r.deleted]
        level = compatibility or await _compatibility(conn, tenant, subject)
        if live and check is not None and level is not Compatibility.NONE:
            earlier = live if level.transitive else live[-1:]
            texts = [
                _with_version(r) if schema_type == "DICTAMESH" else r.schema_text for r in earlier
            ]
            reasons = list(check(texts, canonical, level))
            if reasons:
                raise SchemaCompatibilityError(
                    f"schema for {subject!r} is incompatible with version"
                    f"{'s' if len(earlier) > 1 else ''}"
                    f" {', '.join(str(r.version) for r in earlier)} under {level.value}:"
                    f" {'; '.join(reasons)}",
                    subject=subject,
                    compatibility=level.value,
                    reasons=reasons,
                    versions=[r.version for r in earlier],
                )
        version = max(rows[-1].version + 1 if rows else 1, min_version)
        same = (
            await conn.execute(
                select(SCHEMAS.c.schema_id)
                .where(
                    SCHEMAS.c.tenant_id == tenant,
                    SCHEMAS.c.fingerprint == fingerprint,
                    SCHEMAS.c.schema_type == schema_type,
                )
                .order_by(SCHEMAS.c.id)
                .limit(1)
            )
        ).scalar()
        row_id = (
            await conn.execute(
                SCHEMAS.insert()
                .values(
                    schema_id=same or 0,
                    tenant_id=tenant,
                    subject=subject,
                    version=version,
                    schema_type=schema_type,
                    schema_text=canonical,
                    fingerprint=fingerprint,
                    compatibility=level.value,
                    deleted=False,
                    created_at=self.database.now(),
                )
                .returning(SCHEMAS.c.id)
            )
        ).scalar_one()
        if same is None:
            # A new schema's global id is its first row's id: unique without a sequence.
            await conn.execute(
                update(SCHEMAS).where(SCHEMAS.c.id == row_id).values(schema_id=row_id)
            )
        return SchemaVersion(
            subject=subject,
            version=version,
            id=same or row_id,
            compatibility=level,
            schema_type=schema_type,
            fingerprint=fingerprint,
        )

    # --- compatibility levels ------------------------------------------------------------

    async def compatibility(self, subject: str | None = None) -> Compatibility:
        """The level for ``subject`` (its own, else global), or the global one (None)."""
        async with self.database.read() as conn:
            return await _compatibility(conn, self.database.tenant(), subject or "")

    async def subject_compatibility(self, subject: str | None = None) -> Compatibility | None:
        """The level configured for ``subject`` itself (None: global), None if unset."""
        async with self.database.read() as conn:
            level = (
                await conn.execute(
                    select(CONFIG.c.compatibility).where(
                        CONFIG.c.tenant_id == self.database.tenant(),
                        CONFIG.c.subject == (subject or ""),
                    )
                )
            ).scalar()
        return Compatibility(level) if level else None

    async def delete_compatibility(self, subject: str | None = None) -> Compatibility | None:
        """Remove the level of ``subject`` (None: the global one); returns it, None if unset."""
        where = (CONFIG.c.tenant_id == self.database.tenant(), CONFIG.c.subject == (subject or ""))
        async with self.database.write() as conn:
            level = (await conn.execute(select(CONFIG.c.compatibility).where(*where))).scalar()
            if level is not None:
                await conn.execute(delete(CONFIG).where(*where))
        return Compatibility(level) if level else None

    async def set_compatibility(self, level: Compatibility, subject: str | None = None) -> None:
        """Set the level of ``subject``, or the global default when ``subject`` is None."""
        level = Compatibility(level)
        db = self.database
        ins = insert_for(db.dialect, CONFIG)
        stmt = ins.on_conflict_do_update(
            index_elements=[CONFIG.c.tenant_id, CONFIG.c.subject],
            set_={
                "compatibility": ins.excluded.compatibility,
                "updated_at": ins.excluded.updated_at,
            },
        )
        row = {
            "tenant_id": db.tenant(),
            "subject": subject or "",
            "compatibility": level.value,
            "updated_at": db.now(),
        }
        async with db.write() as conn:
            await conn.execute(stmt, [row])

    # --- reading ---------------------------------------------------------------------------

    async def entity_schema(self, entity_type: str, version: int | None = None) -> EntitySchema:
        """The latest (or the given) registered version of ``entity_type``'s schema.

        Raises :class:`NotFoundError` if there is none.
        """
        stored = await self.text(entity_type, version, schema_type="DICTAMESH")
        body = json.loads(stored.schema_text)
        body["version"] = stored.version
        return EntitySchema.model_validate(body)

    async def text(
        self, subject: str, version: int | None = None, *, schema_type: str | None = None
    ) -> StoredSchema:
        """A stored schema: the latest live version of ``subject``, or ``version``."""
        query = select(SCHEMAS).where(
            SCHEMAS.c.tenant_id == self.database.tenant(),
            SCHEMAS.c.subject == subject,
            SCHEMAS.c.deleted.is_(False),
        )
        if schema_type is not None:
            query = query.where(SCHEMAS.c.schema_type == schema_type)
        if version is not None:
            query = query.where(SCHEMAS.c.version == version)
        async with self.database.read() as conn:
            row = (await conn.execute(query.order_by(SCHEMAS.c.version.desc()).limit(1))).first()
        if row is None:
            what = f"version {version} of " if version is not None else ""
            raise NotFoundError(
                f"no {what}schema registered for {subject!r}", subject=subject, version=version
            )
        return _stored_schema(row)

    async def by_id(self, schema_id: int) -> StoredSchema:
        """The schema with this global id (the first row that carried it)."""
        async with self.database.read() as conn:
            row = (
                await conn.execute(
                    select(SCHEMAS)
                    .where(
                        SCHEMAS.c.tenant_id == self.database.tenant(),
                        SCHEMAS.c.schema_id == schema_id,
                        SCHEMAS.c.fingerprint != _PURGED,
                    )
                    .order_by(SCHEMAS.c.id)
                    .limit(1)
                )
            ).first()
        if row is None:
            raise NotFoundError(f"schema id {schema_id} not found", schema_id=schema_id)
        return _stored_schema(row)

    async def versions(self, subject: str) -> list[int]:
        """Live version numbers of ``subject``, ascending ([] if unknown)."""
        async with self.database.read() as conn:
            rows = await conn.execute(
                select(SCHEMAS.c.version)
                .where(
                    SCHEMAS.c.tenant_id == self.database.tenant(),
                    SCHEMAS.c.subject == subject,
                    SCHEMAS.c.deleted.is_(False),
                )
                .order_by(SCHEMAS.c.version)
            )
            return [int(v) for v in rows.scalars()]

    async def subjects(
        self, *, deleted: bool = False, schema_types: Sequence[str] | None = None
    ) -> list[str]:
        """Subjects with a live version (``deleted``: or a soft-deleted one), sorted;
        ``schema_types`` keeps only subjects with versions of those types."""
        query = select(SCHEMAS.c.subject).where(
            SCHEMAS.c.tenant_id == self.database.tenant(), SCHEMAS.c.fingerprint != _PURGED
        )
        if not deleted:
            query = query.where(SCHEMAS.c.deleted.is_(False))
        if schema_types is not None:
            query = query.where(SCHEMAS.c.schema_type.in_(list(schema_types)))
        async with self.database.read() as conn:
            rows = await conn.execute(query.distinct().order_by(SCHEMAS.c.subject))
            return list(rows.scalars())

    async def stored(
        self,
        subject: str | None = None,
        *,
        schema_id: int | None = None,
        deleted: bool = False,
        schema_types: Sequence[str] | None = None,
    ) -> list[StoredSchema]:
        """Stored versions, by subject then version: of ``subject`` and/or carrying the
        global ``schema_id``; live ones only unless ``deleted`` (soft-deleted ones too).
        Permanently deleted versions are never returned."""
        query = select(SCHEMAS).where(
            SCHEMAS.c.tenant_id == self.database.tenant(), SCHEMAS.c.fingerprint != _PURGED
        )
        if subject is not None:
            query = query.where(SCHEMAS.c.subject == subject)
        if schema_id is not None:
            query = query.where(SCHEMAS.c.schema_id == schema_id)
        if not deleted:
            query = query.where(SCHEMAS.c.deleted.is_(False))
        if schema_types is not None:
            query = query.where(SCHEMAS.c.schema_type.in_(list(schema_types)))
        async with self.database.read() as conn:
            rows = await conn.execute(query.order_by(SCHEMAS.c.subject, SCHEMAS.c.version))
            return [_stored_schema(row) for row in rows]

    # --- deleting --------------------------------------------------------------------------

    async def delete_version(self, subject: str, version: int, *, permanent: bool = False) -> None:
        """Soft-delete one version: hidden from reads and checks; its number is not reused.

        ``permanent`` erases a version (live or soft-deleted): its text is gone, even by id
        (unless another subject shares the id); its number and id are still never reused.
        """
        values: dict[str, Any] = {"deleted": True}
        query = update(SCHEMAS).where(
            SCHEMAS.c.tenant_id == self.database.tenant(),
            SCHEMAS.c.subject == subject,
            SCHEMAS.c.version == version,
        )
        if permanent:
            query = query.where(SCHEMAS.c.fingerprint != _PURGED)
            values.update(schema_text=_PURGED, fingerprint=_PURGED)
        else:
            query = query.where(SCHEMAS.c.deleted.is_(False))
        async with self.database.write() as conn:
            result = await conn.execute(query.values(**values))
        if result.rowcount == 0:
            raise NotFoundError(
                f"no version {version} of {subject!r} to delete", subject=subject, version=version
            )

    async def delete_subject(
        self,
        subject: str,
        *,
        permanent: bool = False,
        schema_types: Sequence[str] | None = None,
    ) -> list[int]:
        """Soft-delete every live version of ``subject`` (``permanent``: erase every version,
        as :meth:`delete_version`); returns the version numbers affected, ascending."""
        query = update(SCHEMAS).where(
            SCHEMAS.c.tenant_id == self.database.tenant(), SCHEMAS.c.subject == subject
        )
        if schema_types is not None:
            query = query.where(SCHEMAS.c.schema_type.in_(list(schema_types)))
        if permanent:
            query = query.where(SCHEMAS.c.fingerprint != _PURGED).values(
                deleted=True, schema_text=_PURGED, fingerprint=_PURGED
            )
        else:
            query = query.where(SCHEMAS.c.deleted.is_(False)).values(deleted=True)
        async with self.database.write() as conn:
            rows = await conn.execute(query.returning(SCHEMAS.c.version))
            return sorted(int(v) for v in rows.scalars())


async def _compatibility(conn: AsyncConnection, tenant: str, subject: str) -> Compatibility:
    rows = (
        await conn.execute(
            select(CONFIG.c.subject, CONFIG.c.compatibility).where(
                CONFIG.c.tenant_id == tenant, CONFIG.c.subject.in_([subject, ""])
            )
        )
    ).all()
    levels = {r.subject: r.compatibility for r in rows}
    level = levels.get(subject) or levels.get("")
    return Compatibility(level) if level else DEFAULT_COMPATIBILITY


def _dictamesh_check(previous: Sequence[str], new: str, level: Compatibility) -> list[str]:
    new_schema = EntitySchema.model_validate_json(new)
    earlier: list[EntitySchema] = []
    for position, text in enumerate(previous, start=1):
        try:
            earlier.append(EntitySchema.model_validate_json(text))
        except ValueError:
            return [f"earlier schema #{position} is not a DICTAMESH entity schema"]
    # ``previous`` already holds what the level asks for (latest only, or all).
    return check_compatibility(new_schema, earlier, level)


def _with_version(row: Any) -> str:
    # Stored DICTAMESH texts leave the version out; the check's reasons should name it.
    body = json.loads(row.schema_text)
    body["version"] = row.version
    return json.dumps(body)


def _schema_version(row: Any) -> SchemaVersion:
    return SchemaVersion(
        subject=row.subject,
        version=row.version,
        id=row.schema_id,
        compatibility=Compatibility(row.compatibility),
        schema_type=row.schema_type,
        fingerprint=row.fingerprint,
    )


def _stored_schema(row: Any) -> StoredSchema:
    return StoredSchema(
        id=row.schema_id,
        subject=row.subject,
        version=row.version,
        schema_type=row.schema_type,
        schema_text=row.schema_text,
        fingerprint=row.fingerprint,
        compatibility=Compatibility(row.compatibility),
        deleted=bool(row.deleted),
        created_at=row.created_at,
    )
