"""Parsed documents and *valid* validation verdicts, cached per schema and rule set.

Parsing and validating a GraphQL document costs far more CPU than executing it over
in-process data (graphql-core's validation runs some thirty rules, each a visitor over
the whole document). Clients send the same few documents again and again, so this
extension keeps, in one bounded LRU, documents that **passed** validation:

* the parsed document, by **document text and parser options** (the token limit is one:
  a document parsed under a higher limit is never reused under a lower one);
* the verdicts it passed under: operation name, the graphql-core schema and the exact
  tuple of validation rule classes (the depth limiter, introspection switch, text-literal
  rule... each is a class, so a different configuration is a different key).

A document that does not parse or validate is never cached: it is parsed and validated in
full, and gets its errors in the usual order, on every request.

Rules whose verdict depends on the request rather than the document — the query limits
rule prices ``limit: $n`` at the variables sent and charges the tenant's cost budget —
derive from :class:`RequestValidationRule`. They are left out of the key and run on every
request: together with the others when the document is not (yet) known to be valid, alone
when it is, so their errors and side effects are the same either way.

Example::

    install_document_cache(schema, max_entries=1000)   # in place; GraphQLApp does this
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    ParallelVisitor,
    Token,
    TypeInfo,
    TypeInfoVisitor,
    ValidationContext,
    ValidationRule,
    Visitor,
    visit,
)
from strawberry import Schema
from strawberry.extensions import SchemaExtension

__all__ = [
    "MAX_CACHED_DOCUMENT_CHARS",
    "MAX_CACHED_TOKENS",
    "CachedDocument",
    "DocumentCache",
    "DocumentCacheExtension",
    "DocumentCacheFactory",
    "RequestValidationRule",
    "install_document_cache",
    "validate_alone",
]

MAX_CACHED_DOCUMENT_CHARS = 16_384
"""Longer documents are not cached (their text would be the key); they are rare."""

MAX_CACHED_TOKENS = 100_000
"""The cache also keeps at most this many lexical tokens in all. A parsed document costs
about 0.35 KiB per token (tokens, nodes, locations): some 35 MiB at most, even when every
entry is a document at the 2,000-token limit."""

_MAX_VERDICTS = 16  # rule sets / operations / schemas remembered per document


class RequestValidationRule(ValidationRule):
    """A rule whose verdict depends on the request (variables, the caller's budget), not
    only on the document: never part of a cached verdict, run on every request.

    ``operations_only``: the rule looks at nothing but each operation definition (it
    returns ``SKIP`` there and at fragment definitions), so :func:`validate_alone` calls
    it on them directly instead of walking the document with type information."""

    operations_only: ClassVar[bool] = False


_ParseKey = tuple[str, frozenset[tuple[str, Any]]]


@dataclass(eq=False)
class CachedDocument:
    """A document that passed validation, and the verdict keys it passed under."""

    document: DocumentNode
    tokens: int
    verdicts: set[Hashable] = field(default_factory=set)


class DocumentCache:
    """An LRU of documents that passed validation, by text and parser options; bounded by
    ``max_entries`` and by ``max_tokens`` in all.

    Only valid documents go in, so junk a client sends (syntax errors, unknown fields)
    neither stays in memory nor pushes useful entries out."""

    def __init__(self, max_entries: int, *, max_tokens: int = MAX_CACHED_TOKENS) -> None:
        self.max_entries = max_entries
        self.max_tokens = max_tokens
        self._entries: OrderedDict[_ParseKey, CachedDocument] = OrderedDict()
        self._tokens = 0
        # Strawberry may run sync executions in threads; the LRU moves must not interleave.
        self._lock = threading.Lock()
        self.parse_hits = 0
        self.validation_hits = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: _ParseKey) -> CachedDocument | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.parse_hits += 1
            return found

    def passed(self, entry: CachedDocument, verdict: Hashable) -> bool:
        """Whether ``entry`` passed validation under ``verdict`` (counted as a hit)."""
        if verdict not in entry.verdicts:
            return False
        with self._lock:
            self.validation_hits += 1
        return True

    def add_valid(self, key: _ParseKey, document: DocumentNode, verdict: Hashable) -> None:
        """Remember that ``document`` (parsed from ``key``) passed under ``verdict``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.document is not document:
                if entry is not None:
                    self._tokens -= entry.tokens
                entry = CachedDocument(document, _tokens(document, len(key[0])))
                self._entries[key] = entry
                self._tokens += entry.tokens
            if len(entry.verdicts) >= _MAX_VERDICTS:
                entry.verdicts.clear()
            entry.verdicts.add(verdict)
            self._entries.move_to_end(key)
            while self._entries and (
                len(self._entries) > self.max_entries or self._tokens > self.max_tokens
            ):
                _, evicted = self._entries.popitem(last=False)
                self._tokens -= evicted.tokens

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._tokens = 0


def _tokens(document: DocumentNode, chars: int) -> int:
    """Lexical tokens of a parsed document (its token chain); without locations, a guess
    from its length."""
    loc = document.loc
    if loc is None:
        return max(1, chars // 4)
    count = 0
    token: Token | None = loc.start_token
    while token is not None:
        count += 1
        token = token.next
    return count


class DocumentCacheExtension(SchemaExtension):
    """Serves parse and validation from a :class:`DocumentCache` (one instance per request,
    the cache shared)."""

    def __init__(self, cache: DocumentCache) -> None:
        self.cache = cache
        self._key: _ParseKey | None = None
        self._entry: CachedDocument | None = None

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        query = ctx.query
        if ctx.graphql_document is None and query and len(query) <= MAX_CACHED_DOCUMENT_CHARS:
            self._key = key = (query, frozenset(ctx.parse_options.items()))
            entry = self.cache.get(key)
            if entry is not None:
                self._entry = entry
                ctx.graphql_document = entry.document
        yield  # on a miss, another extension (threaded parse) or Strawberry parses it

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        key = self._key
        if key is None or document is None or ctx.pre_execution_errors is not None:
            yield  # not a cacheable document, or another extension decided already
            return
        rules = ctx.validation_rules
        per_request = tuple(r for r in rules if issubclass(r, RequestValidationRule))
        static = rules if not per_request else tuple(r for r in rules if r not in per_request)
        verdict = (ctx.operation_name, ctx.schema._schema, static)
        entry = self._entry
        if (
            static
            and entry is not None
            and entry.document is document
            and self.cache.passed(entry, verdict)
        ):
            # The document passed these exact rules before: only the request's own run.
            ctx.pre_execution_errors = (
                validate_alone(ctx.schema._schema, document, per_request) if per_request else []
            )
            yield
            return
        yield  # Strawberry validates with every rule
        if ctx.pre_execution_errors == [] and static:
            self.cache.add_valid(key, document, verdict)


_MAX_ERRORS = 100  # graphql-core's default for validate()


class _Aborted(Exception):
    pass


def validate_alone(
    schema: GraphQLSchema, document: DocumentNode, rules: Sequence[type[ASTValidationRule]]
) -> list[GraphQLError]:
    """``graphql.validate(schema, document, rules)`` for a few rules, cheaper.

    graphql-core walks the whole document through its parallel visitor whatever the rules
    return; one rule visited on its own stops where it returns ``SKIP`` (the query limits
    rule does at every operation, after measuring it). Rules that are all
    ``operations_only`` are not walked at all: they are called on each operation
    definition. Type info, the error limit and the abort on runaway recursion are as in
    ``validate``.
    """
    errors: list[GraphQLError] = []

    def on_error(error: GraphQLError) -> None:
        if len(errors) >= _MAX_ERRORS:
            raise _Aborted
        errors.append(error)

    type_info = TypeInfo(schema)
    context = ValidationContext(schema, document, type_info, on_error)
    visitors: list[Visitor] = [rule(context) for rule in rules]
    try:
        if all(getattr(rule, "operations_only", False) for rule in rules):
            for definition in document.definitions:
                if isinstance(definition, OperationDefinitionNode):
                    for one in visitors:
                        one.enter_operation_definition(definition)  # type: ignore[attr-defined]
            return errors
        visitor = visitors[0] if len(visitors) == 1 else ParallelVisitor(visitors)
        visit(document, TypeInfoVisitor(type_info, visitor))
    except _Aborted:
        errors.append(
            GraphQLError("Too many validation errors, error limit reached. Validation aborted.")
        )
    except RecursionError:
        errors.append(GraphQLError("Validation aborted."))
    return errors


@dataclass(frozen=True, eq=False)
class DocumentCacheFactory:
    """One :class:`DocumentCacheExtension` per request over the one shared cache."""

    cache: DocumentCache

    def __call__(self) -> SchemaExtension:
        return DocumentCacheExtension(self.cache)


def install_document_cache(schema: Schema, max_entries: int) -> Schema:
    """Put a document cache of ``max_entries`` first in ``schema``'s extensions (in place)
    unless it has one; ``0``: no cache.

    First, so its parse hook hands over a cached document before the threaded parse
    would parse it again."""
    if max_entries and not any(isinstance(e, DocumentCacheFactory) for e in schema.extensions):
        factory = DocumentCacheFactory(DocumentCache(max_entries))
        schema.extensions = (factory, *schema.extensions)
    return schema
