"""The schema registry's compatibility check, run in a worker thread and bounded in time.

The catalog calls a :data:`~dictamesh.catalog.service.SchemaCheck` synchronously, inside its
write transaction. :class:`ThreadedAvroCheck` lets the registry do the expensive part before
that: :meth:`~ThreadedAvroCheck.prepare` runs the check in a thread (the event loop keeps
serving ``/health`` and everyone else) and remembers the answer; the catalog's call then
finds it. Should another version land in between, the earlier texts differ, and the call
computes the check itself, still bounded by the same deadline. Either way a schema too
complex to check in ``check_timeout_seconds`` is :class:`SchemaTooComplex`, never a hang.

Example::

    check = ThreadedAvroCheck(AvroLimits())
    await check.prepare(earlier_texts, canonical_text, level)
    await catalog.register_schema_text(subject, "AVRO", text, check)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

from dictamesh.catalog._avro_compat import avro_compatibility_reasons
from dictamesh.catalog._avro_limits import AvroLimits
from dictamesh.catalog.records import Compatibility

__all__ = ["ThreadedAvroCheck", "off_loop"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


async def off_loop(fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``fn(*args, **kwargs)`` in a worker thread (its own bounds stop it, not a cancel)."""
    return await asyncio.to_thread(fn, *args, **kwargs)


class ThreadedAvroCheck:
    """A ``SchemaCheck`` whose answer is computed ahead, off the event loop."""

    def __init__(self, limits: AvroLimits) -> None:
        self.limits = limits
        self._ready: dict[tuple[tuple[str, ...], str, Compatibility], list[str]] = {}

    async def prepare(self, previous: Sequence[str], new: str, level: Compatibility) -> list[str]:
        reasons = await off_loop(avro_compatibility_reasons, new, previous, level, self.limits)
        self._ready[(tuple(previous), new, level)] = reasons
        return reasons

    def __call__(self, previous: Sequence[str], new: str, level: Compatibility) -> list[str]:
        ready = self._ready.get((tuple(previous), new, level))
        if ready is not None:
            return ready
        return avro_compatibility_reasons(new, previous, level, self.limits)
