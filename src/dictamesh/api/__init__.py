"""The HTTP API of a mesh node: REST (``/api/v1``), GraphQL (``/graphql``), webhooks, health.

Example::

    from dictamesh.api import ApiContext, create_app

    app = create_app(ApiContext(registry=registry, catalog=catalog))
"""

from dictamesh.api.app import create_app
from dictamesh.api.context import ApiContext, ApiRegistry, CatalogReader
from dictamesh.api.errors import error_body, install_error_handlers
from dictamesh.api.graphql_http import GraphQLApp

__all__ = [
    "ApiContext",
    "ApiRegistry",
    "CatalogReader",
    "GraphQLApp",
    "create_app",
    "error_body",
    "install_error_handlers",
]
