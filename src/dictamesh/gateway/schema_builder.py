"""The GraphQL schema, generated from the registered adapters' :class:`EntitySchema`.

A new adapter appears in GraphQL without code. For every entity type ``invoice``:

* an object type ``Invoice`` with ``id: ID!`` and one field per :class:`FieldSpec`
  (``string``→String, ``integer``→Int, ``number``→Float, ``boolean``→Boolean,
  ``datetime``→DateTime, ``date``→Date, ``json``→JSON; ``many``→list; ``required``→non-null;
  snake_case names become camelCase);
* ``Invoice.items: [InvoiceItem!]!`` for every ``EntitySchema.nested`` object list, built from
  the entity's own attribute (no source call);
* ``Invoice.customer: Customer`` for every :class:`RelationshipSpec` (``[Customer!]`` when its
  cardinality is ``many``), loaded by id through the per-request DataLoader;
* ``Customer.invoices: [Invoice!]`` when the relationship names an ``inverse``, loaded with
  one ``in``-filtered query per batch of customers;
* root fields ``invoice(id: ID!): Invoice`` (``null`` when not found) and
  ``invoices(filter, sort, limit = 50, cursor): InvoicePage`` (plural: type + "s", or
  ``plurals={"category": "categories"}``), plus ``entityTypes: [String!]!``.

Fields that call another data product (relationships, root fields) are nullable on purpose:
when one source fails, that field is ``null`` with an error (``extensions.code``, e.g.
``SOURCE_UNAVAILABLE``) and the rest of the answer still arrives.

How the types are made: one plain class per object type is created first with ``type()``;
fields are then attached as ``strawberry.field(resolver=..., graphql_type=...)`` whose types
are those class objects (so ``Customer`` ↔ ``Invoice`` cycles need no forward references);
finally ``strawberry.type`` decorates each class in place. Every resolver receives a
:class:`Node` (entity type, id, attributes) as its root.

The same type generation serves federation (:mod:`dictamesh.gateway.federation`): a
subgraph builds only its domain's types plus key-only *stubs* (``references``) of the
entity types its relationships point to, and :class:`SchemaPart` objects (the catalog) add
root fields and per-entity fields in both the one-node schema and their own subgraph.

Example::

    schema = build_schema(registry)
    result = await schema.execute(
        "{ customers(limit: 10) { items { name invoices { invoiceNumber } } } }",
        context_value=GatewayContext(registry),
    )
"""

from __future__ import annotations

import keyword
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, Optional, Protocol

import strawberry
from graphql import ASTValidationRule, GraphQLError
from pydantic import ValidationError as PydanticValidationError
from strawberry.extensions import AddValidationRules, SchemaExtension
from strawberry.extensions.query_depth_limiter import create_validator
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry.types.execution import ExecutionContext
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case

from dictamesh.core.errors import ConfigurationError, QueryLimitExceeded, SourceResponseError
from dictamesh.core.models import (
    MAX_QUERY_LIMIT,
    Cardinality,
    Classification,
    Entity,
    EntitySchema,
    FieldFilter,
    FieldSpec,
    FieldType,
    FilterOp,
    Page,
    Query,
    RelationshipSpec,
    SortSpec,
    ids_at,
    validate_entity_id,
)
from dictamesh.gateway.context import AdapterSource, gateway_context
from dictamesh.gateway.direct_resolvers import direct, install_direct_resolvers
from dictamesh.gateway.errors import (
    DictaMeshErrorExtension,
    bad_user_input,
    log_errors,
    pydantic_problems,
)
from dictamesh.gateway.extension_hooks import CachedHooksRunner
from dictamesh.gateway.governance import guard_entity, guard_field, guard_query
from dictamesh.gateway.staleness import StaleAnswersExtension

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_DEPTH",
    "DepthLimitFactory",
    "ExtensionFactory",
    "FilterInput",
    "FilterOperator",
    "GatewaySchema",
    "GeneratedType",
    "Node",
    "SchemaBuilder",
    "SchemaPart",
    "SortInput",
    "build_schema",
    "extension_factories",
    "part_fields",
    "type_name",
]

logger = logging.getLogger("dictamesh.gateway")

DEFAULT_LIMIT = 50
MAX_DEPTH = 12
"""Default deepest document nesting; every level may fan out to another data product."""

ExtensionFactory = type[SchemaExtension] | Callable[[], SchemaExtension]

_RESERVED_TYPE_NAMES = frozenset(
    {
        "Query",
        "Mutation",
        "Subscription",
        "FilterInput",
        "SortInput",
        "FilterOp",
        "JSON",
        "DateTime",
        "Date",
        "ID",
        "String",
        "Int",
        "Float",
        "Boolean",
    }
)


# --- static input types ---------------------------------------------------------------


@strawberry.enum(name="FilterOp", description="Comparison of a filter (see core FilterOp).")
class FilterOperator(Enum):
    EQ = "eq"
    IN = "in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    CONTAINS = "contains"


@strawberry.input(name="FilterInput", description="One condition; conditions combine with AND.")
class FilterInput:
    field: str = strawberry.field(description="field name, camelCase or snake_case")
    value: JSON = strawberry.field(description="a scalar, or a list of scalars for IN")
    op: FilterOperator = FilterOperator.EQ


@strawberry.input(name="SortInput")
class SortInput:
    field: str = strawberry.field(description="field name, camelCase or snake_case")
    descending: bool = False


# --- root values ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Node:
    """The root value every generated object type resolves its fields from."""

    type: str
    attributes: Mapping[str, Any]
    id: str | None = None  # None for nested objects (invoice items)
    #: a nested object's parent and the attribute holding it (governance audits the owner)
    owner: tuple[Node, str] | None = None

    @classmethod
    def of(cls, entity: Entity) -> Node:
        # every entity becomes a GraphQL object here: entity-level policy denials apply
        guard_entity(entity.type, entity.source.domain, entity.id)
        return cls(type=entity.type, attributes=entity.attributes, id=entity.id)

    def describe(self) -> str:
        return f"{self.type} {self.id!r}" if self.id is not None else f"a nested {self.type}"


# --- naming ---------------------------------------------------------------------------


def type_name(entity_type: str) -> str:
    """GraphQL type name of an entity type: ``invoice_item`` → ``InvoiceItem``."""
    return "".join(part[:1].upper() + part[1:] for part in entity_type.split("_"))


def _attr(name: str) -> str:
    """A Python attribute name for a field (GraphQL names are always given explicitly)."""
    return f"{name}_" if keyword.iskeyword(name) else name


# --- value conversion (sources send ISO strings where GraphQL wants dates) --------------


def _to_datetime(node: Node, name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise SourceResponseError(f"{name} of {node.describe()} is not a datetime", field=name)


def _to_date(node: Node, name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise SourceResponseError(f"{name} of {node.describe()} is not a date", field=name)


def _to_float(node: Node, name: str, value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _as_is(node: Node, name: str, value: Any) -> Any:
    return value


_Converter = Callable[[Node, str, Any], Any]

_CONVERTERS: dict[FieldType, _Converter] = {
    FieldType.DATETIME: _to_datetime,
    FieldType.DATE: _to_date,
    FieldType.NUMBER: _to_float,
}

_SCALARS: dict[FieldType, Any] = {
    FieldType.STRING: str,
    FieldType.INTEGER: int,
    FieldType.NUMBER: float,
    FieldType.BOOLEAN: bool,
    FieldType.DATETIME: datetime,
    FieldType.DATE: date,
    FieldType.JSON: JSON,
}


def _field(
    resolver: Callable[..., Any],
    *,
    name: str | None = None,
    graphql_type: Any = None,
    description: str | None = None,
    directives: Sequence[object] = (),
) -> StrawberryField:
    """``strawberry.field`` typed for generated fields (its overloads type the resolver)."""
    made: Any = strawberry.field(
        resolver=resolver,
        name=name,
        graphql_type=graphql_type,
        description=description,
        directives=directives,
    )
    assert isinstance(made, StrawberryField)
    return made


# Runtime type expressions for Strawberry (mypy only knows static ones).
def _nullable(annotation: Any) -> Any:
    return Optional[annotation]  # noqa: UP045


def _list_of(annotation: Any) -> Any:
    return list[annotation]


# --- the builder ----------------------------------------------------------------------


class SchemaPart(Protocol):
    """Fields another part of the mesh adds to the generated schema (e.g. the catalog).

    Both methods are called once per build and must return fresh fields (a Strawberry
    field belongs to exactly one type). Keys are Python attribute names; give each field
    its GraphQL ``name``.

    A part may also define ``mutation_fields()`` and ``subscription_fields()`` (same
    shape; subscription fields made with ``is_subscription=True``): optional, found with
    ``getattr`` (:func:`part_fields`), assembled into ``Mutation`` and ``Subscription``
    (merged with the entity-change subscriptions when the schema has a change feed).
    """

    #: GraphQL type names the part defines (entity types may not take them)
    type_names: frozenset[str]

    def root_fields(self) -> dict[str, StrawberryField]:
        """Fields of ``Query``."""
        ...

    def entity_fields(self, entity_type: str) -> dict[str, StrawberryField]:
        """Fields added to the object type of ``entity_type`` (root value: a :class:`Node`)."""
        ...


@dataclass(frozen=True, slots=True)
class GeneratedType:
    """What :meth:`SchemaBuilder.decorate` is told about the type it decorates."""

    entity_type: str
    name: str
    description: str
    #: an entity type (it has ``id``); False for nested object types
    top_level: bool
    #: served elsewhere: only ``id`` plus fields contributed here (a federation stub)
    stub: bool
    #: GraphQL names of its fields
    fields: tuple[str, ...]


@dataclass
class _Inverse:
    name: str
    source_type: str
    via_field: str
    key_type: FieldType | None
    description: str


@dataclass
class _ObjectType:
    schema: EntitySchema
    top_level: bool
    cls: type
    stub: bool = False
    fields: dict[str, StrawberryField] = field(default_factory=dict)
    inverses: list[_Inverse] = field(default_factory=list)

    @property
    def name(self) -> str:
        return type_name(self.schema.entity_type)

    def add(self, attr: str, strawberry_field: StrawberryField) -> None:
        graphql_name = strawberry_field.graphql_name or attr
        taken = {f.graphql_name for f in self.fields.values()}
        if attr in self.fields or graphql_name in taken:
            raise ConfigurationError(
                f"{self.name}.{graphql_name} is defined twice (a field and a relationship,"
                f" or two relationships, share a name)",
                entity_type=self.schema.entity_type,
                field=graphql_name,
            )
        self.fields[attr] = strawberry_field


class SchemaBuilder:
    """Builds the gateway's Strawberry types from entity schemas.

    ``schemas`` are the entity types served (root fields, all fields, relationships).
    ``references`` are entity types served elsewhere that appear here as stubs: ``id``,
    the inverse relationships of served types, and :class:`SchemaPart` entity fields;
    relationships to a stub answer ``{id}`` without loading it. ``mesh_types`` is what
    ``entityTypes`` lists (default: ``schemas``).

    :meth:`build` gives the whole :class:`GatewaySchema`; :attr:`object_types` and
    :meth:`query_type` are there for transports that assemble their own schema (the
    federation subgraph overrides :meth:`decorate`, :meth:`shared_field_directives` and
    :meth:`build`).
    """

    def __init__(
        self,
        schemas: Mapping[str, EntitySchema],
        *,
        plurals: Mapping[str, str] | None = None,
        references: Mapping[str, EntitySchema] | None = None,
        parts: Sequence[SchemaPart] = (),
        mesh_types: Iterable[str] | None = None,
    ) -> None:
        self.schemas = {t: schemas[t] for t in sorted(schemas)}
        self.plurals = {t: (plurals or {}).get(t, f"{t}s") for t in self.schemas}
        self.references = {
            t: s for t, s in sorted((references or {}).items()) if t not in self.schemas
        }
        self.parts = list(parts)
        self.mesh_types = sorted(mesh_types) if mesh_types is not None else list(self.schemas)
        self._types: dict[str, _ObjectType] = {}
        self.object_types: dict[str, type] = {}
        self.page_types: dict[str, type] = {}
        self._built = False

    # --- hooks ------------------------------------------------------------------------

    def decorate(self, cls: type, spec: GeneratedType) -> type:
        """Turn a prepared class into a Strawberry type (override for federation keys).

        Must decorate ``cls`` in place (``strawberry.type`` and
        ``strawberry.federation.type`` do): other types already refer to it.
        """
        return strawberry.type(cls, name=spec.name, description=spec.description)

    def shared_field_directives(self) -> Sequence[object]:
        """Directives of root fields every subgraph defines alike (``entityTypes``)."""
        return ()

    # --- assembly ---------------------------------------------------------------------

    def build(
        self, *, extensions: Sequence[ExtensionFactory] = (), max_depth: int | None = MAX_DEPTH
    ) -> GatewaySchema:
        """The schema; ``max_depth`` refuses deeper documents before anything runs.

        ``Mutation`` and ``Subscription`` exist when parts contribute fields to them."""
        return GatewaySchema(
            query=self.query_type(),
            mutation=self.mutation_type(),
            subscription=self.subscription_type(),
            extensions=extension_factories(extensions, max_depth),
        )

    def mutation_type(self) -> type | None:
        """``Mutation`` of the parts' ``mutation_fields()``; ``None`` when they give none."""
        fields = part_fields(self.parts, "mutation_fields", "Mutation")
        return _root_type("Mutation", fields) if fields else None

    def subscription_type(self) -> type | None:
        """``Subscription`` of the parts' ``subscription_fields()`` alone (the change
        feed's fields join them in :func:`dictamesh.gateway.subscriptions.subscription_type`);
        ``None`` when they give none."""
        fields = part_fields(self.parts, "subscription_fields", "Subscription")
        return _root_type("Subscription", fields) if fields else None

    def query_type(self) -> type:
        self._build_types()
        namespace: dict[str, Any] = {"__module__": __name__}
        for entity_type in self.schemas:
            obj = self._types[entity_type]
            namespace[_attr(entity_type)] = _one_field(entity_type, obj.cls)
            namespace[_attr(self.plurals[entity_type])] = _page_field(
                entity_type, self.page_types[entity_type], self._field_names(obj.schema)
            )
        known = list(self.mesh_types)

        def entity_types() -> list[str]:
            return known

        namespace["entity_types"] = _field(
            resolver=entity_types,
            name="entityTypes",
            graphql_type=list[str],
            description="Entity types served by this gateway.",
            directives=self.shared_field_directives(),
        )
        taken = {to_camel_case(attr) for attr in namespace if attr != "__module__"}
        for part in self.parts:
            for attr, part_field in part.root_fields().items():
                name = part_field.graphql_name or to_camel_case(attr)
                if attr in namespace or name in taken:
                    raise ConfigurationError(
                        f"root field {name} is defined twice (an entity type's root field"
                        " and a schema part's share a name)",
                        field=name,
                    )
                taken.add(name)
                namespace[attr] = part_field
        cls = type("Query", (), namespace)
        return strawberry.type(cls, name="Query")

    def _build_types(self) -> None:
        if self._built:
            return
        self._check_names()
        self._collect(self.schemas.values(), top_level=True)
        for schema in self.references.values():
            self._claim(schema, top_level=True, stub=True)
        self._collect_inverses()
        for obj in self._types.values():
            self._add_fields(obj)
        for obj in self._types.values():
            for attr, strawberry_field in obj.fields.items():
                setattr(obj.cls, attr, strawberry_field)
            description = obj.schema.description or (
                f"`{obj.schema.entity_type}` of the `{obj.schema.domain}` domain"
                f" (schema v{obj.schema.version})"
            )
            spec = GeneratedType(
                entity_type=obj.schema.entity_type,
                name=obj.name,
                description=description,
                top_level=obj.top_level,
                stub=obj.stub,
                fields=tuple(f.graphql_name or a for a, f in obj.fields.items()),
            )
            decorated = self.decorate(obj.cls, spec)
            self.object_types[obj.schema.entity_type] = decorated
        for entity_type in self.schemas:
            self.page_types[entity_type] = _page_type(
                type_name(entity_type), self.object_types[entity_type]
            )
        self._built = True

    def _check_names(self) -> None:
        fields = {_attr(t) for t in self.schemas}
        for entity_type, plural in self.plurals.items():
            if plural in fields or plural == "entity_types" or plural in self.schemas:
                raise ConfigurationError(
                    f"plural {plural!r} of {entity_type!r} clashes with another root field",
                    entity_type=entity_type,
                )
            fields.add(plural)

    def _collect(self, schemas: Iterable[EntitySchema], *, top_level: bool) -> None:
        for schema in schemas:
            existing = self._types.get(schema.entity_type)
            if existing is not None:
                if existing.schema == schema and not top_level and not existing.top_level:
                    continue  # the same nested schema used by two parents
                raise ConfigurationError(
                    f"GraphQL type {existing.name} would be generated twice with different shapes",
                    entity_type=schema.entity_type,
                )
            self._claim(schema, top_level=top_level, stub=False)
            self._collect(schema.nested.values(), top_level=False)

    def _claim(self, schema: EntitySchema, *, top_level: bool, stub: bool) -> None:
        name = type_name(schema.entity_type)
        taken = {o.name for o in self._types.values()} | _RESERVED_TYPE_NAMES
        taken |= {f"{o.name}Page" for o in self._types.values() if o.top_level and not o.stub}
        for part in self.parts:
            taken |= part.type_names
        has_page = top_level and not stub
        if (
            schema.entity_type in self._types
            or name in taken
            or (has_page and f"{name}Page" in taken)
        ):
            raise ConfigurationError(
                f"GraphQL type name {name} of {schema.entity_type!r} is already taken",
                entity_type=schema.entity_type,
            )
        cls = type(name, (), {"__module__": __name__, "__doc__": schema.description})
        self._types[schema.entity_type] = _ObjectType(schema, top_level, cls, stub=stub)

    def _collect_inverses(self) -> None:
        for schema in self.schemas.values():
            for rel in schema.relationships:
                if rel.inverse is None:
                    continue
                target = self._types.get(rel.target_type)
                if target is None or not target.top_level:
                    logger.warning(
                        "inverse %s.%s skipped: %r is not served here",
                        rel.target_type,
                        rel.inverse,
                        rel.target_type,
                    )
                    continue
                if "." in rel.via_field or rel.cardinality is not Cardinality.ONE:
                    logger.warning(
                        "inverse %s.%s skipped: only a plain via_field of cardinality 'one'"
                        " can be queried with an 'in' filter",
                        rel.target_type,
                        rel.inverse,
                    )
                    continue
                via = schema.field(rel.via_field)
                target.inverses.append(
                    _Inverse(
                        name=rel.inverse,
                        source_type=schema.entity_type,
                        via_field=rel.via_field,
                        key_type=via.type if via is not None else None,
                        description=f"{type_name(schema.entity_type)} entities whose"
                        f" `{rel.via_field}` is this entity ({rel.relationship_type}).",
                    )
                )
            for nested in schema.nested.values():
                for rel in nested.relationships:
                    if rel.inverse is not None:
                        logger.warning(
                            "inverse %s.%s skipped: relationships of nested"
                            " objects have no inverse",
                            rel.target_type,
                            rel.inverse,
                        )

    def _add_fields(self, obj: _ObjectType) -> None:
        schema = obj.schema
        if obj.top_level:
            obj.add(
                "id",
                _field(
                    resolver=_resolve_id,
                    name="id",
                    graphql_type=strawberry.ID,
                    description="Entity id, unique within its type.",
                ),
            )
        if not obj.stub:
            self._add_own_fields(obj)
        for inverse in obj.inverses:
            source = self._types[inverse.source_type]
            obj.add(_attr(inverse.name), _inverse_field(inverse, source.cls))
        if obj.top_level:
            own = self._declared_names(schema.entity_type)
            for part in self.parts:
                for attr, part_field in part.entity_fields(schema.entity_type).items():
                    name = part_field.graphql_name or to_camel_case(attr)
                    if name in own:
                        # The data product's own field wins, on one node and in the
                        # supergraph alike (the catalog subgraph leaves it out too).
                        logger.warning(
                            "%s.%s of a schema part skipped: the entity declares it",
                            obj.name,
                            name,
                        )
                        continue
                    obj.add(attr, part_field)

    def _declared_names(self, entity_type: str) -> set[str]:
        """GraphQL field names an entity type gets from the schemas themselves (its own
        fields, nested lists, relationships, and inverses declared by any known schema)."""
        known = {**self.references, **self.schemas}
        names: set[str] = set()
        schema = known.get(entity_type)
        if schema is not None:
            names |= {f.name for f in schema.fields}
            names |= set(schema.nested) | {r.name for r in schema.relationships}
        for other in known.values():
            names |= {
                r.inverse
                for r in other.relationships
                if r.target_type == entity_type and r.inverse is not None
            }
        return {to_camel_case(n) for n in names}

    def _add_own_fields(self, obj: _ObjectType) -> None:
        schema = obj.schema
        for spec in schema.fields:
            if obj.top_level and spec.name == "id":
                continue  # the entity id above is the id
            obj.add(_attr(spec.name), _attribute_field(spec, schema))
        for name, nested in schema.nested.items():
            obj.add(_attr(name), _nested_field(name, nested, self._types[nested.entity_type].cls))
        for rel in schema.relationships:
            target = self._types.get(rel.target_type)
            if target is None or not target.top_level:
                logger.warning(
                    "relationship %s.%s skipped: %r is not served here",
                    schema.entity_type,
                    rel.name,
                    rel.target_type,
                )
                continue
            obj.add(_attr(rel.name), _relationship_field(rel, target.cls, load=not target.stub))

    @staticmethod
    def _field_names(schema: EntitySchema) -> dict[str, str]:
        """GraphQL (camelCase) name → attribute name, for filters and sorts."""
        return {to_camel_case(f.name): f.name for f in schema.fields}


def part_fields(
    parts: Sequence[SchemaPart],
    method: str,
    root: str,
    *,
    taken: Iterable[str] = (),
) -> dict[str, StrawberryField]:
    """The fields the parts' optional ``method`` (``mutation_fields``,
    ``subscription_fields``) give, by attribute name; :class:`ConfigurationError` when two
    share a name, or one takes a GraphQL name in ``taken`` (fields ``root`` already has)."""
    found: dict[str, StrawberryField] = {}
    names = set(taken)
    for part in parts:
        give = getattr(part, method, None)
        if give is None:
            continue
        for attr, part_field in give().items():
            name = part_field.graphql_name or to_camel_case(attr)
            if attr in found or name in names:
                raise ConfigurationError(
                    f"{root}.{name} is defined twice (by two schema parts, or by a part and"
                    " the generated schema)",
                    field=name,
                )
            names.add(name)
            found[attr] = part_field
    return found


def _root_type(name: str, fields: Mapping[str, StrawberryField]) -> type:
    cls = type(name, (), {"__module__": __name__, **fields})
    return strawberry.type(cls, name=name)


def build_schema(
    registry: AdapterSource,
    *,
    plurals: Mapping[str, str] | None = None,
    extensions: Sequence[ExtensionFactory] = (),
    max_depth: int | None = MAX_DEPTH,
    parts: Sequence[SchemaPart] = (),
) -> GatewaySchema:
    """The gateway schema for every entity type ``registry.schemas()`` returns.

    ``extensions`` are Strawberry extension classes or factories (one instance per
    request); ``max_depth`` bounds how deeply a document may nest (None: unbounded);
    ``parts`` add fields of other parts of the mesh (e.g.
    :class:`dictamesh.gateway.catalog.CatalogPart`).
    """
    return SchemaBuilder(registry.schemas(), plurals=plurals, parts=parts).build(
        extensions=extensions, max_depth=max_depth
    )


def extension_factories(
    extensions: Sequence[ExtensionFactory], max_depth: int | None
) -> list[ExtensionFactory]:
    """The gateway's own extensions (error codes, stale answers, depth limit) followed by
    ``extensions``."""
    factories: list[ExtensionFactory] = [DictaMeshErrorExtension, StaleAnswersExtension]
    if max_depth is not None:
        factories.append(DepthLimitFactory(max_depth))
    return [*factories, *extensions]


@cache
def _depth_rule(max_depth: int) -> type[ASTValidationRule]:
    # One rule class per limit, for the process: Strawberry's QueryDepthLimiter makes a
    # new class per instance, i.e. per request, so no validation cache could ever match it.
    return create_validator(max_depth, None, None)


class _DepthLimitExtension(AddValidationRules):
    def __init__(self, rule: type[ASTValidationRule]) -> None:
        super().__init__([rule])


@dataclass(frozen=True)
class DepthLimitFactory:
    """Refuses documents nesting deeper than ``max_depth`` (Strawberry's depth check),
    with the same rule class on every request."""

    max_depth: int

    def __call__(self) -> SchemaExtension:
        return _DepthLimitExtension(_depth_rule(self.max_depth))


class GatewaySchema(strawberry.Schema):
    """A Strawberry schema that logs expected errors briefly and bugs with stack traces,
    and runs its extensions' hooks without re-inspecting them per request; the generated
    fields' resolvers are called by graphql-core directly (:mod:`.direct_resolvers`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        install_direct_resolvers(self._schema)

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return CachedHooksRunner(execution_context=execution_context, extensions=extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors)


# --- field factories ------------------------------------------------------------------


@direct
def _resolve_id(root: Node, info: Info) -> str | None:
    return root.id


def _attribute_field(spec: FieldSpec, schema: EntitySchema) -> StrawberryField:
    convert = _CONVERTERS.get(spec.type, _as_is)
    name, many = spec.name, spec.many

    def resolve(root: Node) -> Any:
        value = root.attributes.get(name)
        if value is None or convert is _as_is:
            return value
        if many:
            if not isinstance(value, list):
                raise SourceResponseError(f"{name} of {root.describe()} is not a list", field=name)
            return [None if v is None else convert(root, name, v) for v in value]
        return convert(root, name, value)

    annotation: Any = _SCALARS[spec.type]
    if spec.many:
        annotation = _list_of(annotation)
    if not spec.required:
        annotation = _nullable(annotation)
    description = spec.description
    if spec.classification is not Classification.PUBLIC:
        # Governance travels with the schema: consumers see which fields are personal data.
        tag = f"classification: {spec.classification.value}"
        description = f"{description} ({tag})" if description else tag.capitalize()
    return _field(
        resolver=direct(guard_field(resolve, spec, schema)),  # policy, masking, audit
        name=to_camel_case(name),
        graphql_type=annotation,
        description=description,
    )


def _nested_field(name: str, nested: EntitySchema, cls: type) -> StrawberryField:
    @direct
    def resolve(root: Node, info: Info) -> list[Node]:
        raw = root.attributes.get(name)
        if raw is None:
            return []
        if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
            raise SourceResponseError(
                f"{name} of {root.describe()} is not a list of objects", field=name
            )
        return [Node(type=nested.entity_type, attributes=item, owner=(root, name)) for item in raw]

    return _field(
        resolver=resolve,
        name=to_camel_case(name),
        graphql_type=_list_of(cls),
        description=nested.description,
    )


def _relationship_field(rel: RelationshipSpec, target_cls: type, *, load: bool) -> StrawberryField:
    """``load=False``: the target is served elsewhere; answer references (``{id}``) only."""
    target, via = rel.target_type, rel.via_field
    description = f"The {type_name(target)} referenced by `{via}` ({rel.relationship_type})."

    if rel.cardinality is Cardinality.MANY:

        @direct
        async def resolve_many(root: Node, info: Info) -> list[Node]:
            ids = ids_at(root.attributes, via)
            if not ids:
                return []
            if not load:
                return [Node(type=target, attributes={}, id=i) for i in ids]
            loaded = await gateway_context(info).loaders.entity(target).load_many(ids)
            return [Node.of(e) for e in loaded if e is not None]

        return _field(
            resolver=resolve_many,
            name=to_camel_case(rel.name),
            graphql_type=_nullable(_list_of(target_cls)),
            description=description,
        )

    @direct
    async def resolve_one(root: Node, info: Info) -> Node | None:
        ids = ids_at(root.attributes, via)
        if not ids:
            return None
        if not load:
            return Node(type=target, attributes={}, id=ids[0])
        entity = await gateway_context(info).loaders.entity(target).load(ids[0])
        return None if entity is None else Node.of(entity)

    return _field(
        resolver=resolve_one,
        name=to_camel_case(rel.name),
        graphql_type=_nullable(target_cls),
        description=description,
    )


def _inverse_field(inverse: _Inverse, source_cls: type) -> StrawberryField:
    @direct
    async def resolve(root: Node, info: Info) -> list[Node]:
        if root.id is None:
            return []
        loader = gateway_context(info).loaders.related(
            inverse.source_type, inverse.via_field, inverse.key_type
        )
        return [Node.of(e) for e in await loader.load(root.id)]

    return _field(
        resolver=resolve,
        name=to_camel_case(inverse.name),
        graphql_type=_nullable(_list_of(source_cls)),
        description=inverse.description,
    )


def _page_type(name: str, item_cls: type) -> type:
    def items(root: Page) -> list[Node]:
        return [Node.of(e) for e in root.items]

    def next_cursor(root: Page) -> str | None:
        return root.next_cursor

    def total(root: Page) -> int | None:
        return root.total

    namespace = {
        "__module__": __name__,
        "items": _field(resolver=items, graphql_type=_list_of(item_cls)),
        "next_cursor": _field(
            resolver=next_cursor,
            name="nextCursor",
            description="Pass as `cursor` for the next page; null on the last page.",
        ),
        "total": _field(resolver=total, description="Total matches, when the source reports it."),
    }
    return strawberry.type(type(f"{name}Page", (), namespace), name=f"{name}Page")


def _one_field(entity_type: str, cls: type) -> StrawberryField:
    async def resolve(info: Info, id: strawberry.ID) -> Node | None:
        try:
            validate_entity_id(id)
        except ValueError as exc:
            raise bad_user_input(str(exc)) from None
        entity = await gateway_context(info).loaders.entity(entity_type).load(id)
        return None if entity is None else Node.of(entity)

    return _field(
        resolver=resolve,
        name=to_camel_case(entity_type),
        graphql_type=_nullable(cls),
        description=f"One {type_name(entity_type)} by id; null when it does not exist.",
    )


def _page_field(
    entity_type: str, page_cls: type, field_names: Mapping[str, str]
) -> StrawberryField:
    async def resolve(
        info: Info,
        filter: list[FilterInput] | None = None,
        sort: list[SortInput] | None = None,
        limit: int | None = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        limit = DEFAULT_LIMIT if limit is None else limit
        if limit > MAX_QUERY_LIMIT:
            raise QueryLimitExceeded(
                f"limit {limit} exceeds the maximum of {MAX_QUERY_LIMIT}",
                limit=limit,
                max_limit=MAX_QUERY_LIMIT,
            )
        query = _to_query(filter or [], sort or [], limit, cursor, field_names)
        await guard_query(info, entity_type, query)  # governance: type readable, filters
        ctx = gateway_context(info)
        page = await ctx.registry.for_type(entity_type).query_entities(query)
        ctx.loaders.prime(page.items)
        return page

    plural = type_name(entity_type)
    return _field(
        resolver=resolve,
        graphql_type=_nullable(page_cls),
        description=f"{plural} entities, filtered, sorted and paginated by cursor.",
    )


def _to_query(
    filters: Sequence[FilterInput],
    sorts: Sequence[SortInput],
    limit: int,
    cursor: str | None,
    field_names: Mapping[str, str],
) -> Query:
    ids: list[Any] | None = None
    field_filters: list[dict[str, Any]] = []
    known = {*field_names.values(), "id"}
    named = [("filter", i, f.field) for i, f in enumerate(filters)]
    named += [("sort", i, s.field) for i, s in enumerate(sorts)]
    unknown = [
        {"loc": [arg, i, "field"], "msg": f"unknown field {name[:64]!r}"}
        for arg, i, name in named
        if field_names.get(name, name) not in known
    ]
    if unknown:
        # refused here, so no adapter sees a field its data product does not declare
        raise bad_user_input("unknown field in a filter or sort", unknown)
    for f in filters:
        name = field_names.get(f.field, f.field)
        op = FilterOp(f.op.value)
        # `id` is no attribute: the core query selects by id with `ids`.
        if name == "id" and op in (FilterOp.EQ, FilterOp.IN) and ids is None:
            ids = f.value if isinstance(f.value, list) else [f.value]
            continue
        field_filters.append({"field": name, "op": op, "value": f.value})
    try:
        return Query(
            ids=ids,
            filters=[FieldFilter.model_validate(f) for f in field_filters],
            sort=[
                SortSpec(field=field_names.get(s.field, s.field), descending=s.descending)
                for s in sorts
            ],
            limit=limit,
            cursor=cursor,
        )
    except PydanticValidationError as exc:
        raise bad_user_input("invalid query arguments", pydantic_problems(exc)) from None
