"""``gateway/sdl_diff.py``: each breaking, dangerous and safe kind of GraphQL change, as
graphql-core classifies it, with the coordinate it is about; SDL and introspection input."""

from __future__ import annotations

import pytest
from graphql import build_schema, graphql_sync

from dictamesh.core.errors import ValidationError
from dictamesh.core.schema_changes import Severity
from dictamesh.gateway.sdl_diff import (
    INTROSPECTION_QUERY,
    diff_sdl,
    parse_sdl,
    sdl_from_introspection,
)

BASE = """
interface Node { id: ID! }
type Customer implements Node {
  id: ID!
  name: String!
  email: String
  tier: Tier
}
type Invoice implements Node { id: ID! total: Float }
union Billable = Customer | Invoice
enum Tier { GOLD SILVER }
input CustomerFilter { name: String }
type Query {
  customer(id: ID!, tenant: String): Customer!
  customers(filter: CustomerFilter, first: Int!): [Customer!]
  billable: [Billable!]!
}
"""


def _edit(*pairs: tuple[str, str]) -> str:
    sdl = BASE
    for old, new in pairs:
        assert old in sdl, old
        sdl = sdl.replace(old, new, 1)
    return sdl


BREAKING = [
    (
        "type removed",
        _edit(
            ("type Invoice implements Node { id: ID! total: Float }", ""),
            ("union Billable = Customer | Invoice", "union Billable = Customer"),
        ),
        "TYPE_REMOVED",
        "Invoice",
    ),
    ("field removed", _edit(("  email: String\n", "")), "FIELD_REMOVED", "Customer.email"),
    (
        "argument removed",
        _edit(("customer(id: ID!, tenant: String)", "customer(id: ID!)")),
        "ARG_REMOVED",
        "Query.customer(tenant:)",
    ),
    (
        "enum value removed",
        _edit(("enum Tier { GOLD SILVER }", "enum Tier { GOLD }")),
        "VALUE_REMOVED_FROM_ENUM",
        "Tier.SILVER",
    ),
    (
        "union member removed",
        _edit(("= Customer | Invoice", "= Customer")),
        "TYPE_REMOVED_FROM_UNION",
        "Invoice",
    ),
    (
        "interface removed",
        _edit(("type Invoice implements Node {", "type Invoice {")),
        "IMPLEMENTED_INTERFACE_REMOVED",
        "Invoice",
    ),
    (
        "field type changed",
        _edit(("  email: String\n", "  email: Int\n")),
        "FIELD_CHANGED_KIND",
        "Customer.email",
    ),
    (
        "output non-null to nullable",
        _edit(
            (
                "customer(id: ID!, tenant: String): Customer!",
                "customer(id: ID!, tenant: String): Customer",
            )
        ),
        "FIELD_CHANGED_KIND",
        "Query.customer",
    ),
    (
        "argument nullable to non-null",
        _edit(("tenant: String)", "tenant: String!)")),
        "ARG_CHANGED_KIND",
        "Query.customer(tenant:)",
    ),
    (
        "new required argument",
        _edit(
            (
                "customer(id: ID!, tenant: String)",
                "customer(id: ID!, tenant: String, region: String!)",
            )
        ),
        "REQUIRED_ARG_ADDED",
        "Query.customer(region:)",
    ),
    (
        "new required input field",
        _edit(
            (
                "input CustomerFilter { name: String }",
                "input CustomerFilter { name: String tier: Tier! }",
            )
        ),
        "REQUIRED_INPUT_FIELD_ADDED",
        "CustomerFilter.tier",
    ),
]


@pytest.mark.parametrize(
    ("new", "code", "subject"), [b[1:] for b in BREAKING], ids=[b[0] for b in BREAKING]
)
def test_each_breaking_kind(new: str, code: str, subject: str) -> None:
    changes = diff_sdl(BASE, new)
    breaking = [(c.code, c.subject) for c in changes if c.severity is Severity.BREAKING]
    assert (code, subject) in breaking, changes
    assert all(c.area == "graphql" for c in changes)


DANGEROUS = [
    (
        "enum value added",
        _edit(("enum Tier { GOLD SILVER }", "enum Tier { GOLD SILVER BRONZE }")),
        "VALUE_ADDED_TO_ENUM",
    ),
    (
        "union member added",
        _edit(
            ("= Customer | Invoice", "= Customer | Invoice | Refund"),
            ("enum Tier", "type Refund { id: ID! }\nenum Tier"),
        ),
        "TYPE_ADDED_TO_UNION",
    ),
    (
        "optional argument added",
        _edit(("first: Int!)", "first: Int!, after: String)")),
        "OPTIONAL_ARG_ADDED",
    ),
]


def test_a_changed_default_is_dangerous_an_added_one_safe() -> None:
    with_default = _edit(("tenant: String)", 'tenant: String = "a")'))
    changed = diff_sdl(with_default, _edit(("tenant: String)", 'tenant: String = "b")')))
    assert [(c.code, c.severity) for c in changed] == [
        ("ARG_DEFAULT_VALUE_CHANGE", Severity.DANGEROUS)
    ]
    added = diff_sdl(BASE, with_default)
    assert [(c.code, c.severity) for c in added] == [("ARG_DEFAULT_VALUE_ADDED", Severity.SAFE)]


@pytest.mark.parametrize(("new", "code"), [d[1:] for d in DANGEROUS], ids=[d[0] for d in DANGEROUS])
def test_dangerous_kinds_are_not_breaking(new: str, code: str) -> None:
    changes = diff_sdl(BASE, new)
    assert code in {c.code for c in changes if c.severity is Severity.DANGEROUS}, changes
    assert not [c for c in changes if c.severity is Severity.BREAKING]


SAFE = [
    ("field added", _edit(("  tier: Tier\n", "  tier: Tier\n  phone: String\n")), "FIELD_ADDED"),
    ("type added", _edit(("enum Tier", "type Refund { id: ID! }\nenum Tier")), "TYPE_ADDED"),
    (
        "output nullable to non-null",
        _edit(("  email: String\n", "  email: String!\n")),
        "FIELD_CHANGED_KIND_SAFE",
    ),
    (
        "argument non-null to nullable",
        _edit(("first: Int!)", "first: Int)")),
        "ARG_CHANGED_KIND_SAFE",
    ),
]


@pytest.mark.parametrize(("new", "code"), [s[1:] for s in SAFE], ids=[s[0] for s in SAFE])
def test_safe_kinds(new: str, code: str) -> None:
    changes = diff_sdl(BASE, new)
    assert [c.code for c in changes] == [code]
    assert changes[0].severity is Severity.SAFE


def test_identical_schemas_have_no_changes_and_breaking_sorts_first() -> None:
    assert diff_sdl(BASE, BASE) == []
    new = _edit(
        ("  email: String\n", "  phone: String\n"),
        ("enum Tier { GOLD SILVER }", "enum Tier { GOLD SILVER BRONZE }"),
    )
    severities = [c.severity for c in diff_sdl(BASE, new)]
    assert severities == sorted(
        severities, key=[Severity.BREAKING, Severity.DANGEROUS, Severity.SAFE].index
    )
    assert severities[0] is Severity.BREAKING
    assert severities[-1] is Severity.SAFE


def test_introspection_result_gives_the_same_schema() -> None:
    result = graphql_sync(build_schema(BASE), INTROSPECTION_QUERY)
    assert result.errors is None
    assert result.data is not None
    assert diff_sdl(BASE, sdl_from_introspection(result.data)) == []


def test_federation_directives_need_no_definitions() -> None:
    sdl = 'type Customer @key(fields: "id") { id: ID! }\ntype Query { c: Customer }'
    assert parse_sdl(sdl).get_type("Customer") is not None


@pytest.mark.parametrize("bad", ["type Query {", "type Query { a: Missing }", "}{"])
def test_not_a_schema_is_a_validation_error(bad: str) -> None:
    with pytest.raises(ValidationError, match="not a GraphQL schema"):
        parse_sdl(bad)


def test_not_an_introspection_result() -> None:
    with pytest.raises(ValidationError, match="introspection"):
        sdl_from_introspection({"__schema": {"types": "nope"}})
