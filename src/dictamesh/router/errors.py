"""The router's errors.

::

    DictaMeshError
    ├── ConfigurationError
    │   └── RouterConfigError     a rule set that cannot run (every problem, with its line)
    └── TransformError            one event a rule's transform cannot handle (→ the DLQ)
"""

from __future__ import annotations

from collections.abc import Sequence

from dictamesh.core.errors import ConfigurationError, DictaMeshError

__all__ = ["RouterConfigError", "TransformError"]


class RouterConfigError(ConfigurationError):
    """One or more problems in a rule set; ``problems`` are each worded
    ``"router.yaml, line 7: rules.0.transform.1.mask.email: unknown strategy 'hsh'"``."""

    def __init__(self, problems: Sequence[str] | str) -> None:
        found = [problems] if isinstance(problems, str) else list(problems)
        if len(found) == 1:
            message = found[0]
        else:
            message = f"{len(found)} router rule problems: " + "; ".join(found)
        super().__init__(message, problems=found)
        self.problems: list[str] = found


class TransformError(DictaMeshError):
    """Rule ``rule`` could not transform an event (the event is dead-lettered)."""

    code = "ROUTER_TRANSFORM_ERROR"
    http_status = 422

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"rule {rule!r}: {reason}", rule=rule)
        self.rule = rule
