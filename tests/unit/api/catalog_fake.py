"""A stand-in for CatalogService's read side, recording how it was called."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from tests.unit.gateway.fakes import MemoryAdapter

from dictamesh.core.errors import EntityNotFound, NotFoundError, ValidationError
from dictamesh.core.models import EntityRef, EntitySchema


class Location(BaseModel):
    entity_type: str
    entity_id: str
    domain: str
    system: str
    version: int = 1


class Graph(BaseModel):
    root: EntityRef
    nodes: list[EntityRef]
    depth: int
    direction: str


class FakeCatalog:
    def __init__(self) -> None:
        self.locations: dict[tuple[str, str], Location] = {}
        self.schemas: dict[str, list[EntitySchema]] = {}
        self.events: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: BaseException | None = None

    @classmethod
    def from_adapters(cls, adapters: list[MemoryAdapter]) -> FakeCatalog:
        catalog = cls()
        for adapter in adapters:
            for entity_id in adapter.records:
                catalog.locations[(adapter.entity_type, entity_id)] = Location(
                    entity_type=adapter.entity_type,
                    entity_id=entity_id,
                    domain=adapter.source.domain,
                    system=adapter.source.system,
                )
            catalog.schemas[adapter.entity_type] = [adapter.schema]
        catalog.events.append(
            {"entity_type": "customer", "entity_id": "c-1", "event_type": "UPDATED", "timestamp": 1}
        )
        return catalog

    def _record(self, method: str, **kwargs: Any) -> None:
        self.calls.append((method, kwargs))
        if self.fail is not None:
            raise self.fail

    async def get_entity_location(self, entity_type: str, entity_id: str) -> Location:
        self._record("get_entity_location", entity_type=entity_type, entity_id=entity_id)
        try:
            return self.locations[(entity_type, entity_id)]
        except KeyError:
            raise EntityNotFound(entity_type, entity_id) from None

    async def list_entities(
        self, entity_type: str | None = None, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Location], str | None]:
        self._record("list_entities", entity_type=entity_type, limit=limit, cursor=cursor)
        found = [loc for (t, _), loc in self.locations.items() if entity_type in (None, t)]
        return found[:limit], None

    async def query_relationship_graph(
        self,
        root: EntityRef,
        *,
        max_depth: int = 3,
        direction: str = "both",
        limit: int = 1000,
    ) -> Graph:
        self._record(
            "query_relationship_graph",
            root=root,
            max_depth=max_depth,
            direction=direction,
            limit=limit,
        )
        if direction not in ("both", "outgoing", "incoming"):
            raise ValidationError(f"unknown direction {direction!r}")
        if (root.type, root.id) not in self.locations:
            raise EntityNotFound(root.type, root.id)
        return Graph(root=root, nodes=[root], depth=max_depth, direction=direction)

    async def get_lineage(self, entity_type: str, entity_id: str | None = None) -> dict[str, Any]:
        self._record("get_lineage", entity_type=entity_type, entity_id=entity_id)
        return {"entity_type": entity_type, "entity_id": entity_id, "edges": []}

    async def get_event_log(
        self,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        limit: int = 100,
        since_ms: int | None = None,
    ) -> list[dict[str, Any]]:
        self._record(
            "get_event_log",
            entity_type=entity_type,
            entity_id=entity_id,
            limit=limit,
            since_ms=since_ms,
        )
        return [
            e
            for e in self.events
            if e["entity_type"] == entity_type and e["entity_id"] == entity_id
        ][:limit]

    async def get_schema(self, entity_type: str, version: int | None = None) -> EntitySchema:
        self._record("get_schema", entity_type=entity_type, version=version)
        versions = self.schemas.get(entity_type)
        if not versions:
            raise NotFoundError(f"no schema for {entity_type!r}", subject=entity_type)
        if version is None:
            return versions[-1]
        for schema in versions:
            if schema.version == version:
                return schema
        raise NotFoundError(f"no version {version} of {entity_type!r}", subject=entity_type)
