"""Degraded GraphQL answers: stale entities in ``extensions``, source errors per field.

When a source is down (or its breaker open) an entity the cache still holds is answered
from that copy, and the response says so::

    {"data": {"customer": {"email": "ada@example.com", ...}},
     "extensions": {"dictamesh": {"stale": [
         {"type": "customer", "id": "1", "ageSeconds": 42.5,
          "reason": "SOURCE_UNAVAILABLE", "adapter": "customers_directus"}]}}}

A field whose data is not cached fails alone — it is ``null`` (every field that calls a
source is nullable) with an error naming the adapter and, when its breaker knows, when to
try again; the rest of the query still answers::

    {"message": "circuit 'products_rest' is open; failing fast", "path": ["invoice", ...],
     "extensions": {"code": "SOURCE_UNAVAILABLE", "adapter": "products_rest",
                    "retryAfterSeconds": 12.3, "details": {...}}}

:class:`StaleAnswersExtension` does both: it opens a read-info collector
(:func:`dictamesh.adapters.base.collect_read_info`) around the execution of a query or
mutation (subscriptions are left alone) — DataLoader
batches run in tasks started inside it, so their reads are collected too — and adds
``adapter``/``retryAfterSeconds`` to errors raised by a
:class:`~dictamesh.core.errors.SourceError`. The gateway adds it to every schema it builds
(:func:`dictamesh.gateway.schema_builder.extension_factories`).

Other extensions that add to ``extensions.dictamesh`` should merge into
``execution_context.extensions_results.setdefault("dictamesh", {})`` as this one does,
so neither overwrites the other.

Example::

    schema = build_schema(registry)             # includes StaleAnswersExtension
    result = await schema.execute(query, context_value=GatewayContext(registry))
    result.extensions["dictamesh"]["stale"]     # when something was served stale
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from dictamesh.adapters.base import ReadInfo, collect_read_info
from dictamesh.core.errors import SourceError, SourceRateLimited
from dictamesh.core.models import Entity

__all__ = [
    "EXTENSION_KEY",
    "StaleAnswersExtension",
    "answer_from_cache",
    "source_error_extensions",
]

EXTENSION_KEY = "dictamesh"
"""Key of DictaMesh's own entries in a GraphQL response's ``extensions``."""


def source_error_extensions(exc: SourceError) -> dict[str, Any]:
    """``adapter`` and ``retryAfterSeconds`` of a source error, where known."""
    details = exc.details or {}
    out: dict[str, Any] = {}
    adapter = details.get("adapter") or details.get("circuit") or details.get("source")
    if isinstance(adapter, str):
        out["adapter"] = adapter
    retry_after = details.get("retry_after_seconds")
    if retry_after is None and isinstance(exc, SourceRateLimited):
        retry_after = exc.retry_after
    if isinstance(retry_after, int | float) and retry_after > 0:
        out["retryAfterSeconds"] = round(float(retry_after), 3)
    return out


async def answer_from_cache(
    adapter: Any, ids: Sequence[str], error: SourceError
) -> list[Entity | BaseException | None]:
    """A DataLoader batch whose source call failed with ``error``: the cached copy for each
    id that has one, ``error`` for the others (DataLoader raises it for that key only).

    Without a cache to ask (an adapter that is no ``AdapterBase``), every id fails.
    A batch of one already got its stale copy from the cache before the error surfaced.
    """
    cached = getattr(adapter, "get_cached_entities", None)
    if cached is None or len(ids) < 2:
        return [error] * len(ids)
    found: list[Entity | None] = await cached(ids, error=error)
    return [error if entity is None else entity for entity in found]


def _is_subscription(extension: SchemaExtension) -> bool:
    try:
        return extension.execution_context.operation_type is OperationType.SUBSCRIPTION
    except Exception:  # no parsable operation: nothing will execute anyway
        return False


class StaleAnswersExtension(SchemaExtension):
    """Collects stale reads into ``extensions.dictamesh.stale`` and names the adapter (and
    when to retry) on source errors (module docstring)."""

    def on_execute(self) -> Iterator[None]:
        # Around execution only (the operation type is known by then): a subscription
        # would keep one collector growing for as long as it streams, so it gets none.
        if _is_subscription(self):
            yield
            return
        collector = collect_read_info()
        info = collector.__enter__()
        try:
            yield
        finally:
            # an execution resumed in another context cannot reset the contextvar;
            # the collector is then simply left behind in that context
            with contextlib.suppress(ValueError):
                collector.__exit__(None, None, None)
        self._annotate_errors()
        self._attach(info)

    def _attach(self, info: ReadInfo) -> None:
        if not info.stale:
            return
        ours = info.to_extensions()[EXTENSION_KEY]
        results = self.execution_context.extensions_results
        merged = results.setdefault(EXTENSION_KEY, {})
        if isinstance(merged, dict):
            merged.update(ours)

    def _annotate_errors(self) -> None:
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is None or not errors:
            return
        annotated = []
        for error in errors:
            original = error.original_error
            extra = source_error_extensions(original) if isinstance(original, SourceError) else {}
            if not extra:
                annotated.append(error)
                continue
            annotated.append(
                GraphQLError(
                    error.message,
                    nodes=error.nodes,
                    source=error.source,
                    positions=error.positions,
                    path=error.path,
                    original_error=original,
                    extensions={**(error.extensions or {}), **extra},
                )
            )
        result.errors = annotated
