"""When a test runs close to its pytest-timeout, print where every asyncio task is waiting.

pytest-timeout fails a hung test with the main thread's stack, which for an async test is
only the event loop's ``select``: the task that hangs is invisible. Shortly before the
timeout this plugin interrupts the main thread (SIGUSR1) and, from inside the running loop,
prints each task's stack to stderr — what a CI-only hang needs to be found.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

import pytest

# seconds before pytest-timeout fires
_LEAD = 15.0


def _dump_tasks(signum: int, frame: FrameType | None) -> None:
    loop = asyncio._get_running_loop()
    if loop is None:
        print("[hang-report] no event loop running in the main thread", file=sys.stderr)
        return
    tasks = asyncio.all_tasks(loop)
    print(f"[hang-report] {len(tasks)} asyncio tasks:", file=sys.stderr)
    for task in tasks:
        print(f"--- {task!r}", file=sys.stderr)
        task.print_stack(limit=12, file=sys.stderr)
        # a task's stack stops at its own coroutine: walk what it awaits (async generators
        # of fixtures, nested coroutines) down to the await that does not return
        for line in _await_chain(task.get_coro()):
            print(f"    awaits {line}", file=sys.stderr)


def _await_chain(awaitable: object, depth: int = 0) -> Iterator[str]:
    if awaitable is None or depth > 40:
        return
    frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "ag_frame", None)
    frame = frame or getattr(awaitable, "gi_frame", None)
    if frame is not None:
        yield f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}"
    inner = (
        getattr(awaitable, "cr_await", None)
        or getattr(awaitable, "ag_await", None)
        or getattr(awaitable, "gi_yieldfrom", None)
    )
    if inner is None and frame is None:
        # an async generator's asend (an async fixture's teardown): its generator is what
        # it refers to
        generators = [r for r in gc.get_referents(awaitable) if hasattr(r, "ag_frame")]
        inner = generators[0] if generators else None
        if inner is None:
            yield repr(awaitable)[:200]
    if inner is not None:
        yield from _await_chain(inner, depth + 1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    marker = item.get_closest_marker("timeout")
    timeout = float(marker.args[0]) if marker and marker.args else item.config.getini("timeout")
    timeout = float(timeout or 0)
    if timeout <= _LEAD or not hasattr(signal, "pthread_kill"):
        yield
        return
    main = threading.main_thread().ident
    assert main is not None
    previous = signal.signal(signal.SIGUSR1, _dump_tasks)
    timer = threading.Timer(timeout - _LEAD, signal.pthread_kill, (main, signal.SIGUSR1))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
