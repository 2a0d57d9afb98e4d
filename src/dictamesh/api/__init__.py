"""The HTTP API of a mesh node: REST (``/api/v1``), GraphQL (``/graphql``), webhooks, health.

Example::

    from dictamesh.api import ApiContext, create_app

    app = create_app(ApiContext(registry=registry, catalog=catalog))
"""

from dictamesh.api.app import ApiContext, ApiRegistry, CatalogReader, GraphQLApp, create_app
from dictamesh.api.errors import error_body, install_error_handlers

__all__ = [
    "ApiContext",
    "ApiRegistry",
    "CatalogReader",
    "GraphQLApp",
    "create_app",
    "error_body",
    "install_error_handlers",
]
