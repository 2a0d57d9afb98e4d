"""The ``governance`` settings group and a node's governance runtime."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from dictamesh.catalog.service import CatalogService
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import Classification
from dictamesh.core.principal import Principal
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.governance import runtime as runtime_module
from dictamesh.governance.masking import MaskStrategy
from dictamesh.governance.policy import Action, PolicyEngine, Resource
from dictamesh.governance.runtime import DEMO_POLICY_FILE, NodeGovernance
from dictamesh.observability.metrics import MeshMetrics

EMAIL = Resource("customer", "customers", "email", Classification.PII_EMAIL)


@pytest.fixture
def catalog(sqlite_catalog: CatalogService) -> CatalogService:
    return sqlite_catalog


def settings(**governance: object) -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {"auth": {"admin_role": "root"}, "governance": governance}
    )


async def test_the_built_in_policy_lets_only_the_admin_role_read_classified_data(
    catalog: CatalogService,
) -> None:
    runtime = NodeGovernance.from_settings(settings(masking_key="k" * 32), catalog)
    gov = runtime.governance
    root = Principal("ops", frozenset({"root"}))
    other = Principal("ann", frozenset({"admin", "support"}))  # `admin` is not the role here
    clear = gov.decide(root, Action.READ, EMAIL)
    assert clear.allowed
    assert clear.mask is MaskStrategy.NONE
    assert not gov.decide(other, Action.READ, EMAIL).allowed
    assert not gov.decide(None, Action.READ, EMAIL).allowed
    assert gov.decide(other, Action.READ, Resource("customer", "customers", "name")).allowed
    assert gov.decide(root, Action.ADMIN, Resource("*")).allowed
    assert not gov.decide(other, Action.ADMIN, Resource("*")).allowed


async def test_a_policy_file_and_a_masking_key(catalog: CatalogService, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\nrules:\n  - {id: hashed, effect: allow, actions: [read], mask: hash}\n"
    )
    one = NodeGovernance.from_settings(
        settings(policy_file=str(policy), masking_key="s" * 32), catalog
    )
    two = NodeGovernance.from_settings(
        settings(policy_file=str(policy), masking_key="s" * 32), catalog
    )
    assert [r.id for r in one.governance.policy.document.rules] == ["hashed"]
    decision = one.governance.decide(None, Action.READ, EMAIL)
    assert decision.mask is MaskStrategy.HASH
    digests = [
        g.governance.masker.mask("ada@example.com", MaskStrategy.HASH, Classification.PII_EMAIL)
        for g in (one, two)
    ]
    assert digests[0] == digests[1]  # the same key on every node: joinable hashes
    policy.write_text("version: 1\nrules:\n  - {id: x, effect: maybe, actions: [read]}\n")
    with pytest.raises(ConfigurationError, match=r"rules\.0\.effect"):
        NodeGovernance.from_settings(settings(policy_file=str(policy)), catalog)


async def test_an_unset_masking_key_warns_once(
    catalog: CatalogService, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_module, "_warned_key", False)
    with caplog.at_level(logging.WARNING, logger="dictamesh.governance"):
        NodeGovernance.from_settings(settings(), catalog)
        NodeGovernance.from_settings(settings(), catalog)
    assert len([r for r in caplog.records if "masking_key" in r.message]) == 1


async def test_start_runs_the_writer_and_retention_and_reports_metrics(
    catalog: CatalogService,
) -> None:
    runtime = NodeGovernance.from_settings(
        settings(
            masking_key="k" * 32,
            retention=[{"target": "audit", "max_age": "30d"}],
            retention_interval_seconds=0.01,
        ),
        catalog,
    )
    assert runtime.retention is not None
    calls = 0
    run_once = runtime.retention.run_once

    async def counted() -> dict[str, int]:
        nonlocal calls
        calls += 1
        return await run_once()

    runtime.retention.run_once = counted  # type: ignore[method-assign]
    metrics = MeshMetrics(process_metrics=False)
    await runtime.start(metrics)
    assert runtime.writer is not None
    assert runtime.writer.running
    for _ in range(200):
        if calls >= 2:
            break
        await asyncio.sleep(0.01)
    assert calls >= 2
    text = generate_latest(metrics.registry).decode()
    assert 'dictamesh_audit_entries_total{outcome="written"} 0.0' in text
    assert "dictamesh_audit_queue_entries 0.0" in text
    await runtime.aclose()
    assert not runtime.writer.running
    assert "dictamesh_audit_entries_total" not in generate_latest(metrics.registry).decode()
    await runtime.start(metrics)  # a restarted node registers it again
    await runtime.aclose()


async def test_audit_can_be_switched_off(catalog: CatalogService) -> None:
    runtime = NodeGovernance.from_settings(settings(audit=False), catalog)
    assert runtime.writer is None
    assert runtime.governance.audit_sink is None


def test_bad_governance_settings_are_configuration_errors() -> None:
    for bad in (
        {"retention": [{"target": "audit", "max_age": "soon"}]},
        {"retention": [{"target": "audit", "topics": ["x.*"], "max_age": "1d"}]},
        {"audit_on_overflow": "ignore"},
        {"audit_batch_size": 100, "audit_queue_size": 10},
        {"masking": "x"},
    ):
        with pytest.raises(ConfigurationError, match="governance"):
            settings(**bad)


def test_the_demo_policy_keeps_the_demo_scenario_readable() -> None:
    # auth is off in the demo: every caller is anonymous
    engine = PolicyEngine.from_file(DEMO_POLICY_FILE)
    email = engine.decide(None, "read", EMAIL)
    assert email.allowed
    assert email.mask is MaskStrategy.NONE
    name = Resource("customer", "customers", "first_name", Classification.PII_NAME)
    assert engine.decide(None, "read", name).mask is MaskStrategy.PARTIAL
    assert not engine.decide(None, "admin", Resource("*")).allowed
    admin = Principal("ops", frozenset({"admin"}))
    assert engine.decide(admin, "read", name).mask is MaskStrategy.NONE


def test_audit_entries_carry_the_active_trace_id() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from dictamesh.governance.enforce import Governance

    gov = Governance()
    decision = gov.decide(None, Action.READ, EMAIL)
    assert gov.entry(decision, None, channel="rest").trace_id is None
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        entry = gov.entry(decision, None, channel="rest", entity_id="c-1")
    assert entry.trace_id == f"{span.get_span_context().trace_id:032x}"
    assert (entry.decision, entry.subject, entry.entity_id) == ("deny", "anonymous", "c-1")
