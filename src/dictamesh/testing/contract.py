"""AdapterContractSuite: the checks every data product adapter must pass.

Subclass it in a test module (the name must start with ``Test``) and provide two fixtures:
``adapter`` (a connected adapter over a test source — a MockTransport, respx, or a sample
server) and ``known_id`` (an id that source holds). Override ``unknown_id`` or
``malformed_id`` if the defaults do not suit your source.

Example::

    from dictamesh.testing.contract import AdapterContractSuite

    class TestCrmContract(AdapterContractSuite):
        @pytest.fixture
        async def adapter(self):
            async with CrmAdapter(config, client=mock_client) as adapter:
                yield adapter

        @pytest.fixture
        def known_id(self) -> str:
            return "c-1"
"""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from dictamesh.adapters.contract import DataProductAdapter
from dictamesh.core.errors import EntityNotFound, ValidationError
from dictamesh.core.models import (
    MAX_QUERY_LIMIT,
    SLA,
    AdapterMetrics,
    Entity,
    EntitySchema,
    HealthStatus,
    Lineage,
    Page,
    Query,
)

__all__ = ["AdapterContractSuite"]

#: most pages the pagination check follows before calling the cursor broken
MAX_PAGES = 1_000


class AdapterContractSuite:
    """Contract checks; ``pytest`` collects them in every ``Test*`` subclass."""

    page_size = 2
    """Page size of the pagination check (small, so several pages are visited)."""

    @pytest.fixture
    def adapter(self) -> DataProductAdapter:
        raise NotImplementedError("provide an `adapter` fixture in your subclass")

    @pytest.fixture
    def known_id(self) -> str:
        raise NotImplementedError("provide a `known_id` fixture in your subclass")

    @pytest.fixture
    def unknown_id(self) -> str:
        return "dictamesh-contract-missing-0"

    @pytest.fixture
    def malformed_id(self) -> str:
        return "../not an id"

    # --- reads --------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_get_entity_returns_type_and_id(
        self, adapter: DataProductAdapter, known_id: str
    ) -> None:
        entity = await adapter.get_entity(known_id)
        assert isinstance(entity, Entity)
        assert entity.type == adapter.entity_type
        assert entity.id == known_id
        assert entity.source == adapter.source

    @pytest.mark.asyncio
    async def test_unknown_id_is_entity_not_found(
        self, adapter: DataProductAdapter, unknown_id: str
    ) -> None:
        with pytest.raises(EntityNotFound):
            await adapter.get_entity(unknown_id)

    @pytest.mark.asyncio
    async def test_malformed_id_is_validation_error(
        self, adapter: DataProductAdapter, malformed_id: str
    ) -> None:
        with pytest.raises(ValidationError):
            await adapter.get_entity(malformed_id)

    @pytest.mark.asyncio
    async def test_get_entities_aligned_with_none_for_missing(
        self, adapter: DataProductAdapter, known_id: str, unknown_id: str
    ) -> None:
        found = await adapter.get_entities([unknown_id, known_id, known_id])
        assert len(found) == 3
        assert found[0] is None
        assert found[1] is not None
        assert found[1].id == known_id
        assert found[2] is not None
        assert found[2].id == known_id
        assert await adapter.get_entities([]) == []

    def test_query_limit_above_max_is_refused(self) -> None:
        with pytest.raises(pydantic.ValidationError):
            Query(limit=MAX_QUERY_LIMIT + 1)

    @pytest.mark.asyncio
    async def test_pagination_visits_every_item_once(
        self, adapter: DataProductAdapter, known_id: str
    ) -> None:
        seen: list[str] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await adapter.query_entities(Query(limit=self.page_size, cursor=cursor))
            assert isinstance(page, Page)
            assert len(page.items) <= self.page_size
            assert all(e.type == adapter.entity_type for e in page.items)
            seen.extend(e.id for e in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        else:
            pytest.fail(f"pagination did not end within {MAX_PAGES} pages")
        assert len(seen) == len(set(seen)), "an item appeared on two pages"
        assert known_id in seen
        if len(seen) <= MAX_QUERY_LIMIT:
            whole = await adapter.query_entities(Query(limit=MAX_QUERY_LIMIT))
            assert {e.id for e in whole.items} == set(seen)

    # --- descriptors --------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_schema_describes_attributes(
        self, adapter: DataProductAdapter, known_id: str
    ) -> None:
        schema = adapter.get_schema()
        assert isinstance(schema, EntitySchema)
        assert schema.entity_type == adapter.entity_type
        entity = await adapter.get_entity(known_id)
        declared = {f.name for f in schema.fields} | set(schema.nested)
        missing = [f.name for f in schema.fields if f.required and f.name not in entity.attributes]
        assert not missing, f"required fields missing from {known_id!r}: {missing}"
        undeclared = sorted(set(entity.attributes) - declared)
        assert not undeclared, f"attributes not declared in the schema: {undeclared}"

    def test_sla_is_well_formed(self, adapter: DataProductAdapter) -> None:
        sla = adapter.get_sla()
        assert isinstance(sla, SLA)
        assert sla.freshness_seconds > 0
        assert 0 < sla.availability_target <= 1

    def test_lineage_is_well_formed(self, adapter: DataProductAdapter) -> None:
        lineage = adapter.get_lineage()
        assert isinstance(lineage, Lineage)
        assert lineage.entity_type == adapter.entity_type
        assert lineage.edges, "lineage needs at least the source → data product edge"
        assert any(e.downstream.name.endswith(adapter.entity_type) for e in lineage.edges)

    # --- operations ---------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_health_check_returns_status(self, adapter: DataProductAdapter) -> None:
        status = await adapter.health_check()
        assert isinstance(status, HealthStatus)

    @pytest.mark.asyncio
    async def test_metrics_count_reads(self, adapter: DataProductAdapter, known_id: str) -> None:
        before = adapter.get_metrics()
        await adapter.get_entity(known_id)
        after = adapter.get_metrics()
        assert isinstance(after, AdapterMetrics)
        assert after.adapter == adapter.name

        def reads(m: AdapterMetrics) -> Any:
            return m.calls + m.cache_hits + m.cache_misses

        assert reads(after) > reads(before)
