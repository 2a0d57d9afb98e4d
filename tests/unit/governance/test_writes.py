"""WriteGuard: the policy's ``write`` action, tenant isolation, and one audit row per write."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest

from dictamesh.adapters.base import RawWrite
from dictamesh.core.context import bind
from dictamesh.core.errors import OperationNotSupported, PermissionDenied, WriteRejected
from dictamesh.core.inputs import InvalidInput
from dictamesh.core.principal import Principal
from dictamesh.governance import Action, PolicyEngine, Resource, WriteGuard, write_details
from dictamesh.governance.audit import AuditEntry
from dictamesh.governance.enforce import Governance, default_policy
from dictamesh.governance.runtime import DEMO_POLICY_FILE
from dictamesh.testing.adapters import FakeAdapter

POLICY = """
version: 1
rules:
  - id: clerks-write-widgets
    effect: allow
    actions: [write]
    principal: {roles: [clerk]}
    resource: {entity_types: [widget]}
  - id: no-interns
    effect: deny
    actions: [write]
    principal: {roles: [intern]}
"""


class Sink:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    async def submit(self, entries: Sequence[AuditEntry]) -> bool:
        self.entries.extend(entries)
        return True

    def submit_nowait(self, entries: Sequence[AuditEntry]) -> bool:
        self.entries.extend(entries)
        return True


class WritableWidgets(FakeAdapter):
    commands = frozenset({"paint"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.writes: list[tuple[str, Any]] = []
        self.reject: str | None = None

    async def write_update(
        self,
        client: httpx.AsyncClient,
        entity_id: str,
        changes: dict[str, Any],
        idempotency_key: str,
    ) -> RawWrite:
        self.writes.append(("update", entity_id))
        self.put(entity_id, **changes)
        return RawWrite(data={"id": entity_id}, record=self.rows[entity_id])

    async def write_command(
        self,
        client: httpx.AsyncClient,
        command: str,
        payload: dict[str, Any],
        idempotency_key: str,
    ) -> RawWrite:
        self.writes.append((command, payload))
        if self.reject:
            raise WriteRejected("no paint", reason=self.reject)
        return RawWrite(data={"id": "job-1", "color": payload["color"]}, replayed=True)


CLERK = Principal("carol", roles=frozenset({"clerk"}), tenant="acme")
INTERN = Principal("ian", roles=frozenset({"clerk", "intern"}), tenant="acme")
NOBODY = Principal("nora", roles=frozenset({"viewer"}), tenant="acme")


@pytest.fixture
async def widgets() -> AsyncIterator[WritableWidgets]:
    async with WritableWidgets(records=[{"id": "w-1", "name": "Widget"}]) as adapter:
        yield adapter


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def guard(sink: Sink) -> WriteGuard:
    return WriteGuard(Governance(PolicyEngine.from_yaml(POLICY), audit=sink))


def test_write_is_denied_by_default_and_admins_write() -> None:
    engine = PolicyEngine()
    assert not engine.decide(CLERK, Action.WRITE, Resource("widget")).allowed
    assert not engine.decide(None, "write", Resource("widget")).allowed
    builtin = default_policy("root")
    assert builtin.decide(Principal("r", roles=frozenset({"root"})), "write", Resource("x")).allowed
    assert not builtin.decide(CLERK, "write", Resource("x")).allowed


def test_demo_policy_lets_anonymous_write_order_types() -> None:
    demo = PolicyEngine.from_file(DEMO_POLICY_FILE)
    for entity_type in ("product", "invoice", "payment"):
        assert demo.decide(None, "write", Resource(entity_type)).allowed
    assert not demo.decide(None, "write", Resource("customer")).allowed


async def test_allowed_command_is_called_and_audited(
    guard: WriteGuard, widgets: WritableWidgets, sink: Sink
) -> None:
    with bind(CLERK):
        result = await guard.run_command(
            widgets, "paint", {"color": "red"}, idempotency_key="o-1:paint", principal=CLERK
        )
    assert result.data == {"id": "job-1", "color": "red"}
    assert widgets.writes == [("paint", {"color": "red"})]
    [row] = sink.entries
    assert (row.action, row.decision, row.channel) == ("write", "allow", "saga")
    assert (row.subject, row.tenant, row.entity_type) == ("carol", "acme", "widget")
    assert row.rules == ("clerks-write-widgets",)
    assert write_details(row.reason) == {
        "operation": "command",
        "command": "paint",
        "adapter": widgets.name,
        "idempotency_key": "o-1:paint",
        "outcome": "ok",
        "replayed": "true",
        "result_id": "job-1",
    }


async def test_update_audits_the_entity_id(
    guard: WriteGuard, widgets: WritableWidgets, sink: Sink
) -> None:
    result = await guard.update_entity(
        widgets, "w-1", {"color": "blue"}, idempotency_key="k-1", principal=CLERK
    )
    assert result.entity is not None
    assert result.entity.attributes["color"] == "blue"
    [row] = sink.entries
    assert row.entity_id == "w-1"
    assert write_details(row.reason)["operation"] == "update"


@pytest.mark.parametrize("who", [NOBODY, INTERN, None])
async def test_denied_write_never_reaches_the_adapter(
    guard: WriteGuard, widgets: WritableWidgets, sink: Sink, who: Principal | None
) -> None:
    with pytest.raises(PermissionDenied) as caught:
        await guard.run_command(
            widgets, "paint", {"color": "red"}, idempotency_key="k-2", principal=who
        )
    assert caught.value.http_status == 403
    assert widgets.writes == []
    [row] = sink.entries
    assert (row.action, row.decision) == ("write", "deny")
    assert write_details(row.reason)["outcome"] == "denied"
    if who is INTERN:
        assert row.rules == ("no-interns",)


async def test_a_principal_never_writes_another_tenants_data(
    guard: WriteGuard, widgets: WritableWidgets, sink: Sink
) -> None:
    with bind(CLERK, tenant="globex"), pytest.raises(PermissionDenied):
        await guard.update_entity(
            widgets, "w-1", {"color": "x"}, idempotency_key="k", principal=CLERK
        )
    assert widgets.writes == []
    assert sink.entries[0].decision == "deny"
    assert "another tenant" in sink.entries[0].reason


async def test_check_refuses_before_anything_runs(guard: WriteGuard, sink: Sink) -> None:
    await guard.check(CLERK, [("widget", "testing")])
    assert sink.entries == []  # allowed checks are not audited: the writes will be
    with pytest.raises(PermissionDenied):
        await guard.check(CLERK, [("widget", "testing"), ("payment", "payments")])
    [row] = sink.entries
    assert (row.entity_type, row.decision) == ("payment", "deny")
    assert write_details(row.reason) == {"operation": "check"}


async def test_rejected_and_failed_writes_are_audited(
    guard: WriteGuard, widgets: WritableWidgets, sink: Sink
) -> None:
    widgets.reject = "out_of_paint"
    with pytest.raises(WriteRejected):
        await guard.run_command(
            widgets, "paint", {"color": "red"}, idempotency_key="k", principal=CLERK
        )
    with pytest.raises(OperationNotSupported):
        await guard.run_command(widgets, "fly", {}, idempotency_key="k2", principal=CLERK)
    outcomes = [write_details(e.reason)["outcome"] for e in sink.entries]
    assert outcomes == ["rejected(out_of_paint)", "error(OPERATION_NOT_SUPPORTED)"]
    assert all(e.decision == "allow" for e in sink.entries)


async def test_invalid_key_is_refused_before_policy_and_source(
    guard: WriteGuard, widgets: WritableWidgets, sink: Sink
) -> None:
    with pytest.raises(InvalidInput):
        await guard.run_command(widgets, "paint", {}, idempotency_key="bad key!", principal=CLERK)
    assert widgets.writes == []
    assert sink.entries == []


async def test_without_governance_everything_is_allowed_unaudited(
    widgets: WritableWidgets,
) -> None:
    guard = WriteGuard(None)
    await guard.check(None, [("anything", None)])
    result = await guard.run_command(
        widgets, "paint", {"color": "red"}, idempotency_key="k", principal=None
    )
    assert result.replayed
