"""GraphQL subscriptions to change events, generated like the rest of the schema.

For a mesh serving ``customer``, ``invoice`` and ``product`` the ``Subscription`` type is::

    type Subscription {
      entityChanged(type: String!, id: ID): EntityChange!    # any entity type
      customerChanged(id: ID): CustomerChange!               # one per entity type
      invoiceChanged(id: ID): InvoiceChange!
      productChanged(id: ID): ProductChange!
    }
    type CustomerChange {
      eventId: ID!  eventType: ChangeType!  entityType: String!  entityId: ID!
      version: Int!  changedFields: [String!]!  withheldChangedFields: Int!
      timestamp: DateTime!
      entity: Customer            # null for DELETED, or when the source no longer has it
    }
    type EntityChange { ...the same...  entity: AnyEntity }   # union of the entity types
    enum ChangeType { CREATED UPDATED DELETED }

Events come from the node's :class:`~dictamesh.events.fanout.ChangeFeed` (one bus consumer
per node), filtered by entity type, optional id and the subscriber's tenant (the
``current_tenant`` of the connection: an event is delivered only when its ``tenant_id``
equals it). ``entity`` is **loaded**, not copied from the event: it goes through the
request's DataLoaders and the generated entity type, exactly like ``customer(id)`` — so
field-level rules applied by those resolvers apply here too, and nested fields
(``invoices { items { product { name } } }``) work. Each event gets fresh loaders.
``changedFields`` are GraphQL (camelCase) field names; under governance, fields the subscriber
cannot read in clear (denied or masked) are left out and counted in ``withheldChangedFields``.
A subscriber whose queue overflows
gets one ``SUBSCRIBER_TOO_SLOW`` error and its subscription completes. With governance
active, subscribing needs the policy actions ``subscribe`` and ``read`` on the entity type
(:func:`dictamesh.gateway.governance.guard_subscribe`).

Example::

    feed = ChangeFeed()
    schema = build_live_schema(registry, feed)
    stream = await schema.subscribe(
        'subscription { customerChanged(id: "c-1") { version entity { email } } }',
        context_value=GatewayContext(registry),
    )
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any, Union

import strawberry
from strawberry.types import Info
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case

from dictamesh.core.context import current_tenant
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import ChangeEvent, EventType, validate_entity_id
from dictamesh.events.fanout import ChangeFeed
from dictamesh.gateway.context import AdapterSource, gateway_context
from dictamesh.gateway.errors import bad_user_input
from dictamesh.gateway.governance import guard_subscribe, visible_changed
from dictamesh.gateway.loaders import Loaders
from dictamesh.gateway.schema_builder import (
    MAX_DEPTH,
    ExtensionFactory,
    GatewaySchema,
    GeneratedType,
    Node,
    SchemaBuilder,
    SchemaPart,
    build_schema,
    extension_factories,
    part_fields,
    type_name,
)

__all__ = ["ChangeType", "LiveSchemaBuilder", "build_live_schema", "subscription_type"]

_CHANGE_TYPE = "ChangeType"
_ENTITY_CHANGE = "EntityChange"
_ANY_ENTITY = "AnyEntity"


@strawberry.enum(name=_CHANGE_TYPE, description="What happened to the entity.")
class ChangeType(Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class _Change:
    """Root value of a change payload."""

    event: ChangeEvent
    #: GraphQL names of the entity type's fields, by attribute name
    field_names: Mapping[str, str]


class LiveSchemaBuilder(SchemaBuilder):
    """The one-node builder whose entity types tell a :class:`Node` of their own type
    (``is_type_of``), so ``EntityChange.entity`` can be a union of them."""

    def decorate(self, cls: type, spec: GeneratedType) -> type:
        if spec.top_level and not spec.stub:
            entity_type = spec.entity_type

            def is_type_of(obj: Any, info: Any) -> bool:
                # Lenient for roots that are not Nodes: this check runs on every object
                # field of this type, not only in the union.
                kind = getattr(obj, "type", None)
                return kind == entity_type if isinstance(kind, str) else True

            setattr(cls, "is_type_of", staticmethod(is_type_of))  # noqa: B010
        return super().decorate(cls, spec)


def build_live_schema(
    registry: AdapterSource,
    feed: ChangeFeed | None,
    *,
    plurals: Mapping[str, str] | None = None,
    extensions: Sequence[ExtensionFactory] = (),
    max_depth: int | None = MAX_DEPTH,
    parts: Sequence[SchemaPart] = (),
) -> GatewaySchema:
    """:func:`~dictamesh.gateway.schema_builder.build_schema` plus the ``Subscription``
    type fed by ``feed``, merged with the parts' subscription fields (without a feed:
    exactly ``build_schema``)."""
    if feed is None:
        return build_schema(
            registry, plurals=plurals, extensions=extensions, max_depth=max_depth, parts=parts
        )
    builder = LiveSchemaBuilder(registry.schemas(), plurals=plurals, parts=parts)
    query = builder.query_type()
    return GatewaySchema(
        query=query,
        mutation=builder.mutation_type(),
        subscription=subscription_type(builder, feed),
        extensions=extension_factories(extensions, max_depth),
    )


def subscription_type(builder: SchemaBuilder, feed: ChangeFeed) -> type | None:
    """The ``Subscription`` type over ``builder``'s entity types (call after
    :meth:`SchemaBuilder.query_type`), with the subscription fields of its parts. A mesh
    with no entity types (a catalog-only node) has only the parts' fields, or none."""
    entity_types = list(builder.schemas)
    if not entity_types:
        return builder.subscription_type()
    _check_names(builder)
    objects = {t: builder.object_types[t] for t in entity_types}
    field_names = {
        t: {f.name: to_camel_case(f.name) for f in builder.schemas[t].fields} for t in entity_types
    }
    members = tuple(objects.values())
    # A union needs two members; with one entity type `entity` is simply that type.
    any_entity: Any = (
        Annotated[Union[members], strawberry.union(_ANY_ENTITY)]  # noqa: UP007
        if len(members) > 1
        else members[0]
    )
    generic = _payload_type(_ENTITY_CHANGE, "A change to an entity of any type.", any_entity)
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "entity_changed": _generic_field(feed, generic, objects, field_names),
    }
    for entity_type in entity_types:
        name = type_name(entity_type)
        payload = _payload_type(f"{name}Change", f"A change to a {name}.", objects[entity_type])
        namespace[f"{entity_type}_changed"] = _typed_field(
            feed, entity_type, payload, field_names[entity_type]
        )
    ours = {f.graphql_name or to_camel_case(a) for a, f in namespace.items() if a != "__module__"}
    for attr, part_field in part_fields(
        builder.parts, "subscription_fields", "Subscription", taken=ours
    ).items():
        if attr in namespace:
            raise ConfigurationError(f"Subscription field {attr!r} is defined twice", field=attr)
        namespace[attr] = part_field
    cls = type("Subscription", (), namespace)
    return strawberry.type(cls, name="Subscription")


def _check_names(builder: SchemaBuilder) -> None:
    taken: set[str] = set()
    for entity_type in builder.object_types:
        taken.add(type_name(entity_type))
    taken |= {f"{type_name(t)}Page" for t in builder.page_types}
    for part in builder.parts:
        taken |= part.type_names
    ours = {_CHANGE_TYPE, _ENTITY_CHANGE, _ANY_ENTITY}
    ours |= {f"{type_name(t)}Change" for t in builder.schemas}
    clash = sorted(taken & ours)
    if clash:
        raise ConfigurationError(
            f"GraphQL type name(s) {clash} of the subscriptions are already taken by"
            " entity types or schema parts",
            types=clash,
        )
    fields = {to_camel_case(f"{t}_changed") for t in builder.schemas}
    if "entityChanged" in fields:
        raise ConfigurationError(
            "entity type 'entity' would clash with the subscription field entityChanged",
            entity_type="entity",
        )


# --- payload types ------------------------------------------------------------------------


def _field(resolver: Any, *, name: str, graphql_type: Any, description: str | None = None,
           subscription: bool = False) -> StrawberryField:  # fmt: skip
    made: Any = strawberry.field(
        resolver=resolver,
        name=name,
        graphql_type=graphql_type,
        description=description,
        is_subscription=subscription,
    )
    assert isinstance(made, StrawberryField)
    return made


def _payload_type(name: str, description: str, entity_cls: Any) -> type:
    def event_id(root: _Change) -> strawberry.ID:
        return strawberry.ID(str(root.event.event_id))

    def event_type(root: _Change) -> ChangeType:
        return ChangeType(root.event.event_type.value)

    def entity_type(root: _Change) -> str:
        return root.event.entity.type

    def entity_id(root: _Change) -> strawberry.ID:
        return strawberry.ID(root.event.entity.id)

    def version(root: _Change) -> int:
        return root.event.entity.version

    def changed_fields(root: _Change, info: Info) -> list[str]:
        names = root.field_names
        shown, _ = visible_changed(info, root.event.entity.type, root.event.changed_fields)
        return [names.get(f, to_camel_case(f)) for f in shown]

    def withheld_changed_fields(root: _Change, info: Info) -> int:
        return visible_changed(info, root.event.entity.type, root.event.changed_fields)[1]

    def timestamp(root: _Change) -> datetime:
        return datetime.fromtimestamp(root.event.timestamp / 1000, tz=UTC)

    async def entity(root: _Change, info: Info) -> Node | None:
        if root.event.event_type is EventType.DELETED:
            return None
        ref = root.event.entity
        loaded = await gateway_context(info).loaders.entity(ref.type).load(ref.id)
        return None if loaded is None else Node.of(loaded)

    namespace = {
        "__module__": __name__,
        "event_id": _field(event_id, name="eventId", graphql_type=strawberry.ID),
        "event_type": _field(event_type, name="eventType", graphql_type=ChangeType),
        "entity_type": _field(entity_type, name="entityType", graphql_type=str),
        "entity_id": _field(entity_id, name="entityId", graphql_type=strawberry.ID),
        "version": _field(version, name="version", graphql_type=int),
        "changed_fields": _field(
            changed_fields,
            name="changedFields",
            graphql_type=list[str],
            description="Fields whose value changed (GraphQL names); empty when unknown."
            " Fields you cannot read in clear are left out.",
        ),
        "withheld_changed_fields": _field(
            withheld_changed_fields,
            name="withheldChangedFields",
            graphql_type=int,
            description="How many changed fields were left out of `changedFields`.",
        ),
        "timestamp": _field(timestamp, name="timestamp", graphql_type=datetime),
        "entity": _field(
            entity,
            name="entity",
            graphql_type=Union[entity_cls, None],  # noqa: UP007
            description="The entity as it is now, loaded from its data product (null when"
            " deleted or gone).",
        ),
    }
    return strawberry.type(type(name, (), namespace), name=name, description=description)


# --- subscription fields ------------------------------------------------------------------


async def _events(
    info: Info,
    feed: ChangeFeed,
    entity_type: str,
    entity_id: str | None,
    field_names: Mapping[str, str],
) -> AsyncIterator[_Change]:
    ctx = gateway_context(info)
    # The connection's tenant: set by the auth middleware (header credentials) or by the
    # connection_init authentication, for the whole connection.
    tenant = current_tenant.get()
    async with feed.subscribe(entity_type, entity_id=entity_id, tenant=tenant) as changes:
        async for event in changes:
            # Loaders cache by id: one event must never see the entity of an earlier one.
            ctx.loaders = Loaders(ctx.registry)
            yield _Change(event, field_names)


def _checked_id(id: strawberry.ID | None) -> str | None:
    if id is None:
        return None
    try:
        return validate_entity_id(str(id))
    except ValueError as exc:
        raise bad_user_input(str(exc)) from None


def _generic_field(
    feed: ChangeFeed,
    payload: type,
    objects: Mapping[str, type],
    field_names: Mapping[str, Mapping[str, str]],
) -> StrawberryField:
    by_name = {t: t for t in objects} | {type_name(t): t for t in objects}

    async def resolve(
        info: Info, type: str, id: strawberry.ID | None = None
    ) -> AsyncIterator[_Change]:
        entity_type = by_name.get(type)
        if entity_type is None:
            raise bad_user_input(
                f"unknown entity type {type!r}; known: {', '.join(sorted(objects))}"
            )
        entity_id = _checked_id(id)  # bad input is refused before any policy decision
        await guard_subscribe(info, entity_type)  # governance: subscribe/read allowed?
        return _events(info, feed, entity_type, entity_id, field_names[entity_type])

    return _field(
        resolve,
        name="entityChanged",
        graphql_type=payload,
        description="Changes to entities of `type` (an entity type such as `customer`, or"
        " its GraphQL name), or to the one entity `id`.",
        subscription=True,
    )


def _typed_field(
    feed: ChangeFeed, entity_type: str, payload: type, field_names: Mapping[str, str]
) -> StrawberryField:
    async def resolve(info: Info, id: strawberry.ID | None = None) -> AsyncIterator[_Change]:
        entity_id = _checked_id(id)  # bad input is refused before any policy decision
        await guard_subscribe(info, entity_type)  # governance: subscribe/read allowed?
        return _events(info, feed, entity_type, entity_id, field_names)

    return _field(
        resolve,
        name=to_camel_case(f"{entity_type}_changed"),
        graphql_type=payload,
        description=f"Changes to {type_name(entity_type)} entities, or to the one entity `id`.",
        subscription=True,
    )
