"""Governance over GraphQL: the hooks of the generated types (called by
:mod:`dictamesh.gateway.schema_builder`, :mod:`dictamesh.gateway.catalog` and
:mod:`dictamesh.gateway.subscriptions`). The decisions, masking and audit are plain functions
of :mod:`dictamesh.governance`; this module is only their GraphQL glue.

* :func:`guard_field` wraps the resolver of every generated attribute field: a classified
  field is decided, audited and masked each time it is resolved; an unclassified one only
  when the policy has deny rules that could name it;
* :func:`guard_entity` runs whenever an entity becomes a GraphQL object (``Node.of``): an
  entity-level ``read`` denial (and ``subscribe`` on a WebSocket) makes the field that
  returned it ``null`` with a ``FORBIDDEN`` error;
* :func:`guard_query` refuses a page of an entity type the caller may not read, and
  filters and sorts on fields it cannot read in clear;
* :func:`guard_subscribe` refuses a subscription without ``subscribe`` and ``read``;
* :func:`search_scope` governs catalog search: the values the caller cannot read in clear
  neither match nor score, the types it cannot read are dropped before fusion;
* :func:`guard_catalog_type` and :func:`type_access` keep the catalog's entries, graphs and
  lineage to the entity types the caller may read (``dictamesh.gateway.catalog`` filters
  with :mod:`dictamesh.governance.related`); :func:`visible_changed` drops the fields the
  caller cannot read in clear from a subscription payload's ``changedFields``.

A denied **nullable** field is ``null`` with a ``FORBIDDEN`` error at its path. A denied
**non-null** field cannot be null without nulling its parent, so a ``String!`` answers the
redaction placeholder ``"[REDACTED]"`` and a non-null list ``[]`` (no error); other non-null
types (``Int!``, ``DateTime!``, ...) raise, and the parent object becomes ``null``. A masked
value keeps its type where it can (strings, JSON); a masked number or date is ``null``.

Nothing is governed unless a :class:`~dictamesh.governance.enforce.Governance` is active
(the API activates the node's for every request; ``with governance.use():`` elsewhere).

Example::

    with governance.use(), bind(principal):
        result = await schema.execute("{ customer(id: \\"c-1\\") { email } }",
                                      context_value=GatewayContext(registry))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from graphql import OperationType
from strawberry.types import Info

from dictamesh.core.context import current_principal
from dictamesh.core.errors import DictaMeshError, PermissionDenied
from dictamesh.core.models import EntitySchema, FieldSpec, FieldType, Query
from dictamesh.core.principal import Principal
from dictamesh.gateway.context import CONTEXT_KEY, gateway_context
from dictamesh.governance.enforce import (
    CHANNEL_GRAPHQL,
    CHANNEL_SUBSCRIPTION,
    Governance,
    SchemaLookup,
    active_governance,
    current_channel,
    is_classified,
)
from dictamesh.governance.masking import REDACTED, MaskStrategy
from dictamesh.governance.policy import Action, Decision
from dictamesh.governance.related import TypeAccess, visible_changed_fields
from dictamesh.search.hybrid import SearchScope

__all__ = [
    "guard_catalog_type",
    "guard_entity",
    "guard_field",
    "guard_query",
    "guard_subscribe",
    "search_scope",
    "type_access",
    "visible_changed",
]

_MISSING = object()
_MASKABLE = frozenset({FieldType.STRING, FieldType.JSON})


def _principal(info: Info[Any, Any]) -> Principal | None:
    """The request's caller: ``GatewayContext.principal``, else the auth middleware's."""
    ctx = info.context
    if isinstance(ctx, Mapping):
        ctx = ctx.get(CONTEXT_KEY, ctx)
    found = getattr(ctx, "principal", _MISSING)
    if found is _MISSING:
        return current_principal.get()
    return found if isinstance(found, Principal) else None


def _channel(info: Info[Any, Any]) -> str:
    operation = getattr(info.operation, "operation", None)
    return CHANNEL_SUBSCRIPTION if operation is OperationType.SUBSCRIPTION else CHANNEL_GRAPHQL


def _locate(root: Any, name: str) -> tuple[str, str, str | None]:
    """(top-level entity type, field path, entity id) of field ``name`` of ``root``; a
    nested object (invoice item) names its owner in ``Node.owner``."""
    parts = [name]
    node = root
    owner = getattr(node, "owner", None)
    while owner is not None:
        node, attribute = owner
        parts.append(attribute)
        owner = getattr(node, "owner", None)
    return str(node.type), ".".join(reversed(parts)), getattr(node, "id", None)


def _forbidden(info: Info[Any, Any], message: str = "not allowed to read") -> PermissionDenied:
    where = f"{info.path.typename}.{info.field_name}"  # the parent type's name
    return PermissionDenied(f"{message} {where}", field=where)


def _withheld(spec: FieldSpec, info: Info[Any, Any]) -> Any:
    if not spec.required:
        raise _forbidden(info)
    if spec.many:
        return []
    if spec.type is FieldType.STRING:
        return REDACTED
    raise _forbidden(info)


def _masked(
    governance: Governance, spec: FieldSpec, value: Any, mask: MaskStrategy, info: Info[Any, Any]
) -> Any:
    if value is None:
        return None
    masked = governance.mask_value(value, spec, mask) if spec.type in _MASKABLE else None
    if masked is None and spec.required:
        if spec.many:
            return []
        raise _forbidden(info, "no masked form of")
    return masked


def guard_field(
    resolve: Callable[[Any], Any], spec: FieldSpec, schema: EntitySchema
) -> Callable[..., Any]:
    """The resolver of attribute ``spec`` of ``schema``'s type, governed (see module doc)."""
    name = spec.name

    if is_classified(spec.classification):

        def outcome(
            governance: Governance, decision: Decision, audited: bool, root: Any, info: Info
        ) -> Any:
            if not decision.allowed or not audited:
                if decision.allowed:
                    governance.withheld += 1
                return _withheld(spec, info)
            if decision.mask is MaskStrategy.NONE:
                return resolve(root)
            return _masked(governance, spec, root.attributes.get(name), decision.mask, info)

        async def audited_later(
            governance: Governance, decision: Decision, entry: Any, root: Any, info: Info
        ) -> Any:
            return outcome(governance, decision, await governance.record([entry]), root, info)

        async def with_consents(
            governance: Governance, principal: Principal | None, root: Any, info: Info
        ) -> Any:
            entity_type, path, entity_id = _locate(root, name)
            # the subject's consents, read once per request (docs/governance.md)
            consents = await governance.consents(entity_type, [entity_id], principal)
            decision = governance.field_decision(
                principal, entity_type, schema.domain, path, spec.classification,
                entity_id=entity_id, consents=consents,
            )  # fmt: skip
            if decision is None:  # pragma: no cover - classified fields are always decided
                return resolve(root)
            entry = governance.entry(
                decision, principal, channel=_channel(info), entity_id=entity_id
            )
            return outcome(governance, decision, await governance.record([entry]), root, info)

        def classified(root: Any, info: Info) -> Any:
            # Synchronous unless it must wait (a consent lookup, a full audit queue): an
            # async resolver costs graphql-core a coroutine and an event-loop round.
            governance = active_governance()
            if governance is None:
                return resolve(root)
            principal = _principal(info)
            if governance.uses_consent:
                return with_consents(governance, principal, root, info)
            entity_type, path, entity_id = _locate(root, name)
            decision = governance.field_decision(
                principal, entity_type, schema.domain, path, spec.classification,
                entity_id=entity_id,
            )  # fmt: skip
            if decision is None:  # pragma: no cover - classified fields are always decided
                return resolve(root)
            entry = governance.entry(
                decision, principal, channel=_channel(info), entity_id=entity_id
            )
            audited = governance.record_now([entry])
            if audited is None:  # the audit queue is full: wait for room as record() does
                return audited_later(governance, decision, entry, root, info)
            return outcome(governance, decision, audited, root, info)

        return classified

    def unclassified(root: Any, info: Info) -> Any:
        governance = active_governance()
        if governance is None or not governance.restricts_unclassified:
            return resolve(root)
        principal = _principal(info)
        entity_type, path, entity_id = _locate(root, name)
        decision = governance.field_decision(
            principal, entity_type, schema.domain, path, spec.classification,
            entity_id=entity_id,
        )  # fmt: skip
        if decision is None:
            return resolve(root)
        if decision.allowed:  # masked by a purpose/consent rule
            governance.record_nowait(
                [governance.entry(decision, principal, channel=_channel(info), entity_id=entity_id)]
            )
            return _masked(governance, spec, root.attributes.get(name), decision.mask, info)
        governance.record_nowait(
            [governance.entry(decision, principal, channel=_channel(info), entity_id=entity_id)]
        )
        return _withheld(spec, info)

    return unclassified


def guard_entity(entity_type: str, domain: str | None, entity_id: str | None) -> None:
    """Raise ``FORBIDDEN`` when the caller may not read (on a WebSocket: subscribe to)
    entities of ``entity_type``. Called for every entity turned into a GraphQL object."""
    governance = active_governance()
    if governance is None:
        return
    channel = current_channel.get()
    actions = (Action.READ, Action.SUBSCRIBE) if channel == CHANNEL_SUBSCRIPTION else (Action.READ,)
    governance.check_entity_nowait(
        current_principal.get(),
        entity_type,
        domain,
        channel=channel,
        entity_id=entity_id,
        actions=actions,
    )


async def guard_subscribe(info: Info[Any, Any], entity_type: str) -> None:
    """Refuse (``FORBIDDEN``, audited) a subscription to ``entity_type`` unless the caller
    may ``subscribe`` to and ``read`` it: the change events alone (ids, versions, changed
    field names) are data about the entities. Call it before the event stream starts."""
    governance = active_governance()
    if governance is None:
        return
    schema = gateway_context(info).registry.schemas().get(entity_type)
    await governance.check_entity(
        _principal(info),
        entity_type,
        schema.domain if schema is not None else None,
        channel=CHANNEL_SUBSCRIPTION,
        actions=(Action.SUBSCRIBE, Action.READ),
    )


async def guard_query(info: Info[Any, Any], entity_type: str, query: Query) -> None:
    """Before a page of ``entity_type`` is read: refuse (``FORBIDDEN``, audited) when the
    caller may not read the type at all (the page's ``total`` is data too), or filters or
    sorts on a field it cannot read in clear (``email contains "a"`` would reveal masked or
    denied values one guess at a time)."""
    governance = active_governance()
    if governance is None:
        return
    schema = gateway_context(info).registry.schemas().get(entity_type)
    if schema is None:
        return
    await governance.check_entity(
        _principal(info), entity_type, schema.domain, channel=_channel(info)
    )
    if not (query.filters or query.sort):
        return
    principal = _principal(info)
    paths = [f.field for f in query.filters] + [s.field for s in query.sort]
    for path in paths:
        refused = governance.clear_access(principal, schema, path)
        if refused is None:
            continue
        denial = Decision(
            False,
            Action.READ,
            refused.resource,
            reason="filtering or sorting on a field needs clear read access",
            deciding_rules=refused.deciding_rules,
        )
        await governance.record([governance.entry(denial, principal, channel=_channel(info))])
        raise PermissionDenied(
            f"not allowed to filter or sort on {schema.entity_type}.{path}",
            entity_type=schema.entity_type,
            field=path,
        )


def _schema_lookup(info: Info[Any, Any], catalog: Any) -> SchemaLookup:
    """Schemas from the request's adapters, else from ``catalog.get_schema``."""
    schemas = gateway_context(info).registry.schemas()
    get_schema = getattr(catalog, "get_schema", None)

    async def lookup(entity_type: str) -> EntitySchema | None:
        if entity_type in schemas:
            return schemas[entity_type]
        if get_schema is None:
            return None
        try:
            found = await get_schema(entity_type)
        except DictaMeshError:
            return None
        return found if isinstance(found, EntitySchema) else None

    return lookup


def search_scope(info: Info[Any, Any], catalog: Any) -> SearchScope:
    """``catalogSearch``, ``similarEntities``: the caller's governance for
    :class:`~dictamesh.search.hybrid.SearchService` (hidden values neither match nor score,
    types the caller may not read are dropped before fusion and counts)."""
    return SearchScope(
        governance=active_governance(),
        principal=_principal(info),
        channel=_channel(info),
        lookup=_schema_lookup(info, catalog),
        known_types=list(gateway_context(info).registry.schemas()),
    )


def type_access(info: Info[Any, Any], catalog: Any = None) -> TypeAccess | None:
    """The caller's entity-level ``read`` decisions for this request (``None``: nothing is
    governed). For the catalog's graphs, lineage and entries."""
    governance = active_governance()
    if governance is None:
        return None
    return TypeAccess(governance, _principal(info), _schema_lookup(info, catalog))


async def guard_catalog_type(
    info: Info[Any, Any], entity_type: str, catalog: Any = None, entity_id: str | None = None
) -> None:
    """Refuse (``FORBIDDEN``, audited) catalog fields about ``entity_type`` — an entry, its
    relationship graph, its lineage — when the caller may not read that type. Call it
    before reading the catalog."""
    access = type_access(info, catalog)
    if access is None:
        return
    await access.governance.check_entity(
        access.principal,
        entity_type,
        await access.domain(entity_type),
        channel=_channel(info),
        entity_id=entity_id,
    )


def visible_changed(
    info: Info[Any, Any], entity_type: str, names: Iterable[str]
) -> tuple[list[str], int]:
    """A change payload's ``changed_fields`` (attribute names) the caller may see, and how
    many it may not (fields it cannot read in clear: see
    :func:`~dictamesh.governance.related.visible_changed_fields`)."""
    governance = active_governance()
    if governance is None:
        return list(names), 0
    schema = gateway_context(info).registry.schemas().get(entity_type)
    return visible_changed_fields(
        governance, _principal(info), schema, names, channel=_channel(info)
    )
