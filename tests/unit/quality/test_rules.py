"""Every rule type over a SQLite catalog, on ingest and on a run; store, history, score."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.quality_support import bad_data, event, good_data, ingest, settings

from dictamesh.catalog import CatalogService
from dictamesh.core.errors import ValidationError
from dictamesh.core.models import EventType
from dictamesh.quality.evaluator import QUALITY_TOPIC, QualityEvaluator
from dictamesh.quality.store import QualityStore
from dictamesh.quality.streaming import IngestChecker


class _Relay:
    """Collects offered events (the real relay publishes them; node tests cover that)."""

    def __init__(self) -> None:
        self.offered: list[tuple[str, dict[str, object]]] = []

    def offer(self, topic: str, *, key: str | None, body: dict[str, object]) -> None:
        self.offered.append((topic, body))


def _evaluator(
    catalog: CatalogService, relay: _Relay | None = None, **kw: object
) -> QualityEvaluator:
    return QualityEvaluator(
        catalog.database,
        settings(**kw),
        node="test",
        relay=relay,  # type: ignore[arg-type]
    )


async def test_clean_data_passes_every_rule(sqlite_catalog: CatalogService) -> None:
    await ingest(sqlite_catalog, good_data())
    run = await _evaluator(sqlite_catalog).run("default")
    by_id = {r.rule_id: r for r in run.results}
    assert len(by_id) == 9
    assert [r.rule_id for r in run.results if not r.passed] == []
    assert by_id["invoice-status"].checked == 2
    assert by_id["invoice-paid-total"].checked == 1  # where: status = paid
    assert by_id["invoice-rows"].observed == 2.0
    scores = await QualityStore(sqlite_catalog.database).scores("default")
    assert {t: s.score for t, s in scores.items()} == {"customer": 1.0, "invoice": 1.0}


async def test_each_rule_type_finds_its_failures(sqlite_catalog: CatalogService) -> None:
    await ingest(sqlite_catalog, good_data() + bad_data())
    relay = _Relay()
    run = await _evaluator(sqlite_catalog, relay, sample_size=5).run("default")
    failed = {r.rule_id: r for r in run.results if not r.passed}
    assert failed["customer-email"].sample == ["c3"]
    assert failed["customer-email-unique"].sample == ["c1", "c4"]
    assert failed["customer-email-shape"].sample == ["c5"]
    assert failed["invoice-status"].sample == ["i3"]
    assert failed["invoice-total"].sample == ["i3", "i4"]  # too big; not a number
    assert failed["invoice-customer-exists"].sample == ["i3"]
    assert failed["invoice-paid-total"].sample == ["i5"]
    assert set(failed) == {
        "customer-email",
        "customer-email-unique",
        "customer-email-shape",
        "invoice-status",
        "invoice-total",
        "invoice-customer-exists",
        "invoice-paid-total",
    }
    # one event per rule turning failing, with ids and counts, never a value
    assert sorted(b["rule_id"] for _, b in relay.offered) == sorted(failed)
    assert {t for t, _ in relay.offered} == {QUALITY_TOPIC}
    assert "ada@example.com" not in repr(relay.offered)
    assert "not-an-email" not in repr([r.as_dict() for r in run.results])
    # still failing next time: no new event (transitions only)
    relay.offered.clear()
    await _evaluator(sqlite_catalog, relay, sample_size=5).run("default")
    assert relay.offered == []
    scores = await QualityStore(sqlite_catalog.database).scores("default")
    # customer: 3 rules (error 3 + 3, warn 1), all failing
    assert scores["customer"].score == 0.0
    # invoice: passing: fresh (3) + rows (3) of 3+3+3+1+3+3 = 16
    assert scores["invoice"].score == round(6 / 16, 4)
    assert scores["invoice"].failed_errors == 3


async def test_referential_integrity_fails_when_the_customer_is_deleted(
    sqlite_catalog: CatalogService,
) -> None:
    await ingest(sqlite_catalog, good_data())
    relay = _Relay()
    evaluator = _evaluator(sqlite_catalog, relay)
    assert all(
        r.passed
        for r in (await evaluator.run("default", rule_ids=["invoice-customer-exists"])).results
    )
    await ingest(
        sqlite_catalog,
        [event("customer", "c2", None, version=2, event_type=EventType.DELETED)],
    )
    run = await evaluator.run("default", rule_ids=["invoice-customer-exists"])
    (result,) = run.results
    assert (result.passed, result.failing, result.sample) == (False, 1, ["i2"])
    assert [b["rule_id"] for _, b in relay.offered] == ["invoice-customer-exists"]


async def test_freshness_and_row_count_change(sqlite_catalog: CatalogService) -> None:
    store = QualityStore(sqlite_catalog.database)
    evaluator = _evaluator(sqlite_catalog)
    (empty,) = (await evaluator.run("default", rule_ids=["invoice-fresh"])).results
    assert not empty.passed  # no invoice at all is not fresh
    await ingest(sqlite_catalog, good_data())
    (fresh,) = (await evaluator.run("default", rule_ids=["invoice-fresh"])).results
    assert fresh.passed
    assert fresh.observed is not None
    assert fresh.observed < 3600
    old = evaluator.settings.model_copy(deep=True)
    old.rules["invoice"][4] = old.rules["invoice"][4].model_copy(
        update={"max_age": timedelta(microseconds=1)}
    )
    (stale,) = (
        await QualityEvaluator(sqlite_catalog.database, old, node="t").run(
            "default", rule_ids=["invoice-fresh"]
        )
    ).results
    assert not stale.passed

    (base,) = (await evaluator.run("default", rule_ids=["invoice-rows"])).results
    assert base.passed
    assert base.observed == 2
    more = [
        event("invoice", f"n{i}", {"customer_id": "c1", "status": "open", "total": 1})
        for i in range(3)
    ]
    await ingest(sqlite_catalog, more)  # 2 -> 5: +150 %
    (grown,) = (await evaluator.run("default", rule_ids=["invoice-rows"])).results
    assert not grown.passed
    assert grown.observed == 5
    (steady,) = (await evaluator.run("default", rule_ids=["invoice-rows"])).results
    assert steady.passed  # compared with the last run, not the first
    history = await store.history("default", "invoice")
    assert [r.rule_id for r in history][:3] == ["invoice-rows"] * 3


async def test_unknown_rule_id_is_refused_before_anything_runs(
    sqlite_catalog: CatalogService,
) -> None:
    with pytest.raises(ValidationError, match="unknown quality rule"):
        await _evaluator(sqlite_catalog).run("default", rule_ids=["nope"])
    assert await QualityStore(sqlite_catalog.database).runs("default") == []


async def test_history_is_bounded(sqlite_catalog: CatalogService) -> None:
    evaluator = _evaluator(sqlite_catalog, history_runs=3)
    for _ in range(5):
        await evaluator.run("default", rule_ids=["invoice-status"])
    store = QualityStore(sqlite_catalog.database)
    assert len(await store.runs("default")) == 3
    assert len(await store.history("default", "invoice")) == 3


async def test_tenants_are_evaluated_apart(sqlite_catalog: CatalogService) -> None:
    await ingest(sqlite_catalog, good_data())
    await ingest(
        sqlite_catalog,
        [event("invoice", "x", {"customer_id": "c1", "status": "open", "total": 1}, tenant="acme")],
    )
    runs = await _evaluator(sqlite_catalog).run_all(rule_ids=["invoice-customer-exists"])
    by_tenant = {r.tenant: r.results[0] for r in runs}
    assert by_tenant["default"].passed
    assert not by_tenant["acme"].passed  # acme has no customer c1


async def test_ingest_checker_aggregates_per_rule(sqlite_catalog: CatalogService) -> None:
    checker = IngestChecker(settings(sample_size=1))
    checker.ingested(await ingest(sqlite_catalog, good_data() + bad_data()))
    counts = checker.snapshot()
    assert counts[("default", "customer-email")] == (5, 1)
    assert counts[("default", "invoice-total")] == (5, 2)
    assert counts[("default", "invoice-status")] == (5, 1)
    assert counts[("default", "invoice-paid-total")] == (3, 1)
    assert ("default", "invoice-customer-exists") not in counts  # a set rule
    (run,) = checker.drain(node="n")
    total = {r.rule_id: r for r in run.results}["invoice-total"]
    assert (total.failing, total.sample) == (2, ["i3"])  # sample bounded
    assert checker.snapshot() == {}
    store = QualityStore(sqlite_catalog.database)
    await store.save(run, keep=10)
    assert {r.rule_id for r in await store.latest("default", ingest=True)} == set(total_ids(run))
    assert await store.latest("default") == []  # ingest counts are not scored


def total_ids(run: object) -> list[str]:
    return [r.rule_id for r in run.results]  # type: ignore[attr-defined]
