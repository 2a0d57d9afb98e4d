"""The per-request GraphQL context: the adapters, and fresh DataLoaders for this request.

DataLoaders cache by key, so they must never outlive one request (a later request would
see stale entities, and one tenant another's). Create one :class:`GatewayContext` per
request; the transport (``dictamesh.api``, a federation subgraph, a test) decides how.

The caller is ``ctx.principal``: given explicitly, or taken from
:data:`dictamesh.core.context.current_principal`, which the auth middleware sets for the
request (``None`` when anonymous or auth is off).

Example::

    ctx = GatewayContext(registry)
    result = await schema.execute("{ customers { items { name } } }", context_value=ctx)

    @strawberry.field
    def me(self, info: Info) -> str | None:
        who = gateway_context(info).principal
        return who.subject if who else None
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from strawberry.types import Info

from dictamesh.adapters.contract import DataProductAdapter
from dictamesh.core.context import current_principal
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import EntitySchema
from dictamesh.core.principal import Principal
from dictamesh.gateway.loaders import Loaders

__all__ = ["CONTEXT_KEY", "AdapterSource", "GatewayContext", "gateway_context"]

#: key under which a dict-shaped context (e.g. strawberry's FastAPI router) carries ours
CONTEXT_KEY = "dictamesh"


class AdapterSource(Protocol):
    """What the gateway needs from :class:`dictamesh.adapters.registry.AdapterRegistry`."""

    def for_type(self, entity_type: str) -> DataProductAdapter:
        """The adapter serving ``entity_type``; raises ``UnknownEntityType``."""
        ...

    def entity_types(self) -> Iterable[str]: ...

    def schemas(self) -> Mapping[str, EntitySchema]: ...


@dataclass
class GatewayContext:
    """Everything a resolver may use during one GraphQL request."""

    registry: AdapterSource
    #: transport request object (a Starlette ``Request`` over HTTP), if any
    request: Any = None
    #: the authenticated caller; defaults to the one the auth middleware set
    principal: Principal | None = None
    #: the ``connection_init`` payload of a GraphQL WebSocket connection (Strawberry sets it)
    connection_params: dict[str, Any] | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.registry)
        if self.principal is None:
            self.principal = current_principal.get()


def gateway_context(info: Info[Any, Any]) -> GatewayContext:
    """Our context, whether it is the context object or sits under ``CONTEXT_KEY``."""
    ctx = info.context
    if isinstance(ctx, GatewayContext):
        return ctx
    if isinstance(ctx, Mapping) and isinstance(ctx.get(CONTEXT_KEY), GatewayContext):
        return ctx[CONTEXT_KEY]  # type: ignore[no-any-return]
    raise ConfigurationError(
        "the GraphQL context must be a GatewayContext (or a dict holding one under"
        f" {CONTEXT_KEY!r}); create one per request"
    )
