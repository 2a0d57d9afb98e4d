"""Serve an ASGI app until SIGTERM/SIGINT, then shut down in phases (``dictamesh serve``).

1. **draining** — ``drain()`` turns readiness false (``/ready``: 503) while the listener
   keeps serving for ``delay`` seconds, so load balancers and Kubernetes endpoints stop
   sending new requests before the socket closes;
2. **closing** — the listener stops accepting; requests in flight get ``timeout`` seconds to
   finish, then are cancelled (websockets too: ``before_close`` ends live subscriptions);
3. the caller then stops the node (its consumers finish their batch, sagas give back their
   leases, the audit is flushed).

A second signal skips what is left of the delay; a second SIGINT (Ctrl-C) also stops
waiting for requests in flight.

Example::

    await serve_gracefully(app, "0.0.0.0", 8000, drain=node.drain, delay=5, timeout=30,
                           on_listening=lambda url: print("listening on", url))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Generator
from typing import Any

import uvicorn

__all__ = ["serve_gracefully"]

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # serve_gracefully handles the signals: uvicorn's own handler would close the
        # listener at once, before readiness had turned false.
        yield


async def serve_gracefully(
    app: Any,
    host: str,
    port: int,
    *,
    drain: Callable[[], None],
    delay: float,
    timeout: int,
    on_listening: Callable[[str], None],
    before_close: Callable[[], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve ``app`` on ``host:port`` (0: any free port; ``on_listening`` gets the URL)
    until a SIGTERM or SIGINT, then drain for ``delay`` s and close within ``timeout`` s.
    Each phase is logged and told to ``on_phase``. ``sock``: a listening socket to serve
    instead (``serve --workers``: every worker accepts on the one its supervisor bound)."""

    def phase(message: str) -> None:
        log.info("%s", message)
        if on_phase is not None:
            on_phase(message)

    server = _Server(
        uvicorn.Config(app, host=host, port=port, lifespan="off", timeout_graceful_shutdown=timeout)
    )
    loop = asyncio.get_running_loop()
    requested = asyncio.Event()
    hurry = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        if not requested.is_set():
            phase(f"{sig.name}: shutting down gracefully")
            requested.set()
            return
        hurry.set()  # a second signal: no more waiting for the load balancers
        if sig is signal.SIGINT:
            server.force_exit = True  # and none for requests in flight either

    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
    task = asyncio.create_task(server.serve(sockets=None if sock is None else [sock]))
    try:
        while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn has no event)
            await asyncio.sleep(0.02)
        if not server.started:
            await task  # why it could not start (uvicorn logged it)
            return
        bound = server.servers[0].sockets[0].getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        on_listening(f"http://{shown}:{bound}")
        waiting = asyncio.create_task(requested.wait())
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if task.done():  # the server ended on its own
            await task
            return
        phase(f"shutdown 1/3: draining, /ready answers 503 for {delay:g} s")
        drain()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hurry.wait(), delay)
        phase(f"shutdown 2/3: listener closed, requests in flight get {timeout} s to finish")
        if before_close is not None:
            before_close()
        server.should_exit = True
        await task
        phase("shutdown 3/3: stopping the node (consumers finish their batch)")
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        if not task.done():  # cancelled from outside (e.g. the caller's error)
            server.should_exit = True
            server.force_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await task
