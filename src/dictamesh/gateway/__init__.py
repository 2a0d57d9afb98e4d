"""The GraphQL gateway: one schema over every data product, generated from their schemas.

Independent of any web framework: :func:`build_schema` gives a Strawberry schema, and
each request needs a fresh :class:`GatewayContext` (it holds the request's DataLoaders).
``dictamesh.api`` mounts it over HTTP at ``/graphql``.

Example::

    from dictamesh.gateway import GatewayContext, build_schema

    schema = build_schema(registry)
    result = await schema.execute(
        '{ customer(id: "c-1") { name invoices { invoiceNumber } } }',
        context_value=GatewayContext(registry),
    )
"""

from dictamesh.gateway.context import CONTEXT_KEY, AdapterSource, GatewayContext, gateway_context
from dictamesh.gateway.errors import DictaMeshErrorExtension, format_error
from dictamesh.gateway.loaders import Loaders
from dictamesh.gateway.schema_builder import (
    FilterInput,
    FilterOperator,
    GatewaySchema,
    Node,
    SchemaBuilder,
    SortInput,
    build_schema,
    type_name,
)

__all__ = [
    "CONTEXT_KEY",
    "AdapterSource",
    "DictaMeshErrorExtension",
    "FilterInput",
    "FilterOperator",
    "GatewayContext",
    "GatewaySchema",
    "Loaders",
    "Node",
    "SchemaBuilder",
    "SortInput",
    "build_schema",
    "format_error",
    "gateway_context",
    "type_name",
]
