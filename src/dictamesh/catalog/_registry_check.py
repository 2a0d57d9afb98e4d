"""The schema registry's compatibility check, run in worker processes and bounded in time.

A compatibility check is pure-Python CPU work. In a thread of the node it would take turns
with the event loop for the interpreter lock, and every request of every caller would
queue behind it (a 990-branch union: loop lag p95 11-65 ms in a thread, 1-4 ms in another
process). So the checks run in a small pool of worker processes
(``python -m dictamesh.catalog._check_worker``, JSON lines over pipes): a thread waits on the
pipe, which costs the loop nothing. A worker that overruns the deadline is killed and
replaced; the caller gets :class:`SchemaTooComplex`, never a hang. The first worker starts
when the registry is mounted (:func:`start_workers`), so the first check does not pay for it.

The catalog calls a :data:`~dictamesh.catalog.service.SchemaCheck` synchronously, inside its
write transaction. :class:`PreparedAvroCheck` lets the registry do the expensive part before
that: :meth:`~PreparedAvroCheck.prepare` runs the check in a worker and remembers the
answer; the catalog's call then finds it. Should another version land in between, the
earlier texts differ, and the call computes the check itself, still bounded by the same
deadline.

Example::

    check = PreparedAvroCheck(AvroLimits())
    await check.prepare(earlier_texts, canonical_text, level)
    await catalog.register_schema_text(subject, "AVRO", text, check)
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import json
import queue
import select
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import IO, ParamSpec, TypeVar

from dictamesh.catalog._avro_compat import avro_compatibility_reasons
from dictamesh.catalog._avro_limits import AvroLimits, InvalidAvroSchema, SchemaTooComplex
from dictamesh.catalog.records import Compatibility

__all__ = ["PreparedAvroCheck", "check_in_worker", "off_loop", "start_workers"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: checks of different callers run side by side; more would only share the same cores
WORKERS = 2
#: starting a worker and waiting for a free one, beyond the check's own deadline
_SLACK_SECONDS = 3.0


async def off_loop(fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``fn(*args, **kwargs)`` in a worker thread, for linear work such as parsing a
    size-bounded body (its own bounds stop it, not a cancel)."""
    return await asyncio.to_thread(fn, *args, **kwargs)


class _Worker:
    """One worker process; used by one thread at a time (the pool hands it out)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dictamesh.catalog._check_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, request: str, timeout: float) -> str | None:
        """The answer line, or None when the worker is gone or past ``timeout``."""
        stdin, stdout = self._pipes()
        try:
            stdin.write(request + "\n")
            stdin.flush()
        except OSError:
            return None
        readable, _, _ = select.select([stdout], [], [], timeout)
        if not readable:
            return None
        return stdout.readline() or None  # '' at EOF: the worker died

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        return self.process.stdin, self.process.stdout

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in self._pipes():
            with contextlib.suppress(OSError):  # a pipe to a dead worker may not flush
                pipe.close()


class _Pool:
    """One worker from the start; a second only while one is busy (each costs ~64 MB and
    about a second of CPU to start, which every node start would otherwise pay twice)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._idle.put(self._new())

    def _new(self) -> _Worker:
        worker = _Worker()
        with self._lock:
            self._all.append(worker)
        return worker

    def _take(self, timeout: float) -> _Worker | None:
        with contextlib.suppress(queue.Empty):
            return self._idle.get_nowait()
        with self._lock:
            grow = len(self._all) < self._size
        if grow:
            return self._new()
        try:
            return self._idle.get(timeout=timeout)
        except queue.Empty:
            return None

    def ask(self, request: str, timeout: float) -> str | None:
        worker = self._take(timeout + _SLACK_SECONDS)
        if worker is None:
            return None
        answer = worker.ask(request, timeout + _SLACK_SECONDS)
        if answer is None:  # overran or died: never hand it out again
            with self._lock:
                self._all.remove(worker)
            worker.close()
        else:
            self._idle.put(worker)
        return answer

    def close(self) -> None:
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.close()


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def _workers() -> _Pool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = _Pool(WORKERS)
            atexit.register(_pool.close)
        return _pool


def start_workers() -> None:
    """Start the check workers (idempotent); they load the checker in the background."""
    _workers()


async def check_in_worker(
    new: str, previous: Sequence[str], level: Compatibility, limits: AvroLimits
) -> list[str]:
    """:func:`avro_compatibility_reasons` in a worker process, same answers and errors."""
    request = json.dumps(
        {
            "new": new,
            "previous": list(previous),
            "level": level.value,
            "limits": dataclasses.asdict(limits),
        }
    )
    line = await asyncio.to_thread(_workers().ask, request, limits.check_timeout_seconds)
    if line is None:
        raise SchemaTooComplex(
            f"the compatibility check took longer than {limits.check_timeout_seconds:g} s:"
            " the schema is too complex"
        )
    answer = json.loads(line)
    error = answer.get("error")
    if error == "too_complex":
        raise SchemaTooComplex(answer["message"])
    if error == "invalid":
        raise InvalidAvroSchema(answer["message"])
    if error is not None:
        raise RuntimeError(f"the compatibility worker failed: {answer['message']}")
    reasons: list[str] = answer["reasons"]
    return reasons


class PreparedAvroCheck:
    """A ``SchemaCheck`` whose answer is computed ahead, off the event loop."""

    def __init__(self, limits: AvroLimits) -> None:
        self.limits = limits
        self._ready: dict[tuple[tuple[str, ...], str, Compatibility], list[str]] = {}

    async def prepare(self, previous: Sequence[str], new: str, level: Compatibility) -> list[str]:
        reasons = await check_in_worker(new, previous, level, self.limits)
        self._ready[(tuple(previous), new, level)] = reasons
        return reasons

    def __call__(self, previous: Sequence[str], new: str, level: Compatibility) -> list[str]:
        ready = self._ready.get((tuple(previous), new, level))
        if ready is not None:
            return ready
        return avro_compatibility_reasons(new, previous, level, self.limits)
