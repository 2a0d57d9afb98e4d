"""Whether a hook's call got as far as sending a request: who is to blame for its error.

A ``ValueError`` raised by a hook *after* the source answered is the answer's fault (an
unexpected shape: the breaker counts it). Raised *before* anything was sent, it is ours or
the caller's (a text httpx cannot encode, a bug building the request): the source never
saw it, so no breaker may count it. httpx runs its ``request`` event hooks once the
request is built, just before sending; one of them marks the active :class:`Exchange`.

Example::

    watch(client)
    with track() as exchange:
        await hook(client)        # raises ValueError
    exchange.sent                 # False: nothing reached the source
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import httpx

__all__ = ["Exchange", "track", "watch"]


@dataclass
class Exchange:
    sent: bool = False


# Holds a mutable Exchange: tasks a hook starts (fetch_many's gather) copy the context and
# so mark the same object.
_CURRENT: ContextVar[Exchange | None] = ContextVar("dictamesh_adapter_exchange", default=None)
_WATCHED = "_dictamesh_watches_sends"


async def _mark_sent(request: httpx.Request) -> None:
    exchange = _CURRENT.get()
    if exchange is not None:
        exchange.sent = True


def watch(client: httpx.AsyncClient) -> None:
    """Make ``client`` report its sends to the active :func:`track` (idempotent)."""
    if not getattr(client, _WATCHED, False):
        client.event_hooks["request"].append(_mark_sent)
        setattr(client, _WATCHED, True)


@contextlib.contextmanager
def track() -> Iterator[Exchange]:
    exchange = Exchange()
    token = _CURRENT.set(exchange)
    try:
        yield exchange
    finally:
        _CURRENT.reset(token)
