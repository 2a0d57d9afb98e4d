"""A webhook receiver in a process of its own, for the notification benchmark.

    python benchmarks/_receiver.py        # prints {"url": ...} once listening

Answers every POST with 200 at once and counts the bodies it got and the distinct
``X-DictaMesh-Delivery`` ids (``GET /count`` → ``{"posts": n, "distinct": m}``;
``DELETE /count`` resets). Runs until stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from typing import Any

import uvicorn

posts = 0
ids: set[str] = set()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global posts
    if scope["type"] != "http":
        return
    more = True
    while more:  # the body, whole
        message = await receive()
        more = message.get("more_body", False)
    method = scope["method"]
    if method == "POST":
        posts += 1
        headers = dict(scope["headers"])
        delivery = headers.get(b"x-dictamesh-delivery")
        if delivery:
            ids.add(delivery.decode())
        body = b"ok"
    elif method == "DELETE":
        posts = 0
        ids.clear()
        body = b"{}"
    else:
        body = json.dumps({"posts": posts, "distinct": len(ids)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def main() -> None:
    sock = socket.socket()
    # accepted sockets inherit it: the answer's head and body are two writes, and Nagle would
    # hold the body back until the client's delayed ACK (~40 ms a request)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.01)
    print(json.dumps({"url": f"http://127.0.0.1:{port}"}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.should_exit = True
    await task


if __name__ == "__main__":
    asyncio.run(main())
