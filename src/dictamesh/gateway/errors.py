"""How errors leave the GraphQL gateway: a stable ``extensions.code``, never internals.

A :class:`~dictamesh.core.errors.DictaMeshError` raised in a resolver keeps its message and
its ``code`` (``SOURCE_UNAVAILABLE``, ``ENTITY_NOT_FOUND``, ...); only the field that raised
becomes ``null``. Bad arguments are ``BAD_USER_INPUT``. Anything else is a bug: it is logged
with its stack trace and reaches the client as ``INTERNAL`` with a generic message.

Example::

    schema = strawberry.Schema(query=Query, extensions=[DictaMeshErrorExtension])
    result = await schema.execute("{ customer(id: \\"c-1\\") { name } }")
    result.errors[0].extensions  # {'code': 'SOURCE_UNAVAILABLE', ...}
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import to_jsonable_python
from strawberry.extensions import SchemaExtension

from dictamesh.core.errors import DictaMeshError
from dictamesh.observability.error_tracking import capture_error

__all__ = [
    "BAD_USER_INPUT",
    "GRAPHQL_VALIDATION_FAILED",
    "INTERNAL",
    "INTERNAL_MESSAGE",
    "DictaMeshErrorExtension",
    "bad_user_input",
    "format_error",
    "log_errors",
    "pydantic_problems",
]

logger = logging.getLogger("dictamesh.gateway")

BAD_USER_INPUT = "BAD_USER_INPUT"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
INTERNAL = "INTERNAL"
INTERNAL_MESSAGE = "Internal error"

# graphql-core raises this TypeError itself when a required value is missing; its message
# names only the schema field, so it is safe (and useful) to show.
_NON_NULL_PREFIX = "Cannot return null for non-nullable field"


def bad_user_input(message: str, problems: Any = None) -> GraphQLError:
    """A client error in field arguments (raise it from a resolver)."""
    extensions: dict[str, Any] = {"code": BAD_USER_INPUT}
    if problems is not None:
        extensions["details"] = {"problems": _jsonable(problems)}
    return GraphQLError(message, extensions=extensions)


def pydantic_problems(exc: PydanticValidationError) -> list[dict[str, Any]]:
    """Pydantic errors without the offending input values (they may be large or private)."""
    return [
        {"loc": [str(part) for part in err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _jsonable(value: Any) -> Any:
    return to_jsonable_python(value, fallback=str)


def _error_kind(error: GraphQLError) -> tuple[str, str, dict[str, Any] | None]:
    """(code, client message, details) for one error."""
    original = error.original_error
    if isinstance(original, DictaMeshError):
        return original.code, original.message, original.details or None
    own_code = error.extensions.get("code") if error.extensions else None
    if isinstance(own_code, str) and (original is None or isinstance(original, GraphQLError)):
        return own_code, error.message, None  # raised on purpose, e.g. bad_user_input()
    if error.message.startswith("Variable "):
        # graphql-core's variable coercion: about the client's input, message is safe.
        return BAD_USER_INPUT, error.message, None
    if original is None or isinstance(original, GraphQLError):
        # graphql-core about the document (syntax, validation) or about a value it could
        # not serialize during execution; these messages name schema elements only.
        return (GRAPHQL_VALIDATION_FAILED if error.path is None else INTERNAL), error.message, None
    if isinstance(original, TypeError) and str(original).startswith(_NON_NULL_PREFIX):
        return INTERNAL, str(original), None
    return INTERNAL, INTERNAL_MESSAGE, None


def format_error(error: GraphQLError) -> GraphQLError:
    """The client-facing version of ``error``: coded, and without internal details."""
    code, message, details = _error_kind(error)
    extensions: dict[str, Any] = dict(error.extensions or {})
    extensions["code"] = code
    if details:
        extensions["details"] = _jsonable(details)
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


def log_errors(errors: list[GraphQLError]) -> None:
    """Expected errors in one line each; unexpected ones with their stack trace."""
    for error in errors:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError | DictaMeshError):
            code, _, _ = _error_kind(error)
            logger.info("graphql error %s at %s: %s", code, error.path, error.message)
        else:
            logger.error(
                "unexpected error in resolver at %s",
                error.path,
                exc_info=(type(original), original, original.__traceback__),
            )
            field = ".".join(str(p) for p in error.path or () if isinstance(p, str))
            capture_error(original, tags={"graphql_field": field or "-"})


class DictaMeshErrorExtension(SchemaExtension):
    """Rewrites every error of an operation with :func:`format_error` before it is sent."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = [format_error(e) for e in errors]

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # A subscription's results leave one by one, long before on_operation ends.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [format_error(e) for e in errors]
        yield
