"""The demo mesh: three sample sources, one node, and the end-to-end scenario check.

``dictamesh demo`` runs it interactively; ``dictamesh demo --check`` runs
:func:`run_check` headless and reports every step with its timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from dictamesh._serving import serve_in_process
from dictamesh.core.settings import AdapterConfig, DictaMeshSettings
from dictamesh.node import MeshNode
from dictamesh.sources.runner import SampleSources, run_sample_sources

__all__ = ["DemoMesh", "StepResult", "demo_settings", "run_check", "run_demo_mesh"]

Backend = Literal["embedded", "production"]

CUSTOMER_QUERY = """
query ($id: ID!) {
  customer(id: $id) {
    id email
    invoices { invoiceNumber items { quantity product { sku name } } }
  }
}"""


def demo_settings(
    sources: SampleSources, state_dir: Path, backend: Backend = "embedded", poll: float = 1.0
) -> DictaMeshSettings:
    """Settings of a node wired to the sample sources on the chosen backend."""
    adapters = [
        AdapterConfig(
            name="customers_directus",
            kind="customers_directus",
            base_url=sources.customers_url,
            api_key=sources.customers_token,
            poll_interval_seconds=poll,
        ),
        AdapterConfig(
            name="products_rest",
            kind="products_rest",
            base_url=sources.products_url,
            api_key=sources.products_api_key,
            poll_interval_seconds=poll,
        ),
        AdapterConfig(
            name="invoices_ecommerce",
            kind="invoices_ecommerce",
            base_url=sources.invoices_url,
            api_key=sources.invoices_token,
            poll_interval_seconds=poll,
        ),
    ]
    raw: dict[str, Any] = {
        "node_name": "demo",
        "state_dir": str(state_dir),
        "adapters": [a.model_dump() for a in adapters],
        "bus": {"path": str(state_dir / "bus.sqlite3")},
        "catalog": {"url": f"sqlite+aiosqlite:///{state_dir / 'catalog.sqlite3'}"},
    }
    if backend == "production":
        env = os.environ
        raw["bus"] = {
            "backend": "kafka",
            "kafka_bootstrap": env.get("DICTAMESH_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        }
        raw["catalog"] = {
            "url": env.get(
                "DICTAMESH_POSTGRES_URL",
                "postgresql+asyncpg://dictamesh:dictamesh@127.0.0.1:5432/dictamesh",
            )
        }
        raw["cache"] = {"redis_url": env.get("DICTAMESH_REDIS_URL", "redis://127.0.0.1:6379/0")}
        # Each demo run is its own mesh: fresh consumer groups and node name avoid reading
        # what an earlier run left in Kafka's committed offsets.
        raw["node_name"] = f"demo-{int(time.time())}"
    return DictaMeshSettings.from_mapping(raw, origin="demo settings")


@dataclass
class DemoMesh:
    sources: SampleSources
    node: MeshNode
    api_url: str

    @property
    def graphql_url(self) -> str:
        return f"{self.api_url}/graphql"


@contextlib.asynccontextmanager
async def run_demo_mesh(
    state_dir: Path,
    *,
    backend: Backend = "embedded",
    host: str = "127.0.0.1",
    port: int = 0,
    poll: float = 1.0,
) -> AsyncIterator[DemoMesh]:
    async with run_sample_sources(host=host) as sources:
        settings = demo_settings(sources, state_dir, backend, poll)
        async with (
            MeshNode(settings) as node,
            serve_in_process(node.asgi_app(), host, port, what="API server") as api_url,
        ):
            # Sources push webhooks to the node; polling stays on as the safety net.
            async with httpx.AsyncClient(timeout=5) as client:
                for name, base in (
                    ("customers_directus", sources.customers_url),
                    ("products_rest", sources.products_url),
                    ("invoices_ecommerce", sources.invoices_url),
                ):
                    response = await client.post(
                        f"{base}/_admin/webhooks", json={"url": f"{api_url}/webhooks/{name}"}
                    )
                    response.raise_for_status()
            yield DemoMesh(sources=sources, node=node, api_url=api_url)


@dataclass
class StepResult:
    name: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class _Check:
    report: Callable[[StepResult], None]
    results: list[StepResult] = field(default_factory=list)

    async def step(self, name: str, action: Callable[[], Awaitable[str]]) -> None:
        started = time.perf_counter()
        try:
            detail = await action()
        except Exception as exc:
            result = StepResult(name, False, time.perf_counter() - started, _describe(exc))
            self.report(result)
            self.results.append(result)
            raise _StepFailed(result) from exc
        result = StepResult(name, True, time.perf_counter() - started, detail)
        self.report(result)
        self.results.append(result)


class _StepFailed(Exception):
    def __init__(self, result: StepResult) -> None:
        super().__init__(result.detail)
        self.result = result


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _until(
    probe: Callable[[], Awaitable[Any]], timeout: float, what: str, interval: float = 0.1
) -> Any:
    """Poll ``probe`` until it returns a truthy value; raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise TimeoutError(f"{what} not seen within {timeout:.0f}s (last: {last!r})")


async def run_check(
    report: Callable[[StepResult], None],
    *,
    backend: Backend = "embedded",
    timeout: float = 30.0,
    state_dir: Path | None = None,
) -> list[StepResult]:
    """Run the whole scenario headless; raises nothing, returns every step's result."""
    check = _Check(report)
    with tempfile.TemporaryDirectory(prefix="dictamesh-demo-") as tmp:
        directory = state_dir or Path(tmp)
        with contextlib.suppress(_StepFailed):
            await _scenario(check, directory, backend, timeout)
    return check.results


async def _scenario(check: _Check, state_dir: Path, backend: Backend, timeout: float) -> None:
    stack = contextlib.AsyncExitStack()
    mesh: DemoMesh | None = None

    async def start() -> str:
        nonlocal mesh
        mesh = await stack.enter_async_context(run_demo_mesh(state_dir, backend=backend))
        return f"sources up, node on {backend} backend, API at {mesh.api_url}"

    async with stack:
        await check.step("start sample sources and mesh node", start)
        assert mesh is not None
        m = mesh
        customer_id = "1"
        async with httpx.AsyncClient(base_url=m.api_url, timeout=10) as api:

            async def initial_sync() -> str:
                expected = len(m.sources.invoices_store.ids())

                async def synced() -> bool:
                    return await m.node.catalog.count_entities("invoice") >= expected

                await _until(synced, timeout, f"{expected} invoices in the catalog")
                r = await api.get(f"/api/v1/entities/customer/{customer_id}")
                r.raise_for_status()
                return f"catalog holds {await m.node.catalog.count_entities()} entities"

            await check.step("initial sync: sources → bus → catalog", initial_sync)

            async def graphql(variables: dict[str, Any]) -> dict[str, Any]:
                r = await api.post(
                    "/graphql", json={"query": CUSTOMER_QUERY, "variables": variables}
                )
                r.raise_for_status()
                body = r.json()
                if body.get("errors"):
                    raise RuntimeError(f"GraphQL errors: {body['errors']}")
                return dict(body["data"]["customer"])

            async def cross_domain() -> str:
                customer = await graphql({"id": customer_id})
                items = [i for inv in customer["invoices"] for i in inv["items"]]
                if not customer["invoices"] or not all(i["product"] for i in items):
                    raise RuntimeError(f"incomplete cross-domain answer: {customer}")
                return f"{len(customer['invoices'])} invoices, {len(items)} items with products"

            await check.step("GraphQL customer → invoices → items → product", cross_domain)
            new_email = f"demo.{int(time.time() * 1000)}@example.com"

            async def change_at_source() -> str:
                async with httpx.AsyncClient(
                    base_url=m.sources.customers_url,
                    headers={"Authorization": f"Bearer {m.sources.customers_token}"},
                ) as cms:
                    r = await cms.patch(
                        f"/items/customers/{customer_id}", json={"email": new_email}
                    )
                    r.raise_for_status()
                return f"PATCH /items/customers/{customer_id} email={new_email}"

            await check.step("change the customer's email at the source CMS", change_at_source)

            async def visible_in_graphql() -> str:
                async def fresh() -> bool:
                    return bool((await graphql({"id": customer_id}))["email"] == new_email)

                await _until(fresh, timeout, "new email through GraphQL")
                return "GraphQL answers the new email"

            await check.step("change visible through GraphQL", visible_in_graphql)

            async def in_event_log() -> str:
                async def logged() -> Any:
                    r = await api.get(f"/api/v1/entities/customer/{customer_id}/events")
                    r.raise_for_status()
                    return next(
                        (
                            e
                            for e in r.json()["events"]
                            if e["event_type"] == "UPDATED" and "email" in e["changed_fields"]
                        ),
                        None,
                    )

                event = await _until(logged, timeout, "UPDATED event in the catalog event log")
                return f"event {event['event_id']} changed {event['changed_fields']}"

            await check.step("change recorded in the catalog event log", in_event_log)

            async def graph() -> str:
                r = await api.get(
                    f"/api/v1/entities/customer/{customer_id}/graph", params={"depth": 3}
                )
                r.raise_for_status()
                types = sorted({n["type"] for n in r.json()["nodes"]})
                if "product" not in types:
                    raise RuntimeError(f"depth-3 graph reaches only {types}")
                return f"{len(r.json()['nodes'])} nodes of types {types}"

            await check.step("relationship graph customer → … → product", graph)
