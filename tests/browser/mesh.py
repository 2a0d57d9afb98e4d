"""A real mesh for the browser tests: the four sample sources and one node served by
uvicorn on a free port, in a thread of its own (selenium's calls block), with

* the catalog on PostgreSQL (its trigram search tolerates misspellings; SQLite matches
  substrings only),
* auth required, with two API keys: a ``reader`` and an ``admin``,
* a governance policy that shows the reader names in clear and e-mails and phones masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import SecretStr

from dictamesh._serving import serve_in_process
from dictamesh.auth import hash_api_key
from dictamesh.core.settings import ApiKeyConfig, AuthSettings, DictaMeshSettings
from dictamesh.demo import demo_settings
from dictamesh.node import MeshNode
from dictamesh.sources.runner import SampleSources, run_sample_sources

T = TypeVar("T")

READER_KEY = "browser-reader-key-3f9c2a7d41"
ADMIN_KEY = "browser-admin-key-8b1e6c0f95"
START_TIMEOUT = 60.0

POLICY = """\
version: 1
default_mask: partial
rules:
  - id: readers-see-names
    effect: allow
    actions: [read, read_unmasked]
    principal: {roles: [reader]}
    resource: {tags: [pii_name]}
  - id: readers-see-contact-masked
    effect: allow
    actions: [read]
    principal: {roles: [reader]}
    resource: {tags: [pii_email, pii_phone]}
    mask: partial
  - id: admins-see-everything
    effect: allow
    actions: [read, read_unmasked, subscribe, admin, write]
    principal: {roles: [admin]}
"""


@dataclass
class RunningMesh:
    url: str
    sources: SampleSources
    node: MeshNode
    loop: asyncio.AbstractEventLoop

    def run(self, make: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run a coroutine on the mesh's loop (its sources' stores live there)."""

        async def call() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout)


def browser_settings(
    sources: SampleSources, state_dir: Path, catalog_url: str, owner_url: str
) -> DictaMeshSettings:
    settings = demo_settings(sources, state_dir, poll=0.5)
    policy = state_dir / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    keys = [
        ApiKeyConfig(sha256=hash_api_key(READER_KEY), subject="reader", roles=["reader"]),
        ApiKeyConfig(sha256=hash_api_key(ADMIN_KEY), subject="admin", roles=["admin"]),
    ]
    update: dict[str, Any] = {
        "auth": AuthSettings(mode="required", api_keys=keys),
        "catalog": settings.catalog.model_copy(
            update={"url": SecretStr(catalog_url), "migration_url": SecretStr(owner_url)}
        ),
        "governance": settings.governance.model_copy(update={"policy_file": policy}),
    }
    return settings.model_copy(update=update)


class MeshThread:
    """Starts the mesh in a thread; ``stop()`` ends it and joins the thread."""

    def __init__(self, state_dir: Path, catalog_url: str, owner_url: str) -> None:
        self._args = (state_dir, catalog_url, owner_url)
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.mesh: RunningMesh | None = None
        self._thread = threading.Thread(target=self._main, name="browser-mesh", daemon=True)

    def start(self) -> RunningMesh:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise TimeoutError(f"the mesh did not start within {START_TIMEOUT} s")
        if self._error is not None or self.mesh is None:
            raise RuntimeError("the mesh failed to start") from self._error
        return self.mesh

    def stop(self) -> None:
        if self.mesh is not None and self._stop is not None:
            self.mesh.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(START_TIMEOUT)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start(); the thread must not die silently
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        state_dir, catalog_url, owner_url = self._args
        self._stop = asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            sources = await stack.enter_async_context(run_sample_sources())
            settings = browser_settings(sources, state_dir, catalog_url, owner_url)
            node = await stack.enter_async_context(MeshNode(settings))
            url = await stack.enter_async_context(
                serve_in_process(node.asgi_app(), "127.0.0.1", 0, what="browser test node")
            )
            self.mesh = RunningMesh(url, sources, node, asyncio.get_running_loop())
            self._ready.set()
            await self._stop.wait()
