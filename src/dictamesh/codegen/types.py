"""The entity types of a mesh in one neutral shape every generator reads.

An :class:`~dictamesh.core.models.EntitySchema` becomes a :class:`TypeDef` (named as the
GraphQL gateway names it: ``invoice_item`` → ``InvoiceItem``); its ``nested`` object lists
become TypeDefs of their own, so every target defines each record type once. Order is
stable: entity types sorted, fields in schema order (then nested lists not in ``fields``),
as :func:`dictamesh.events.avro_schema.entity_record` orders them.

Example::

    for td in type_defs(registry.schemas()):
        print(td.name, [f.name for f in td.fields])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import Classification, EntitySchema, FieldType
from dictamesh.gateway.schema_builder import type_name

__all__ = ["FieldDef", "TypeDef", "all_type_defs", "check_reserved", "type_defs"]


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One attribute: its JSON name, kind, whether it must be present and non-null, lists."""

    name: str
    kind: FieldType
    required: bool
    many: bool
    description: str | None = None
    classification: Classification = Classification.PUBLIC
    #: the :class:`TypeDef` name of an object-list field (``EntitySchema.nested``)
    nested: str | None = None


@dataclass(frozen=True, slots=True)
class TypeDef:
    """One record type: a top-level entity type, or a nested object type."""

    entity_type: str
    name: str
    domain: str
    version: int
    description: str | None
    fields: tuple[FieldDef, ...]
    top_level: bool
    #: nested types this one refers to (direct children only)
    children: tuple[TypeDef, ...] = ()


def _type_def(schema: EntitySchema, *, top_level: bool) -> TypeDef:
    specs = {spec.name: spec for spec in schema.fields}
    children = {name: _type_def(n, top_level=False) for name, n in schema.nested.items()}
    fields: list[FieldDef] = []
    for attribute in [*specs, *(n for n in schema.nested if n not in specs)]:
        spec = specs.get(attribute)
        child = children.get(attribute)
        if child is not None:
            # as in Avro and the gateway: a nested list is a list unless its spec says not
            fields.append(
                FieldDef(
                    name=attribute,
                    kind=FieldType.JSON,
                    required=spec.required if spec is not None else False,
                    many=spec.many if spec is not None else True,
                    description=(spec.description if spec is not None else None)
                    or schema.nested[attribute].description,
                    nested=child.name,
                )
            )
            continue
        assert spec is not None
        fields.append(
            FieldDef(
                name=attribute,
                kind=FieldType(spec.type),
                required=spec.required,
                many=spec.many,
                description=spec.description,
                classification=spec.classification,
            )
        )
    return TypeDef(
        entity_type=schema.entity_type,
        name=type_name(schema.entity_type),
        domain=schema.domain,
        version=schema.version,
        description=schema.description,
        fields=tuple(fields),
        top_level=top_level,
        children=tuple(children[n] for n in sorted(children)),
    )


def type_defs(schemas: Mapping[str, EntitySchema]) -> list[TypeDef]:
    """The top-level entity types, sorted by entity type."""
    return [_type_def(schemas[t], top_level=True) for t in sorted(schemas)]


def all_type_defs(schemas: Mapping[str, EntitySchema]) -> list[TypeDef]:
    """Every record type once (top-level and nested), sorted by name.

    Raises :class:`ConfigurationError` when two different types would get one name."""
    found: dict[str, TypeDef] = {}

    def visit(td: TypeDef) -> None:
        other = found.get(td.name)
        if other is not None:
            # the same nested schema under two parents is one type (as in the gateway)
            if other.fields != td.fields or other.top_level != td.top_level:
                raise ConfigurationError(
                    f"two different types are named {td.name!r}"
                    f" ({other.entity_type!r} and {td.entity_type!r})",
                    type_name=td.name,
                )
            return
        found[td.name] = td
        for child in td.children:
            visit(child)

    for td in type_defs(schemas):
        visit(td)
    return [found[name] for name in sorted(found)]


def check_reserved(defs: Iterable[TypeDef], reserved: Iterable[str], target: str) -> None:
    """Raise :class:`ConfigurationError` when a type's name is one the ``target``'s
    generated code defines itself (``Entity``, ``Page``...)."""
    taken = set(reserved)
    for td in defs:
        if td.name in taken:
            raise ConfigurationError(
                f"entity type {td.entity_type!r} is named {td.name!r}, which the {target}"
                f" code defines itself (reserved: {', '.join(sorted(taken))})",
                entity_type=td.entity_type,
            )
