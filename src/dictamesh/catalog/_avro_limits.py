"""Bounds on what one Avro schema may cost the registry: size, nesting, unions, named types,
and the time of one compatibility check.

Checked on the parsed JSON with an explicit stack (so a schema nested thousands deep is a
clean refusal, not a ``RecursionError``), before fastavro or the resolution rules ever see
it. A refusal is :class:`SchemaTooComplex`, an :class:`InvalidAvroSchema`, which the
registry answers 422 / 42201 like any other invalid schema.

Example::

    obj = load_bounded(text, AvroLimits())        # raises SchemaTooComplex
    deadline = AvroLimits().deadline()             # for the compatibility walk
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from dictamesh.core.settings import SchemaRegistryLimits

__all__ = ["AvroLimits", "Deadline", "InvalidAvroSchema", "SchemaTooComplex", "load_bounded"]


#: the registry bounds a node starts with
_DEFAULTS = SchemaRegistryLimits()


class InvalidAvroSchema(ValueError):
    """The text is not a valid Avro schema (the message says why)."""


class SchemaTooComplex(InvalidAvroSchema):
    """The schema is over one of the registry's bounds, or its check ran out of time."""


@dataclass(frozen=True)
class AvroLimits:
    """What one schema may be; every bound is checked before any work proportional to it.
    The defaults and the meaning of each bound are the settings'
    (:class:`~dictamesh.core.settings.SchemaRegistryLimits`, ``catalog.schema_registry``)."""

    max_bytes: int = _DEFAULTS.max_bytes
    max_depth: int = _DEFAULTS.max_depth
    max_list_items: int = _DEFAULTS.max_list_items
    max_named_types: int = _DEFAULTS.max_named_types
    check_timeout_seconds: float = _DEFAULTS.check_timeout_seconds

    def deadline(self) -> Deadline:
        return Deadline(self.check_timeout_seconds)


class Deadline:
    """A cooperative time limit: ``tick()`` is cheap and raises once the time is up."""

    __slots__ = ("_at", "_seconds", "_steps")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._at = time.monotonic() + seconds
        self._steps = 0

    def tick(self) -> None:
        self._steps += 1
        if self._steps & 0xFF == 0 and time.monotonic() > self._at:
            raise SchemaTooComplex(
                f"the compatibility check took longer than {self._seconds:g} s: the schema is"
                " too complex"
            )


def load_bounded(text: str, limits: AvroLimits) -> Any:
    """``text`` as JSON, refused with :class:`SchemaTooComplex` above any bound of ``limits``
    and with :class:`InvalidAvroSchema` when it is not JSON."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise SchemaTooComplex(f"the schema has {size} bytes, over the limit of {limits.max_bytes}")
    try:
        obj = json.loads(text)
    except RecursionError:
        raise SchemaTooComplex(
            f"the schema is nested deeper than the limit of {limits.max_depth}"
        ) from None
    except ValueError as exc:
        raise InvalidAvroSchema(f"not JSON: {exc}") from exc
    check_bounds(obj, limits)
    return obj


def check_bounds(obj: Any, limits: AvroLimits) -> None:
    """Depth, union width and named-type count of a loaded schema (iterative)."""
    named = 0
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limits.max_depth:
            raise SchemaTooComplex(
                f"the schema is nested deeper than the limit of {limits.max_depth}"
            )
        if isinstance(node, list):
            if len(node) > limits.max_list_items:
                raise SchemaTooComplex(
                    f"a list of {len(node)} items (union branches, fields or symbols) is over"
                    f" the limit of {limits.max_list_items}"
                )
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, dict):
            if node.get("type") in ("record", "error", "enum", "fixed"):
                named += 1
                if named > limits.max_named_types:
                    raise SchemaTooComplex(
                        f"the schema defines more than {limits.max_named_types} named types"
                    )
            stack.extend((value, depth + 1) for value in node.values())
