"""The search indexer end to end, from catalog ingest to vectors, on SQLite and PostgreSQL.

Events go through the real :class:`CatalogIngestor`; its committed outcome feeds the
indexer as the node's ``on_outcome`` hook does; the provider is the deterministic
:class:`tests.search_support.HashingProvider`.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from dictamesh.catalog import CatalogService
from dictamesh.catalog.ingest import CatalogIngestor
from dictamesh.core.models import (
    ChangeEvent,
    Classification,
    EntityRef,
    EntitySchema,
    EntityVersionRef,
    EventType,
    FieldSpec,
    FieldType,
    SourceRef,
)
from dictamesh.governance.enforce import default_policy
from dictamesh.governance.erasure import erase_entity
from dictamesh.search.fields import FieldChooser
from dictamesh.search.indexer import SearchIndexer
from dictamesh.search.metrics import IndexerMetrics
from dictamesh.search.store import VectorStore, erase_vectors
from tests.search_support import HashingProvider, hashed_vector

DIMS = 256
CUSTOMER = EntitySchema(
    entity_type="customer",
    domain="crm",
    fields=[
        FieldSpec(name="id", type=FieldType.STRING, required=True),
        FieldSpec(name="name", type=FieldType.STRING),
        FieldSpec(name="city", type=FieldType.STRING),
        FieldSpec(name="email", type=FieldType.STRING, classification=Classification.PII_EMAIL),
        FieldSpec(name="visits", type=FieldType.INTEGER),
    ],
)
TOPIC = "crm.directus.entity_changed"
_versions = itertools.count(1)


def change(
    entity_id: str,
    *,
    deleted: bool = False,
    tenant: str | None = None,
    **attrs: Any,
) -> tuple[ChangeEvent, str]:
    after = None if deleted else {"id": entity_id, **attrs}
    event = ChangeEvent(
        event_type=EventType.DELETED if deleted else EventType.UPDATED,
        entity=EntityVersionRef(type="customer", id=entity_id, version=next(_versions)),
        source=SourceRef(domain="crm", system="directus"),
        after=after,
        tenant_id=tenant,
    )
    return event, TOPIC


class Harness:
    def __init__(self, catalog: CatalogService, provider: HashingProvider, **options: Any):
        self.catalog = catalog
        self.provider = provider
        self.ingestor = CatalogIngestor(catalog, {"customer": CUSTOMER})
        self.store = VectorStore(
            catalog.database, provider=provider.name, model=provider.model, dimensions=DIMS
        )
        self.metrics = IndexerMetrics(None)
        self.indexer = SearchIndexer(
            catalog.database,
            self.store,
            provider,
            FieldChooser(default_policy(), {}),
            lambda: {"customer": CUSTOMER},
            chunk_chars=200,
            chunk_overlap=20,
            metrics=self.metrics,
            min_backoff=0.01,
            max_backoff=0.05,
            **options,
        )

    async def ingest(self, *events: tuple[ChangeEvent, str], notify: bool = True) -> None:
        outcome = await self.ingestor.apply_batch(list(events))
        if notify:
            self.indexer.ingested(outcome)

    async def ingest_and_drain(self, *events: tuple[ChangeEvent, str]) -> Any:
        await self.ingest(*events)
        return await self.indexer.drain()

    async def nearest(self, text: str, tenant: str = "default", **kw: Any) -> list[Any]:
        return await self.store.nearest(hashed_vector(text, DIMS), tenant=tenant, limit=10, **kw)

    def counted(self, outcome: str) -> float:
        return self.metrics.embeddings.labels(outcome)._value.get()


class SearchIndexerContract:
    @pytest.fixture
    def provider(self) -> HashingProvider:
        return HashingProvider(DIMS)

    @pytest.fixture
    def harness(self, catalog: CatalogService, provider: HashingProvider) -> Harness:
        return Harness(catalog, provider)

    async def test_an_ingested_change_gets_a_vector(self, harness: Harness) -> None:
        report = await harness.ingest_and_drain(change("c1", name="Acme Corp", city="Berlin"))
        assert (report.embedded, harness.indexer.pending) == (1, 0)
        hits = await harness.nearest("acme corp berlin")
        assert [h.entity_id for h in hits] == ["c1"]
        assert hits[0].score > 0.8
        assert hits[0].domain == "crm"
        assert harness.provider.texts == ["customer Acme Corp Berlin"]
        assert harness.counted("embedded") == 1

    async def test_an_embedded_field_change_re_embeds(self, harness: Harness) -> None:
        await harness.ingest_and_drain(change("c1", name="Acme Corp", city="Berlin"))
        report = await harness.ingest_and_drain(change("c1", name="Acme Corp", city="Lisbon"))
        assert report.embedded == 1
        assert [h.entity_id for h in await harness.nearest("lisbon")] == ["c1"]
        assert (await harness.nearest("berlin"))[0].score < 0.5
        assert harness.provider.texts[-1] == "customer Acme Corp Lisbon"

    async def test_a_change_of_a_field_not_embedded_does_not_re_embed(
        self, harness: Harness
    ) -> None:
        await harness.ingest_and_drain(change("c1", name="Acme", email="a@acme.example"))
        calls = harness.provider.calls
        report = await harness.ingest_and_drain(
            change("c1", name="Acme", email="b@acme.example", visits=3)
        )
        assert (report.embedded, report.unchanged) == (0, 1)
        assert harness.provider.calls == calls
        assert harness.counted("unchanged") == 1

    async def test_a_deleted_entity_loses_its_vectors(self, harness: Harness) -> None:
        await harness.ingest_and_drain(change("c1", name="Acme"), change("c2", name="Acme Two"))
        report = await harness.ingest_and_drain(change("c1", deleted=True))
        assert report.deleted == 1
        assert [h.entity_id for h in await harness.nearest("acme")] == ["c2"]
        assert await harness.store.vectors_of("customer", "c1") == []

    async def test_erasure_removes_the_vectors_in_its_transaction(self, harness: Harness) -> None:
        await harness.ingest_and_drain(change("c1", name="Acme"))
        await erase_entity(
            harness.catalog, None, EntityRef(type="customer", id="c1"), steps=[erase_vectors]
        )
        assert await harness.store.count() == 0
        assert await harness.nearest("acme") == []
        # and a reconcile does not bring them back (the row is deleted, its snapshot empty)
        await harness.indexer.reconcile()
        assert await harness.store.count() == 0

    async def test_repeated_changes_are_embedded_once_in_their_latest_state(
        self, harness: Harness
    ) -> None:
        for city in ("Berlin", "Paris", "Lisbon"):
            await harness.ingest(change("c1", name="Acme", city=city))
        assert harness.indexer.pending == 1
        report = await harness.indexer.drain()
        assert report.embedded == 1
        assert harness.provider.texts == ["customer Acme Lisbon"]

    async def test_tenants_are_indexed_apart(self, harness: Harness) -> None:
        await harness.ingest_and_drain(
            change("c1", name="Acme Berlin", tenant="acme"),
            change("c1", name="Globex Paris", tenant="globex"),
        )
        acme = await harness.nearest("globex paris", tenant="acme")
        assert [(h.entity_id, h.score < 0.5) for h in acme] == [("c1", True)]
        globex = await harness.nearest("globex paris", tenant="globex")
        assert globex[0].score > 0.8
        assert await harness.store.count(tenant="acme") == 1

    async def test_a_masked_value_is_never_embedded_and_never_moves_a_score(
        self, harness: Harness
    ) -> None:
        secret = "zebra-secret@hidden.example"
        await harness.ingest_and_drain(
            change("c1", name="Acme", city="Berlin", email=secret),
            change("c2", name="Acme", city="Berlin", email="other@plain.example"),
        )
        assert not any("zebra" in t or "@" in t for t in harness.provider.texts)
        before = await harness.nearest(f"acme {secret}")
        # identical but for the masked field: identical scores, ordered by id only
        assert [h.entity_id for h in before] == ["c1", "c2"]
        assert before[0].score == pytest.approx(before[1].score, abs=1e-6)
        await harness.ingest_and_drain(change("c2", name="Acme", city="Berlin", email=secret))
        after = await harness.nearest(f"acme {secret}")
        assert [(h.entity_id, h.score) for h in after] == [(h.entity_id, h.score) for h in before]
        assert await harness.store.vectors_of("customer", "c1") == await harness.store.vectors_of(
            "customer", "c2"
        )

    async def test_provider_failures_are_retried_without_losing_entries(
        self, harness: Harness
    ) -> None:
        harness.provider.fail_calls = 2
        report = await harness.ingest_and_drain(change("c1", name="Acme"), change("c2", name="B"))
        assert report.embedded == 2
        assert harness.indexer.failures == 2
        assert harness.counted("failed") == 4  # two entities, twice
        assert harness.indexer.pending == 0
        assert await harness.store.count() == 2

    async def test_reconcile_embeds_what_was_missed_and_drops_what_is_gone(
        self, harness: Harness
    ) -> None:
        # a crash between ingest and embedding: nothing was queued
        await harness.ingest(change("c1", name="Acme"), change("c2", name="Beta"), notify=False)
        report = await harness.indexer.reconcile()
        assert (report.embedded, report.deleted) == (2, 0)
        await harness.ingest(change("c1", deleted=True), notify=False)
        report = await harness.indexer.reconcile()
        assert (report.embedded, report.unchanged, report.deleted) == (0, 1, 1)
        assert [h.entity_id for h in await harness.nearest("beta")] == ["c2"]

    async def test_a_model_change_is_re_embedded_by_reconcile(
        self, catalog: CatalogService, harness: Harness
    ) -> None:
        await harness.ingest_and_drain(change("c1", name="Acme"))
        newer = Harness(catalog, HashingProvider(DIMS, model="words-v2"))
        assert await newer.nearest("acme") == []  # the old model's vectors are not compared
        report = await newer.indexer.reconcile()
        assert report.embedded == 1
        assert [h.entity_id for h in await newer.nearest("acme")] == ["c1"]
        assert (await newer.indexer.reconcile()).embedded == 0

    async def test_a_full_queue_drops_keys_and_reconcile_finds_them(
        self, catalog: CatalogService, provider: HashingProvider
    ) -> None:
        harness = Harness(catalog, provider, max_pending=2)
        await harness.ingest(*(change(f"c{i}", name=f"name{i}") for i in range(5)))
        assert (harness.indexer.pending, harness.indexer.dropped) == (2, 3)
        await harness.indexer.drain()
        assert await harness.store.count() == 2
        await harness.indexer.reconcile()
        assert await harness.store.count() == 5

    async def test_long_text_is_chunked_and_scored_by_its_best_chunk(
        self, harness: Harness
    ) -> None:
        filler = " ".join(f"filler{i}" for i in range(80))
        await harness.ingest_and_drain(change("c1", name=filler + " kangaroo wallaby"))
        assert await harness.store.count() > 1
        hits = await harness.nearest("kangaroo wallaby")
        assert [h.entity_id for h in hits] == ["c1"]

    async def test_a_change_committed_while_embedding_is_embedded_again(
        self, harness: Harness
    ) -> None:
        await harness.ingest(change("c1", name="Acme"))
        provider = harness.provider
        original = provider.embed

        async def embed_then_change(texts: Any) -> list[list[float]]:
            provider.embed = original  # type: ignore[method-assign]
            await harness.ingest(change("c1", name="Zeta"))  # lands mid-embedding
            return await original(texts)

        provider.embed = embed_then_change  # type: ignore[method-assign]
        report = await harness.indexer.drain()
        assert report.requeued == 1
        assert report.embedded == 2
        assert provider.texts == ["customer Acme", "customer Zeta"]
        assert (await harness.nearest("zeta"))[0].score > 0.6

    async def test_a_refused_text_is_skipped_and_the_rest_of_its_batch_embedded(
        self, harness: Harness
    ) -> None:
        await harness.ingest_and_drain(change("c1", name="Acme"))
        harness.provider.refuse = "poison"
        report = await harness.ingest_and_drain(
            change("c1", name="poison"), change("c2", name="Beta"), change("c3", name="Gamma")
        )
        assert report.embedded == 2
        assert harness.indexer.pending == 0
        assert harness.counted("failed") == 1
        # c1's old vectors stood for a text that is gone
        assert await harness.store.vectors_of("customer", "c1") == []
        assert {h.entity_id for h in await harness.nearest("beta gamma")} == {"c2", "c3"}
