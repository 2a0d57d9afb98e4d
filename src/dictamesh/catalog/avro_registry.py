"""The catalog's Avro schema registry in-process: what ``/schema-registry`` does, minus HTTP.

:func:`register_avro` is the one way an Avro schema gets registered: validated (with the
registry's size and nesting bounds), checked against the subject's earlier versions under
its compatibility level by the registry's checker (in a worker process, off the event
loop), then stored. The HTTP route and :class:`CatalogSchemaRegistry` both use it, so a
node that registers its topics' value schemas in-process gets exactly the answers Kafka
tooling gets over HTTP.

:class:`CatalogSchemaRegistry` has the methods of
:class:`dictamesh.events.schema_registry.SchemaRegistryClient` (``events`` and ``catalog``
are siblings: it satisfies the protocol structurally), so an Avro serializer can use the
node's own catalog as its registry.

Example::

    registry = CatalogSchemaRegistry(catalog)
    schema_id = await registry.register("customers.crm.entity_changed-value", schema_text)
    assert await registry.get_by_id(schema_id) == canonical_schema_text(schema_text)
"""

from __future__ import annotations

from collections.abc import Callable

from dictamesh.catalog._avro_limits import AvroLimits, InvalidAvroSchema
from dictamesh.catalog._registry_check import PreparedAvroCheck, off_loop, start_workers
from dictamesh.catalog.records import Compatibility, SchemaVersion
from dictamesh.catalog.schemas import validate_avro_schema
from dictamesh.catalog.service import CatalogService, canonical_schema_text
from dictamesh.core.errors import NotFoundError, ValidationError

__all__ = ["AvroLimits", "CatalogSchemaRegistry", "register_avro"]


async def register_avro(
    catalog: CatalogService, subject: str, text: str, limits: AvroLimits
) -> SchemaVersion:
    """Register Avro ``text`` (already validated) under ``subject``; raises
    :class:`~dictamesh.core.errors.SchemaCompatibilityError` with the checker's reasons."""
    check = PreparedAvroCheck(limits)
    level = await catalog.get_compatibility(subject)
    live = await catalog.list_schemas(subject)
    if live and level is not Compatibility.NONE:
        # the check the catalog will make, done ahead and off the event loop
        earlier = live if level.transitive else live[-1:]
        await check.prepare([r.schema_text for r in earlier], canonical_schema_text(text), level)
    return await catalog.register_schema_text(subject, "AVRO", text, check)


class CatalogSchemaRegistry:
    """A ``SchemaRegistryClient`` over a catalog (``catalog``: the service, or a callable
    returning it once it is open, as a node's)."""

    def __init__(
        self,
        catalog: CatalogService | Callable[[], CatalogService],
        limits: AvroLimits | None = None,
    ) -> None:
        self._catalog = catalog
        self.limits = limits or AvroLimits()
        # as registry_router does: the checker process is up before the first check needs it
        start_workers()

    @property
    def catalog(self) -> CatalogService:
        return self._catalog if isinstance(self._catalog, CatalogService) else self._catalog()

    async def register(self, subject: str, schema_str: str, schema_type: str = "AVRO") -> int:
        if schema_type != "AVRO":
            raise ValidationError(
                f"the catalog's schema registry checks AVRO schemas only, not {schema_type}",
                schema_type=schema_type,
            )
        try:
            await off_loop(validate_avro_schema, schema_str, self.limits)
            return (await register_avro(self.catalog, subject, schema_str, self.limits)).id
        except InvalidAvroSchema as exc:  # also SchemaTooComplex: the check ran out of time
            raise ValidationError(f"Avro schema for {subject!r} refused: {exc}") from exc

    async def get_by_id(self, schema_id: int) -> str:
        rows = await self.catalog.list_schemas(
            schema_id=schema_id, deleted=True, schema_types=["AVRO"]
        )
        if not rows:
            raise NotFoundError(f"schema id {schema_id} not found", schema_id=schema_id)
        return rows[0].schema_text

    async def get_latest(self, subject: str) -> tuple[int, int, str]:
        rows = await self.catalog.list_schemas(subject, schema_types=["AVRO"])
        if not rows:
            raise NotFoundError(f"subject {subject!r} not found", subject=subject)
        latest = rows[-1]
        return latest.id, latest.version, latest.schema_text
