"""Lineage: which datasets (and entities) data flows between, and how often it was seen.

Every entity type is published as the data product ``dictamesh/<domain>.<entity_type>``
(:func:`data_product_dataset`); lineage is kept between such datasets and, optionally,
single entities.

Example::

    lineage = LineageStore(database)
    await lineage.track(orders, data_product_dataset("billing", "invoice"), "invoice_from_order")
    view = await lineage.view("invoice", "inv-1")     # flows in and out, dataset and entity
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dictamesh.catalog._sql import lineage_record, lineage_row, lineage_upsert
from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.records import LineageRecord, LineageView
from dictamesh.catalog.tables import ENTITY, LINEAGE, SCHEMAS
from dictamesh.core.errors import ValidationError
from dictamesh.core.models import DatasetRef, EntityRef

__all__ = ["DATA_PRODUCT_NAMESPACE", "LineageStore", "data_product_dataset"]

DATA_PRODUCT_NAMESPACE = "dictamesh"


def data_product_dataset(domain: str, entity_type: str) -> DatasetRef:
    """The dataset a data product publishes: ``dictamesh/<domain>.<entity_type>``."""
    return DatasetRef(namespace=DATA_PRODUCT_NAMESPACE, name=f"{domain}.{entity_type}")


class LineageStore:
    def __init__(self, database: CatalogDatabase) -> None:
        self.database = database

    async def track(
        self,
        upstream: DatasetRef,
        downstream: DatasetRef,
        transformation: str,
        *,
        upstream_entity: EntityRef | None = None,
        downstream_entity: EntityRef | None = None,
        event_id: str | None = None,
    ) -> None:
        """Record that data flows ``upstream`` → ``downstream`` (again: ``occurrences`` += 1)."""
        if not transformation:
            raise ValidationError("transformation must not be empty")
        db = self.database
        row = lineage_row(
            db.tenant(),
            upstream,
            downstream,
            transformation,
            upstream_entity=upstream_entity,
            downstream_entity=downstream_entity,
            event_id=event_id,
            now=db.now(),
        )
        async with db.write() as conn:
            await conn.execute(lineage_upsert(db.dialect), [row])

    async def view(self, entity_type: str, entity_id: str | None = None) -> LineageView:
        """Lineage of the data product ``dictamesh/<domain>.<entity_type>``.

        Without ``entity_id``: the dataset-level flows into and out of that dataset. With
        it: additionally the entity-level flows of that entity (e.g. invoice → its items).
        """
        tenant = self.database.tenant()
        async with self.database.read() as conn:
            dataset = await _product_dataset(conn, tenant, entity_type, entity_id)
            clauses = []
            if dataset is not None:
                no_entities = (LINEAGE.c.upstream_entity_id == "") & (
                    LINEAGE.c.downstream_entity_id == ""
                )
                clauses.append(
                    no_entities
                    & (
                        (
                            (LINEAGE.c.upstream_namespace == dataset.namespace)
                            & (LINEAGE.c.upstream_name == dataset.name)
                        )
                        | (
                            (LINEAGE.c.downstream_namespace == dataset.namespace)
                            & (LINEAGE.c.downstream_name == dataset.name)
                        )
                    )
                )
            if entity_id is not None:
                clauses.append(
                    (LINEAGE.c.upstream_entity_type == entity_type)
                    & (LINEAGE.c.upstream_entity_id == entity_id)
                )
                clauses.append(
                    (LINEAGE.c.downstream_entity_type == entity_type)
                    & (LINEAGE.c.downstream_entity_id == entity_id)
                )
            rows: Sequence[Row[Any]] = []
            if clauses:
                rows = (
                    await conn.execute(
                        select(LINEAGE)
                        .where(LINEAGE.c.tenant_id == tenant, or_(*clauses))
                        .order_by(LINEAGE.c.first_seen_at, LINEAGE.c.id)
                    )
                ).all()
        upstream: list[LineageRecord] = []
        downstream: list[LineageRecord] = []
        for row in rows:
            record = lineage_record(row)
            if entity_id is not None and (
                record.downstream_entity is not None or record.upstream_entity is not None
            ):
                is_down = record.downstream_entity == EntityRef(type=entity_type, id=entity_id)
            else:
                is_down = record.downstream == dataset
            (upstream if is_down else downstream).append(record)
        return LineageView(
            entity_type=entity_type,
            entity_id=entity_id,
            dataset=dataset,
            upstream=upstream,
            downstream=downstream,
        )


async def _product_dataset(
    conn: AsyncConnection, tenant: str, entity_type: str, entity_id: str | None
) -> DatasetRef | None:
    # The domain of a type: from the registry, else its schema, else a lineage name.
    query = select(ENTITY.c.domain).where(
        ENTITY.c.tenant_id == tenant, ENTITY.c.entity_type == entity_type
    )
    if entity_id is not None:
        query = query.where(ENTITY.c.entity_id == entity_id)
    domain = (await conn.execute(query.limit(1))).scalar()
    if domain is None and entity_id is not None:
        domain = (
            await conn.execute(
                select(ENTITY.c.domain)
                .where(ENTITY.c.tenant_id == tenant, ENTITY.c.entity_type == entity_type)
                .limit(1)
            )
        ).scalar()
    if domain is None:
        text = (
            await conn.execute(
                select(SCHEMAS.c.schema_text)
                .where(
                    SCHEMAS.c.tenant_id == tenant,
                    SCHEMAS.c.subject == entity_type,
                    SCHEMAS.c.schema_type == "DICTAMESH",
                    SCHEMAS.c.deleted.is_(False),
                )
                .order_by(SCHEMAS.c.version.desc())
                .limit(1)
            )
        ).scalar()
        if text is not None:
            domain = json.loads(text).get("domain")
    if domain is None:
        names = (
            await conn.execute(
                select(LINEAGE.c.downstream_name)
                .where(
                    LINEAGE.c.tenant_id == tenant,
                    LINEAGE.c.downstream_namespace == DATA_PRODUCT_NAMESPACE,
                )
                .distinct()
            )
        ).scalars()
        domain = next(
            (n.split(".", 1)[0] for n in names if n.split(".", 1)[-1] == entity_type), None
        )
    return None if domain is None else data_product_dataset(domain, entity_type)
