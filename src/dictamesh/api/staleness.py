"""Stale-answer headers on every HTTP response that used a stale cache copy.

:class:`StaleHeadersMiddleware` opens a read-info collector
(:func:`dictamesh.adapters.base.collect_read_info`) around each HTTP request; when a read
made for it was answered from a stale copy because the source failed, the response gets::

    X-DictaMesh-Stale: true
    Age: 42                                     # the oldest stale answer, in seconds
    Warning: 110 - "Response is Stale"
    X-DictaMesh-Stale-Reason: SOURCE_UNAVAILABLE
    X-DictaMesh-Stale-Entities: customer:1,product:prd_1001

and ``Cache-Control: no-store`` (replacing the handler's), so no cache in between keeps
the degraded answer. It applies to REST (``GET /api/v1/entities/customer/1?live=true``) and
to ``/graphql`` alike (whose body also lists the stale entities in
``extensions.dictamesh.stale``).

Example::

    app = FastAPI()
    app.add_middleware(StaleHeadersMiddleware)
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dictamesh.adapters.base import collect_read_info

__all__ = ["StaleHeadersMiddleware"]


class StaleHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with collect_read_info() as info:

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start" and info.stale:
                    headers = MutableHeaders(scope=message)
                    for name, value in info.to_headers().items():
                        headers[name] = value
                    # a degraded answer must not outlive the outage in a shared cache
                    headers["Cache-Control"] = "no-store"
                await send(message)

            await self.app(scope, receive, send_with_headers)
