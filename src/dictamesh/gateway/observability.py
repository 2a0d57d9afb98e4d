"""Observability over GraphQL: a Strawberry extension that runs each operation in a span.

The span (``GraphQL query GetCustomer``) is current while the operation executes, so the
DataLoader batches, adapter calls and source requests it causes nest under it.
:func:`dictamesh.api.observability.instrument_app` adds it to the app's schema.

Example::

    schema = build_schema(registry, extensions=[GraphQLTracing])
"""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from dictamesh.observability.tracing import span, tracing_enabled

__all__ = ["GraphQLTracing"]


class GraphQLTracing(SchemaExtension):
    def hook_needed(self, hook_name: str) -> bool:
        """Nothing to do with tracing off (``CachedHooksRunner`` then skips the hook)."""
        return tracing_enabled()

    def on_operation(self) -> Iterator[None]:
        if not tracing_enabled():
            yield
            return
        with span("GraphQL operation") as current:
            yield
            ctx = self.execution_context
            try:
                kind = ctx.operation_type.value
            except Exception:  # the document did not parse: no operation to name
                kind = "unknown"
            name = ctx.operation_name
            current.update_name(f"GraphQL {kind} {name}" if name else f"GraphQL {kind}")
            current.set_attribute("graphql.operation.type", kind)
            if name:
                current.set_attribute("graphql.operation.name", name)
            result = ctx.result
            errors = getattr(result, "errors", None) if result is not None else None
            if errors:
                current.set_attribute("graphql.errors", len(errors))
