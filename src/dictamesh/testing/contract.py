"""AdapterContractSuite: the checks every data product adapter must pass; WriteContractSuite:
the checks of an adapter that writes (capabilities ``WRITE`` / ``COMMANDS``).

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

**Writes.** An adapter offering ``WRITE`` or ``COMMANDS`` also subclasses
:class:`WriteContractSuite` with fixtures ``adapter``, ``write_call`` (an async callable
``(idempotency_key) -> WriteResult`` making one write with a real effect at the source) and
``effect_count`` (an async callable counting the effects applied at the source). Override
``request_count`` (a callable counting requests sent to the source; default: the adapter's
``get_metrics().calls``) to count at the transport. The checks: the same key twice has one
effect, the same answer and the second is ``replayed``; a fresh key has a second effect; an
invalid key (``"bad key!"``, 1000 characters, empty) is ``InvalidInput`` (a 4xx) before any
source call; every write the capabilities do not offer, and an unknown command, is
:class:`~dictamesh.core.errors.OperationNotSupported` before any source call::

    class TestPaymentsWrites(WriteContractSuite):
        @pytest.fixture
        def write_call(self, adapter):
            async def charge(key: str) -> WriteResult:
                return await adapter.run_command("charge", {"amount_cents": 500, ...},
                                                 idempotency_key=key)
            return charge

        @pytest.fixture
        def effect_count(self, source):
            async def count() -> int:
                return source.effects("charge")
            return count
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pydantic
import pytest

from dictamesh.adapters.contract import AdapterCapability, DataProductAdapter, WriteResult
from dictamesh.core.errors import EntityNotFound, OperationNotSupported, ValidationError
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

__all__ = [
    "AdapterContractSuite",
    "EffectCount",
    "RequestCount",
    "WriteCall",
    "WriteContractSuite",
    "fresh_key",
]

#: one write with a real effect at the source, under the given idempotency key
WriteCall = Callable[[str], Awaitable[WriteResult]]
#: how many effects the source has applied (of the kind ``WriteCall`` makes)
EffectCount = Callable[[], Awaitable[int]]
#: how many requests were sent to the source so far
RequestCount = Callable[[], int]

#: idempotency keys every adapter must refuse before calling its source
INVALID_KEYS = ("bad key!", "k" * 1000, "", "key\nwith-newline")

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


def fresh_key(label: str = "contract") -> str:
    """An idempotency key no source has seen."""
    return f"{label}-{uuid.uuid4().hex}"


class WriteContractSuite:
    """Write checks (module docstring); ``pytest`` collects them in every ``Test*`` subclass."""

    @pytest.fixture
    def adapter(self) -> DataProductAdapter:
        raise NotImplementedError("provide an `adapter` fixture in your subclass")

    @pytest.fixture
    def write_call(self) -> WriteCall:
        raise NotImplementedError("provide a `write_call` fixture in your subclass")

    @pytest.fixture
    def effect_count(self) -> EffectCount:
        raise NotImplementedError("provide an `effect_count` fixture in your subclass")

    @pytest.fixture
    def request_count(self, adapter: DataProductAdapter) -> RequestCount:
        return lambda: adapter.get_metrics().calls

    def test_write_capabilities_are_declared(self, adapter: DataProductAdapter) -> None:
        offered = adapter.capabilities & {AdapterCapability.WRITE, AdapterCapability.COMMANDS}
        assert offered, "a writing adapter declares WRITE and/or COMMANDS"
        if AdapterCapability.COMMANDS in adapter.capabilities:
            assert adapter.commands, "COMMANDS without any command in `commands`"

    @pytest.mark.asyncio
    async def test_same_key_twice_has_one_effect(
        self, adapter: DataProductAdapter, write_call: WriteCall, effect_count: EffectCount
    ) -> None:
        key = fresh_key()
        before = await effect_count()
        first = await write_call(key)
        second = await write_call(key)
        assert isinstance(first, WriteResult)
        assert await effect_count() - before == 1, "the same key twice had two effects"
        assert first.same_effect(second), "the replayed answer differs from the first"
        assert not first.replayed
        assert second.replayed, "the second answer is not marked replayed"
        if first.entity is not None:
            assert first.entity.type == adapter.entity_type

    @pytest.mark.asyncio
    async def test_fresh_key_has_a_new_effect(
        self, write_call: WriteCall, effect_count: EffectCount
    ) -> None:
        before = await effect_count()
        first = await write_call(fresh_key())
        second = await write_call(fresh_key())
        assert await effect_count() - before == 2, "two keys must make two effects"
        assert not first.replayed
        assert not second.replayed

    @pytest.mark.asyncio
    @pytest.mark.parametrize("key", INVALID_KEYS, ids=["space", "long", "empty", "newline"])
    async def test_invalid_key_is_refused_before_the_source(
        self,
        key: str,
        write_call: WriteCall,
        effect_count: EffectCount,
        request_count: RequestCount,
    ) -> None:
        effects = await effect_count()
        sent = request_count()
        with pytest.raises(ValidationError) as refused:
            await write_call(key)
        assert 400 <= refused.value.http_status < 500
        assert request_count() == sent, "an invalid key reached the source"
        assert await effect_count() == effects

    @pytest.mark.asyncio
    async def test_writes_not_offered_are_not_supported(
        self, adapter: DataProductAdapter, request_count: RequestCount
    ) -> None:
        sent = request_count()
        key = fresh_key()
        missing = "dictamesh-contract-missing-0"
        if AdapterCapability.WRITE not in adapter.capabilities:
            with pytest.raises(OperationNotSupported):
                await adapter.create_entity({}, idempotency_key=key)
            with pytest.raises(OperationNotSupported):
                await adapter.update_entity(missing, {}, idempotency_key=key)
            with pytest.raises(OperationNotSupported):
                await adapter.delete_entity(missing, idempotency_key=key)
        if AdapterCapability.COMMANDS not in adapter.capabilities:
            with pytest.raises(OperationNotSupported):
                await adapter.run_command("reserve", {}, idempotency_key=key)
        assert request_count() == sent

    @pytest.mark.asyncio
    async def test_unknown_command_is_not_supported_before_the_source(
        self, adapter: DataProductAdapter, request_count: RequestCount
    ) -> None:
        sent = request_count()
        with pytest.raises(OperationNotSupported) as refused:
            await adapter.run_command(
                "dictamesh-contract-no-such-command", {}, idempotency_key=fresh_key()
            )
        assert refused.value.http_status == 405
        assert request_count() == sent
