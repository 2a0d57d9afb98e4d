"""Long work shown one step at a time: a Rich spinner on a terminal, plain lines otherwise
(CI logs, pipes), so nobody stares at a silent prompt. Example::

    with Steps(console) as steps:
        steps.start("starting the mesh node")
        ...
        steps.start("registering webhooks")   # ends the previous step
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.status import Status

__all__ = ["Steps"]


class Steps:
    def __init__(self, console: Console) -> None:
        self._console = console
        self._status: Status | None = None
        self._current: str | None = None
        self._started = 0.0

    def start(self, label: str) -> None:
        self.done()
        self._current, self._started = label, time.perf_counter()
        if self._console.is_terminal:
            self._status = self._console.status(escape(label))
            self._status.start()
        else:
            self._console.print(f"{label} …", markup=False, highlight=False)

    def done(self) -> None:
        """End the current step (on a terminal: a ✓ line with its time)."""
        if self._current is None:
            return
        if self._status is not None:
            self._status.stop()
            self._status = None
            ms = (time.perf_counter() - self._started) * 1000
            self._console.print(
                f"[green]✓[/] {escape(self._current)} [dim]({ms:,.0f} ms)[/]", highlight=False
            )
        self._current = None

    def __enter__(self) -> Steps:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.done()
        elif self._status is not None:  # failed: no ✓, the error says what happened
            self._status.stop()
            self._status = None
        self._current = None
