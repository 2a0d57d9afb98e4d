"""Run an ASGI app on a real socket inside the current event loop (demo, sample sources)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

__all__ = ["serve_in_process"]


@contextlib.asynccontextmanager
async def serve_in_process(
    app: Any,
    host: str,
    port: int,
    *,
    what: str = "server",
    shutdown_timeout: int | None = None,
) -> AsyncIterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (``port`` 0 = any free port).

    ``shutdown_timeout``: seconds to let requests in flight finish when the block ends
    before they are cancelled (None: wait for them).
    """
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_level="warning",
            timeout_graceful_shutdown=shutdown_timeout,
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                await task  # re-raise why it could not start
                raise RuntimeError(f"{what} on {host}:{port} stopped during start-up")
            await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
