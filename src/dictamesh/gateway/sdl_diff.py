"""What changed between two GraphQL schemas: graphql-core's ``find_schema_changes`` (the
port of graphql-js's ``findBreakingChanges`` / ``findDangerousChanges`` and their safe
counterpart) as :class:`~dictamesh.core.schema_changes.SchemaChange` records.

Breaking: a removed type, field, argument, enum value, union member or interface, a
changed field or argument type (an output field non-null → nullable, an argument nullable →
non-null), a new required argument or input field. Dangerous: an added enum value, union
member or optional argument, a changed default. Safe: additions nothing existing notices.

A schema comes as SDL or as an introspection result (``{"__schema": ...}``, what
``/graphql`` answers to :data:`INTROSPECTION_QUERY`).

Example::

    changes = diff_sdl(old_sdl, new_sdl)
    breaking = [c for c in changes if c.severity is Severity.BREAKING]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from graphql import (
    GraphQLError,
    GraphQLSchema,
    build_client_schema,
    build_schema,
    get_introspection_query,
    lexicographic_sort_schema,
    print_schema,
)
from graphql.utilities import BreakingChangeType, DangerousChangeType, find_schema_changes

from dictamesh.core.errors import ValidationError
from dictamesh.core.schema_changes import SchemaChange, Severity

__all__ = ["INTROSPECTION_QUERY", "diff_schemas", "diff_sdl", "parse_sdl", "sdl_from_introspection"]

#: the query whose ``data`` :func:`sdl_from_introspection` reads (descriptions included)
INTROSPECTION_QUERY: Final = get_introspection_query(descriptions=True)

# graphql-core's descriptions start with (or quote) the coordinate: "Query.customer was
# removed.", "Argument Query.customers(limit:) has changed type ...", "Customer was removed."
_COORDINATE = re.compile(r"[_A-Za-z]\w*(?:\.[_A-Za-z]\w*)?(?:\([_A-Za-z]\w*:\))?")
_WORDS = frozenset({"A", "An", "Argument", "Directive", "Enum", "Field", "Input", "Type"})


def parse_sdl(sdl: str) -> GraphQLSchema:
    """``sdl`` as a schema; :class:`ValidationError` naming the problem if it is not one.

    Federation directives (``@key``, ``@link``, ...) a subgraph's SDL uses without defining
    are accepted: only the types are compared."""
    try:
        return build_schema(sdl, assume_valid_sdl=True)
    except GraphQLError as exc:
        raise ValidationError(f"not a GraphQL schema: {exc.message}") from exc
    except (TypeError, ValueError) as exc:  # e.g. an unknown type referenced
        raise ValidationError(f"not a GraphQL schema: {exc}") from exc


def sdl_from_introspection(result: Mapping[str, Any]) -> str:
    """The SDL of an introspection result (``data`` of :data:`INTROSPECTION_QUERY`)."""
    try:
        schema = build_client_schema(result)  # type: ignore[arg-type]
    except (GraphQLError, TypeError, ValueError, KeyError) as exc:
        raise ValidationError(f"not a GraphQL introspection result: {exc}") from exc
    return print_schema(lexicographic_sort_schema(schema))


def _severity(kind: object) -> Severity:
    if isinstance(kind, BreakingChangeType):
        return Severity.BREAKING
    if isinstance(kind, DangerousChangeType):
        return Severity.DANGEROUS
    return Severity.SAFE


def _subject(description: str) -> str:
    found = [m.group() for m in _COORDINATE.finditer(description)]
    dotted = [f for f in found if "." in f or "(" in f]
    named = [f for f in found if f[0].isupper() and f not in _WORDS]
    return (dotted or named or [""])[0]


def diff_schemas(old: GraphQLSchema, new: GraphQLSchema) -> list[SchemaChange]:
    """Every change from ``old`` to ``new``: breaking first, then dangerous, then safe."""
    order = {Severity.BREAKING: 0, Severity.DANGEROUS: 1, Severity.SAFE: 2}
    changes = [
        SchemaChange(
            "graphql",
            _subject(change.description),
            _severity(change.type),
            change.type.name,
            change.description,
        )
        for change in find_schema_changes(old, new)
    ]
    return sorted(changes, key=lambda c: order[c.severity])  # stable: graphql-core's order


def diff_sdl(old: str, new: str) -> list[SchemaChange]:
    """:func:`diff_schemas` of two SDL texts."""
    return diff_schemas(parse_sdl(old), parse_sdl(new))
