"""GraphQL string literals through the edge's text check (:mod:`dictamesh.core.inputs`).

A document's text may be clean while a literal is not: ``"\\u0000"`` and ``"\\u{0}"`` are
escapes the parser turns into NUL. This validation rule refuses such a literal as
``BAD_USER_INPUT`` before execution, so no resolver, adapter or database sees it.
(Variables are checked where the request is parsed, :mod:`dictamesh.api.graphql_http`.)

Example::

    install_text_rule(schema)   # in place, idempotent
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, StringValueNode, ValidationRule
from strawberry import Schema
from strawberry.extensions import AddValidationRules

from dictamesh.core.inputs import bad_text_reason
from dictamesh.gateway.errors import BAD_USER_INPUT

__all__ = ["TextLiteralRule", "install_text_rule"]


class TextLiteralRule(ValidationRule):
    """Reports every string literal holding NUL or an unpaired surrogate."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        reason = bad_text_reason(node.value)
        if reason is not None:
            self.report_error(
                GraphQLError(
                    f"a string literal contains {reason}",
                    node,
                    extensions={"code": BAD_USER_INPUT},
                )
            )


class _TextRuleExtension(AddValidationRules):
    def __init__(self) -> None:
        super().__init__([TextLiteralRule])


def install_text_rule(schema: Schema) -> Schema:
    """Add :class:`TextLiteralRule` to ``schema`` unless it has it (in place)."""
    if _TextRuleExtension not in schema.extensions:
        schema.extensions = (*schema.extensions, _TextRuleExtension)
    return schema
