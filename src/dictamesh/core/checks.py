"""The result of one read-only check (``dictamesh check``): what was checked, how it went.

Each layer probes its own backend (``adapters/probe.py``, ``catalog/probe.py``,
``events/probe.py``, ``cache/probe.py``) and answers with a :class:`CheckResult`; none of
them writes anything or creates a file.

Example::

    result = CheckResult("catalog", CheckStatus.OK, "sqlite: not created yet")
    result.failed          # False
    result.to_dict()       # {'check': 'catalog', 'status': 'ok', 'detail': ..., 'ms': None}
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["CheckResult", "CheckStatus", "elapsed_ms"]


class CheckStatus(StrEnum):
    OK = "ok"
    #: works, but something deserves attention (pending migrations, a degraded source)
    WARN = "warn"
    FAIL = "fail"
    #: nothing to check (an unconfigured Redis, a backend without a probe)
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str
    status: CheckStatus
    detail: str
    #: how long the check took, in milliseconds (``None``: nothing was contacted)
    ms: float | None = None

    @property
    def failed(self) -> bool:
        return self.status is CheckStatus.FAIL

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status.value, "detail": self.detail,
                "ms": self.ms}  # fmt: skip


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a :func:`time.perf_counter` reading), rounded."""
    return round((time.perf_counter() - started) * 1000, 1)
