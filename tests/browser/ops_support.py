"""A demo mesh (the four sample sources and a node, with API-key auth) for the operations
pages' browser tests, run in a thread of its own so the (synchronous) WebDriver tests can
drive a browser against it while its event loop serves.

``OpsMesh.run(coro)`` runs a coroutine on the node's loop (a dead letter, a schema version).
The node's app gets its bus for ``/api/v1/admin/dlq`` here until ``MeshNode.asgi_app`` passes
it itself (``ApiContext.bus``; see docs/ui.md "Operations pages").
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import dictamesh.node as node_module
from dictamesh._serving import serve_in_process
from dictamesh.api.context import ApiContext
from dictamesh.auth import hash_api_key
from dictamesh.core.settings import AuthSettings
from dictamesh.demo import DEMO_USER, _register_webhooks, demo_settings
from dictamesh.events.inspect import InspectableBus
from dictamesh.node import MeshNode
from dictamesh.sources import SampleSources, run_sample_sources

T = TypeVar("T")

ADMIN_KEY = "dmk_ops_browser_admin_0123456789"
READER_KEY = "dmk_ops_browser_reader_012345678"
KEYS = [
    {"sha256": hash_api_key(ADMIN_KEY), "subject": "ops", "roles": ["admin"]},
    # the demo's notification rule writes to user "demo"'s inbox: the reader's own
    {"sha256": hash_api_key(READER_KEY), "subject": DEMO_USER, "roles": ["reader"]},
]


@dataclasses.dataclass
class OpsMesh:
    url: str
    node: MeshNode
    sources: SampleSources
    loop: asyncio.AbstractEventLoop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the node's loop and wait for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)


def _with_bus(create_app: Any, bus: InspectableBus, topics: Any) -> Any:
    def create(ctx: ApiContext) -> Any:
        if ctx.bus is None:
            ctx = dataclasses.replace(ctx, bus=bus, bus_topics=topics)
        return create_app(ctx)

    return create


@contextlib.contextmanager
def ops_mesh(state_dir: Path, *, timeout: float = 60.0) -> Iterator[OpsMesh]:
    """The demo mesh with auth ``required`` (keys :data:`ADMIN_KEY`, :data:`READER_KEY`)."""
    ready: Future[OpsMesh] = Future()
    stopping: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def main() -> None:
        async with run_sample_sources(host="127.0.0.1") as sources:
            settings = demo_settings(sources, state_dir, "embedded", poll=0.5)
            auth = AuthSettings(mode="required", api_keys=KEYS)
            settings = settings.model_copy(update={"auth": auth})
            async with MeshNode(settings) as node:
                original = node_module.create_app
                if isinstance(node.bus, InspectableBus):
                    node_module.create_app = _with_bus(original, node.bus, settings.bus.topics)
                try:
                    app = node.asgi_app()
                finally:
                    node_module.create_app = original
                async with serve_in_process(app, "127.0.0.1", 0, what="ops node") as url:
                    await _register_webhooks(sources, settings, url)
                    stop = asyncio.Event()
                    stopping.append((asyncio.get_running_loop(), stop))
                    ready.set_result(OpsMesh(url, node, sources, asyncio.get_running_loop()))
                    await stop.wait()

    def thread_main() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the waiting test, not lost in the thread
            if not ready.done():
                ready.set_exception(exc)
            else:
                raise

    thread = threading.Thread(target=thread_main, name="ops-mesh", daemon=True)
    thread.start()
    try:
        yield ready.result(timeout)
    finally:
        for loop, stop in stopping:
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
