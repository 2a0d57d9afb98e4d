"""Large GraphQL documents are parsed in a worker thread, never on the event loop.

graphql-core's lexer is pure Python: a document of a few hundred kilobytes (one long string
literal is enough, and costs a single token) keeps the loop busy for a noticeable time, and
every other request of the node waits. Above ``threshold_bytes`` this extension parses the
document in a thread (with the same parser options, so the token limit still applies) and
hands Strawberry the finished AST; smaller documents are parsed inline as before, where a
thread hop would cost more than it saves.

Example::

    install_threaded_parse(schema, threshold_bytes=16_384)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, GraphQLError, parse
from strawberry import Schema
from strawberry.extensions import SchemaExtension

from dictamesh.gateway.limits import token_limit_error

__all__ = ["ThreadedParseExtension", "ThreadedParseFactory", "install_threaded_parse"]


class ThreadedParseExtension(SchemaExtension):
    """Parses documents above ``threshold_bytes`` off the event loop."""

    def __init__(self, threshold_bytes: int) -> None:
        self.threshold_bytes = threshold_bytes

    def hook_needed(self, hook_name: str) -> bool:
        """Only for a document above the threshold (``CachedHooksRunner`` skips the hook
        otherwise: an async hook that only yields still costs a context manager)."""
        query = self.execution_context.query
        return bool(
            self.threshold_bytes and query is not None and len(query) > self.threshold_bytes
        )

    async def on_parse(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        query = ctx.query
        if (
            ctx.graphql_document is None
            and query is not None
            and self.threshold_bytes
            and len(query) > self.threshold_bytes
        ):
            options: dict[str, Any] = dict(ctx.parse_options)
            # A GraphQLError raised here becomes a request error, as Strawberry's own parse
            # failure would.
            ctx.graphql_document = await asyncio.to_thread(_parse, query, options)
        yield


def _parse(query: str, options: dict[str, Any]) -> DocumentNode:
    try:
        return parse(query, **options)
    except GraphQLError as error:
        # coded here, in the thread: counting the tokens of a big document costs time too
        limit = options.get("max_lexical_tokens") or options.get("max_tokens")
        coded = token_limit_error(error, query, int(limit)) if limit else None
        raise (coded or error) from None


@dataclass(frozen=True)
class ThreadedParseFactory:
    """One :class:`ThreadedParseExtension` per request, as Strawberry expects."""

    threshold_bytes: int

    def __call__(self) -> SchemaExtension:
        return ThreadedParseExtension(self.threshold_bytes)


def install_threaded_parse(schema: Schema, threshold_bytes: int) -> Schema:
    """Add the extension to ``schema`` (in place) unless it has one; ``0``: never."""
    if threshold_bytes and not any(
        isinstance(ext, ThreadedParseFactory) for ext in schema.extensions
    ):
        schema.extensions = (*schema.extensions, ThreadedParseFactory(threshold_bytes))
    return schema
