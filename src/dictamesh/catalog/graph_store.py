"""The relationship graph: current and ended edges between entities, and walks over them.

Example::

    graph = GraphStore(database)
    await graph.record(invoice.ref, "billed_to", customer.ref)
    edges = await graph.relationships(customer.ref, direction="in")
    around = await graph.walk(customer.ref, max_depth=3)
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, cast, get_args

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dictamesh.catalog._graph import GRAPH_TIMEOUT_SECONDS, GraphRows, walk_graph
from dictamesh.catalog._limits import check_limit
from dictamesh.catalog._sql import end_outgoing_relationships, relationship_insert
from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.records import (
    GraphDirection,
    RelationshipGraph,
    RelationshipRecord,
)
from dictamesh.catalog.tables import ENTITY, RELS
from dictamesh.core.errors import EntityNotFound, ValidationError
from dictamesh.core.models import EntityRef

__all__ = ["MAX_GRAPH_DEPTH", "MAX_GRAPH_LIMIT", "GraphStore"]

MAX_GRAPH_DEPTH = 10
MAX_GRAPH_LIMIT = 10_000

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DIRECTIONS: dict[str, str] = {
    "out": "out",
    "in": "in",
    "both": "both",
    "outgoing": "out",
    "incoming": "in",
}


class GraphStore:
    def __init__(
        self, database: CatalogDatabase, *, timeout_seconds: float = GRAPH_TIMEOUT_SECONDS
    ) -> None:
        self.database = database
        #: longest one walk may run in the database (``catalog.graph_timeout_seconds``)
        self.timeout_seconds = timeout_seconds

    async def record(
        self,
        subject: EntityRef,
        relationship_type: str,
        obj: EntityRef,
        *,
        metadata: dict[str, Any] | None = None,
        event_id: str | None = None,
    ) -> bool:
        """Record ``subject --relationship_type--> obj`` as current; True if it was not yet."""
        _check_name(relationship_type, "relationship_type")
        db = self.database
        # ``metadata`` is the column's (and so the Core parameter's) name; ``meta`` the ORM's.
        row = {
            "tenant_id": db.tenant(),
            "subject_type": subject.type,
            "subject_id": subject.id,
            "relationship_type": relationship_type,
            "object_type": obj.type,
            "object_id": obj.id,
            "metadata": metadata or {},
            "valid_from": db.now(),
            "valid_to": None,
            "created_by_event_id": event_id,
        }
        async with db.write() as conn:
            result = await conn.execute(relationship_insert(db.dialect), [row])
        return bool(result.rowcount == 1)

    async def end(self, subject: EntityRef, relationship_type: str, obj: EntityRef) -> None:
        """End the current ``subject --relationship_type--> obj`` (kept as history).

        A relationship that is not current is left alone.
        """
        db = self.database
        async with db.write() as conn:
            await conn.execute(
                update(RELS)
                .where(
                    RELS.c.tenant_id == db.tenant(),
                    RELS.c.subject_type == subject.type,
                    RELS.c.subject_id == subject.id,
                    RELS.c.relationship_type == relationship_type,
                    RELS.c.object_type == obj.type,
                    RELS.c.object_id == obj.id,
                    RELS.c.valid_to.is_(None),
                )
                .values(valid_to=db.now())
            )

    @staticmethod
    async def end_outgoing(
        conn: AsyncConnection, tenant: str, ref: EntityRef, at: datetime
    ) -> None:
        """End every current relationship whose subject is ``ref``, inside the caller's
        transaction ``conn`` (a deleted or erased entity)."""
        await conn.execute(end_outgoing_relationships(tenant, ref, at))

    async def relationships(
        self,
        ref: EntityRef,
        *,
        direction: GraphDirection | str = "out",
        include_history: bool = False,
    ) -> list[RelationshipRecord]:
        """Relationships of ``ref`` (``out``: it is the subject; ``in``: the object)."""
        way = direction_of(direction)
        as_subject = (RELS.c.subject_type == ref.type) & (RELS.c.subject_id == ref.id)
        as_object = (RELS.c.object_type == ref.type) & (RELS.c.object_id == ref.id)
        where = {"out": as_subject, "in": as_object, "both": or_(as_subject, as_object)}[way]
        query = select(RELS).where(RELS.c.tenant_id == self.database.tenant(), where)
        if not include_history:
            query = query.where(RELS.c.valid_to.is_(None))
        query = query.order_by(RELS.c.valid_from, RELS.c.id)
        async with self.database.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            RelationshipRecord(
                subject=EntityRef(type=r.subject_type, id=r.subject_id),
                relationship_type=r.relationship_type,
                object=EntityRef(type=r.object_type, id=r.object_id),
                metadata=r._mapping["metadata"] or {},
                valid_from=r.valid_from,
                valid_to=r.valid_to,
                created_by_event_id=r.created_by_event_id,
            )
            for r in rows
        ]

    async def walk(
        self,
        root: EntityRef,
        *,
        max_depth: int = 3,
        direction: GraphDirection | str = "both",
        limit: int = 1000,
    ) -> RelationshipGraph:
        """Entities within ``max_depth`` hops of ``root`` over current relationships.

        ``direction``: ``out`` follows subject→object, ``in`` object→subject, ``both`` either
        (``outgoing``/``incoming`` are accepted too). Each node appears once with its
        minimum depth; ``edges`` are all current relationships among the returned nodes.
        At most ``limit`` nodes: by depth, then ``(type, id)`` in code-point order (a
        breadth-first search, see ``_graph``); ``truncated`` is true exactly when more
        than ``limit`` nodes lie within ``max_depth``.
        Raises :class:`EntityNotFound` if ``root`` is neither registered nor related.
        """
        way = direction_of(direction)
        if not isinstance(max_depth, int) or not 1 <= max_depth <= MAX_GRAPH_DEPTH:
            raise ValidationError(
                f"max_depth must be between 1 and {MAX_GRAPH_DEPTH}", max_depth=max_depth
            )
        check_limit(limit, MAX_GRAPH_LIMIT, "graph")
        tenant = self.database.tenant()
        async with self.database.read() as conn:
            rows = await walk_graph(
                conn,
                tenant=tenant,
                root_type=root.type,
                root_id=root.id,
                direction=way,
                max_depth=max_depth,
                limit=limit,
                timeout_seconds=self.timeout_seconds,
            )
            if len(rows.nodes) <= 1 and not await _known(conn, tenant, root):
                raise EntityNotFound(root.type, root.id)
        return _graph_of(root, rows, max_depth, way)


def _graph_of(
    root: EntityRef, rows: GraphRows, max_depth: int, direction: GraphDirection
) -> RelationshipGraph:
    """The response model, built in one validation call (thousands of edges: this is the
    costly part of a walk in Python). One :class:`EntityRef` per kept node, shared by the
    edges that touch it (every edge joins two kept nodes)."""
    refs = {(t, i): EntityRef(type=t, id=i) for t, i, _ in rows.nodes}
    return RelationshipGraph.model_validate(
        {
            "root": root,
            "nodes": [{"type": t, "id": i, "depth": d} for t, i, d in rows.nodes],
            "edges": [
                {"subject": refs[st, si], "relationship_type": rel, "object": refs[ot, oi]}
                for st, si, rel, ot, oi in rows.edges
            ],
            "max_depth": max_depth,
            "direction": direction,
            "truncated": rows.truncated,
        }
    )


def direction_of(direction: str) -> GraphDirection:
    """``direction`` as ``out``/``in``/``both`` (``outgoing``/``incoming`` accepted too)."""
    way = cast("GraphDirection | None", _DIRECTIONS.get(direction))
    if way is None:
        raise ValidationError(
            f"unknown direction {direction!r}: use one of {list(get_args(GraphDirection))}",
            direction=direction,
        )
    return way


async def _known(conn: AsyncConnection, tenant: str, ref: EntityRef) -> bool:
    """Registered, or an end of some current relationship."""
    registered = await conn.execute(
        select(ENTITY.c.id).where(
            ENTITY.c.tenant_id == tenant,
            ENTITY.c.entity_type == ref.type,
            ENTITY.c.entity_id == ref.id,
        )
    )
    if registered.first() is not None:
        return True
    as_subject = (RELS.c.subject_type == ref.type) & (RELS.c.subject_id == ref.id)
    as_object = (RELS.c.object_type == ref.type) & (RELS.c.object_id == ref.id)
    related = await conn.execute(
        select(RELS.c.id)
        .where(RELS.c.tenant_id == tenant, RELS.c.valid_to.is_(None), or_(as_subject, as_object))
        .limit(1)
    )
    return related.first() is not None


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValidationError(
            f"{what} must match {_NAME.pattern} (lowercase letters, digits, '_')", value=value
        )
    return value
