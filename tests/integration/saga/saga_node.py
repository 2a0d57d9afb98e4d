"""One life of a mesh node running CreateInvoiceSagas, for the crash tests.

Run as ``python -m tests.integration.saga.saga_node PLAN_JSON``. The plan names the sample
sources (their endpoints: they live in the test process and outlive the node), the state
directory and backend, the sagas to start (by idempotency key: a second life starts none),
and where to die with ``os._exit(137)``:

* ``{"before": "charge"}`` — just before the step's call of that command reaches the source;
* ``{"during": "charge"}`` — after the source applied it and answered, before the node
  stored anything: the answer is lost with the process;
* ``{"after": "create_invoice"}`` — after the step's completion was stored, before the next;
* ``{"undone": "create_invoice"}`` — after the step's compensation was stored.

Without a crash the node works until every saga in the catalog has ended, then prints one
JSON line ``{"sagas": [{"id", "status", "outputs"}...]}`` and exits 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dictamesh.adapters.contract import WriteResult
from dictamesh.core.models import Entity
from dictamesh.core.principal import Principal
from dictamesh.demo import ProductionUrls, demo_settings
from dictamesh.node import MeshNode
from dictamesh.saga.definition import Writer
from dictamesh.saga.engine import WriterFactory
from dictamesh.saga.store import ACTIVE_STATUSES, SagaRecord
from dictamesh.sources.runner import SourceEndpoints

CRASHED = 137


def die(where: str) -> None:
    print(json.dumps({"crashed": where}), flush=True)
    os._exit(CRASHED)


class CrashingWriter:
    def __init__(self, inner: Writer, plan: Mapping[str, str]) -> None:
        self.inner = inner
        self.plan = plan

    async def get(self, entity_type: str, entity_id: str) -> Entity:
        return await self.inner.get(entity_type, entity_id)

    async def command(
        self, entity_type: str, command: str, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> WriteResult:
        if self.plan.get("before") == command:
            die(f"before {command}")
        result = await self.inner.command(
            entity_type, command, payload, idempotency_key=idempotency_key
        )
        if self.plan.get("during") == command:
            die(f"during {command}")
        return result

    async def create(
        self, entity_type: str, attributes: Mapping[str, Any], *, idempotency_key: str
    ) -> WriteResult:
        if self.plan.get("before") == "create":
            die("before create")
        result = await self.inner.create(entity_type, attributes, idempotency_key=idempotency_key)
        if self.plan.get("during") == "create":
            die("during create")
        return result


class CrashingWriters:
    def __init__(self, inner: WriterFactory, plan: Mapping[str, str]) -> None:
        self.inner = inner
        self.plan = plan

    def writer(self, principal: Principal | None) -> Writer:
        return CrashingWriter(self.inner.writer(principal), self.plan)

    async def check(self, principal: Principal | None, entity_types: Sequence[str]) -> None:
        await self.inner.check(principal, entity_types)


class DieAfterStep:
    """Dies once ``step``'s completion (``event`` step_completed) or compensation
    (step_compensated) is stored."""

    def __init__(self, step: str, event: str) -> None:
        self.step = step
        self.event = event

    async def saga_event(
        self, record: SagaRecord, event: str, *, step: str | None = None, duration: float = 0.0
    ) -> None:
        if event == self.event and step == self.step:
            die(f"after {event} {step}")

    def step_finished(self, saga: str, step: str, phase: str, seconds: float) -> None:
        return None


async def live(plan: dict[str, Any]) -> None:
    endpoints = SourceEndpoints(**plan["endpoints"])
    state = Path(plan["state_dir"])
    urls = ProductionUrls(**plan["urls"]) if plan.get("urls") else None
    settings = demo_settings(
        endpoints, state, plan.get("backend", "embedded"), poll=30.0, urls=urls,
        run_id=plan.get("run_id"),
    )  # fmt: skip
    crash: dict[str, str] = plan.get("crash") or {}
    async with MeshNode(settings) as node:
        assert node.sagas is not None
        engine = node.sagas.engine
        if crash:
            engine.writers = CrashingWriters(engine.writers, crash)
            if "after" in crash:
                engine.listeners.append(DieAfterStep(crash["after"], "step_completed"))
            if "undone" in crash:
                engine.listeners.append(DieAfterStep(crash["undone"], "step_compensated"))
        for key, payload in plan.get("start", {}).items():
            await engine.start("create_invoice", payload, idempotency_key=key)
        async with asyncio.timeout(plan.get("timeout", 60)):
            while True:
                sagas = await engine.store.list_sagas("default", limit=200)
                if all(s.status not in ACTIVE_STATUSES for s in sagas):
                    break
                await asyncio.sleep(0.1)
        done = [{"id": s.id, "status": s.status.value, "outputs": s.outputs} for s in sagas]
        print(json.dumps({"sagas": done}), flush=True)


if __name__ == "__main__":
    asyncio.run(live(json.loads(sys.argv[1])))
