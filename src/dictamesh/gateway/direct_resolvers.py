"""Generated fields resolved by graphql-core directly, without Strawberry's per-field wrapper.

Strawberry calls every resolver through a wrapper built for the general case: it wraps
graphql-core's ``info`` in a Strawberry ``Info``, converts the arguments to Python
(``get_arguments``), chains the field extensions and awaits an async result in a
coroutine of its own — per field and per object, the largest part of executing a small
query. The generated attribute, nested, relationship and inverse fields need none of it:
they take no arguments, carry no field extensions or permission classes, and read only
``info.context``, ``info.operation``, ``info.path`` and ``info.field_name``, which
graphql-core's ``GraphQLResolveInfo`` has under the same names. Marked with
:func:`direct`, they are handed to graphql-core as they are (after Strawberry built the
schema, so types, names and descriptions are Strawberry's).

Schema extensions' ``resolve`` hooks still run: Strawberry installs them as graphql-core
middleware, which wraps whatever resolver the field has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from graphql import GraphQLObjectType, GraphQLSchema
from strawberry.schema.schema_converter import GraphQLCoreConverter

__all__ = ["direct", "install_direct_resolvers"]

_F = TypeVar("_F", bound=Callable[..., Any])
_MARK = "__dictamesh_direct__"


def direct(resolver: _F) -> _F:
    """Mark ``resolver(root, info)`` (no arguments) to be called by graphql-core as is."""
    setattr(resolver, _MARK, True)
    return resolver


def install_direct_resolvers(schema: GraphQLSchema) -> int:
    """Hand the marked resolvers of ``schema``'s object types to graphql-core (in place);
    a field with field extensions, permission classes or exception handlers keeps
    Strawberry's wrapper. Returns how many fields were changed."""
    changed = 0
    for named in schema.type_map.values():
        if not isinstance(named, GraphQLObjectType) or named.name.startswith("__"):
            continue
        for graphql_field in named.fields.values():
            definition = (graphql_field.extensions or {}).get(
                GraphQLCoreConverter.DEFINITION_BACKREF
            )
            base = getattr(definition, "base_resolver", None)
            func = getattr(base, "wrapped_func", None)
            if (
                func is None
                or not getattr(func, _MARK, False)
                or graphql_field.args
                or getattr(definition, "extensions", None)
                or getattr(definition, "permission_classes", None)
                or getattr(definition, "is_subscription", False)
                or getattr(definition, "exception_handlers", None)
            ):
                continue
            graphql_field.resolve = func
            changed += 1
    return changed
