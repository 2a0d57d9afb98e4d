"""Errors: coded per field, isolated to the failing field, never leaking internals."""

from __future__ import annotations

import json
import logging

import pytest
from tests.unit.gateway.conftest import Shop

from dictamesh.core.errors import EntityNotFound, SourceUnavailable, ValidationError
from dictamesh.gateway import GatewayContext, build_schema


def codes(result: object) -> list[str]:
    return [e.extensions["code"] for e in result.errors or []]  # type: ignore[attr-defined]


async def test_a_failing_source_nulls_only_its_fields(shop_fx: Shop) -> None:
    shop_fx.invoices.fail = SourceUnavailable("billing system down", adapter="invoices")
    result = await shop_fx.execute(
        "{ customers { items { name invoices { invoiceNumber } } }"
        "  products(limit: 2) { items { sku } } }"
    )
    assert result.data == {
        "customers": {
            "items": [
                {"name": "Customer 1", "invoices": None},
                {"name": "Customer 2", "invoices": None},
                {"name": "Customer 3", "invoices": None},
            ]
        },
        "products": {"items": [{"sku": "SKU-1"}, {"sku": "SKU-2"}]},
    }
    assert codes(result) == ["SOURCE_UNAVAILABLE"] * 3
    assert [e.path for e in result.errors or []] == [
        ["customers", "items", i, "invoices"] for i in range(3)
    ]
    error = result.errors[0]  # type: ignore[index]
    assert error.message == "billing system down"
    assert error.extensions["details"] == {"adapter": "invoices"}  # type: ignore[index]
    assert shop_fx.invoices.calls == {"query_entities": 1}  # one failed batch, not three


async def test_a_failing_root_field_leaves_the_other_root_fields(shop_fx: Shop) -> None:
    shop_fx.products.fail = SourceUnavailable("pim down")
    result = await shop_fx.execute(
        '{ products { items { sku } } customer(id: "c-1") { name } p: product(id: "p-1") { sku } }'
    )
    assert result.data == {"products": None, "customer": {"name": "Customer 1"}, "p": None}
    assert sorted(codes(result)) == ["SOURCE_UNAVAILABLE", "SOURCE_UNAVAILABLE"]


async def test_a_failing_forward_relationship(shop_fx: Shop) -> None:
    shop_fx.products.fail = SourceUnavailable("pim down")
    result = await shop_fx.execute(
        '{ invoice(id: "inv-1-1") { invoiceNumber items { quantity product { sku } } } }'
    )
    invoice = result.data["invoice"]  # type: ignore[index]
    assert invoice["invoiceNumber"] == "INV-001-1"
    assert invoice["items"] == [{"quantity": q, "product": None} for q in (1, 2, 3)]
    assert set(codes(result)) == {"SOURCE_UNAVAILABLE"}


async def test_dictamesh_errors_keep_their_code_and_details(shop_fx: Shop) -> None:
    shop_fx.customers.fail = EntityNotFound("customer", "c-9")
    result = await shop_fx.execute("{ customers { total } }")
    assert result.data == {"customers": None}
    [error] = result.errors or []
    assert error.extensions == {
        "code": "ENTITY_NOT_FOUND",
        "details": {"entity_type": "customer", "entity_id": "c-9"},
    }
    assert error.message == "customer 'c-9' not found"


async def test_unexpected_exceptions_are_internal_and_generic(
    shop_fx: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    shop_fx.customers.fail = RuntimeError("password=hunter2 at db.internal:5432")
    with caplog.at_level(logging.ERROR, logger="dictamesh.gateway"):
        result = await shop_fx.execute("{ customers { total } products { total } }")
    assert result.data == {"customers": None, "products": {"total": 4}}
    [error] = result.errors or []
    assert error.extensions == {"code": "INTERNAL"}
    assert error.message == "Internal error"
    assert "hunter2" not in json.dumps([e.formatted for e in result.errors or []])
    # ...but the operator sees it, with the stack trace
    [record] = [r for r in caplog.records if r.exc_info]
    assert "hunter2" in str(record.exc_info[1])  # type: ignore[index]


async def test_adapter_validation_errors(shop_fx: Shop) -> None:
    result = await shop_fx.execute(
        '{ customers(filter: [{field: "name", op: CONTAINS, value: "1"}]) { total } }'
    )
    assert codes(result) == ["VALIDATION_ERROR"]
    assert shop_fx.customers.calls == {"query_entities": 1}
    shop_fx.customers.fail = ValidationError("nope")
    assert codes(await shop_fx.execute("{ customers { total } }")) == ["VALIDATION_ERROR"]


async def test_limit_above_maximum_is_refused_before_any_call(shop_fx: Shop) -> None:
    result = await shop_fx.execute("{ customers(limit: 501) { total } }")
    assert result.data == {"customers": None}
    assert codes(result) == ["QUERY_LIMIT_EXCEEDED"]
    assert result.errors[0].extensions["details"] == {"limit": 501, "max_limit": 500}  # type: ignore[index]
    assert shop_fx.customers.calls == {}
    assert codes(await shop_fx.execute("{ customers(limit: 500) { total } }")) == []


@pytest.mark.parametrize(
    "arguments",
    [
        "limit: 0",
        'filter: [{field: "Not A Field!", value: 1}]',
        'filter: [{field: "country", op: IN, value: "DE"}]',  # IN needs a list
        'filter: [{field: "country", value: {nested: "object"}}]',
        'filter: [{field: "country", value: ["DE"]}]',  # EQ needs one value
        'sort: [{field: "bad-field"}]',
        'cursor: "' + "x" * 600 + '"',
        'filter: [{field: "id", value: "bad id!"}]',
    ],
)
async def test_bad_arguments_are_bad_user_input(shop_fx: Shop, arguments: str) -> None:
    result = await shop_fx.execute(f"{{ customers({arguments}) {{ total }} }}")
    assert codes(result) == ["BAD_USER_INPUT"]
    assert result.errors[0].extensions["details"]["problems"]  # type: ignore[index]
    assert shop_fx.customers.calls == {}


async def test_malformed_id_is_bad_user_input(shop_fx: Shop) -> None:
    result = await shop_fx.execute('{ customer(id: "no spaces allowed") { name } }')
    assert result.data == {"customer": None}
    assert codes(result) == ["BAD_USER_INPUT"]
    assert shop_fx.customers.calls == {}


async def test_document_errors(shop_fx: Shop) -> None:
    assert codes(await shop_fx.execute("{ customers { ")) == ["GRAPHQL_VALIDATION_FAILED"]
    result = await shop_fx.execute("{ customers { items { nope } } }")
    assert codes(result) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "nope" in result.errors[0].message  # type: ignore[index]
    result = await shop_fx.execute(
        "query($n: Int) { customers(limit: $n) { total } }", {"n": "ten"}
    )
    assert codes(result) == ["BAD_USER_INPUT"]


async def test_bad_source_data_is_reported_per_field(shop_fx: Shop) -> None:
    shop_fx.customers.records["c-1"]["created_at"] = "yesterday"
    del shop_fx.customers.records["c-2"]["name"]  # required
    result = await shop_fx.execute(
        '{ a: customer(id: "c-1") { name createdAt }  b: customer(id: "c-2") { name } }'
    )
    assert result.data == {"a": {"name": "Customer 1", "createdAt": None}, "b": None}
    by_path = {tuple(e.path): e for e in result.errors or []}
    assert by_path[("a", "createdAt")].extensions["code"] == "SOURCE_BAD_RESPONSE"
    missing = by_path[("b", "name")]
    assert missing.extensions["code"] == "INTERNAL"
    assert missing.message == "Cannot return null for non-nullable field Customer.name."


async def test_a_missing_context_is_a_configuration_error(shop_fx: Shop) -> None:
    result = await build_schema(shop_fx.registry).execute('{ customer(id: "c-1") { name } }')
    assert codes(result) == ["CONFIGURATION_ERROR"]


async def test_documents_nested_too_deeply_are_refused(shop_fx: Shop) -> None:
    deep = "{ customers { items" + " { invoices { customer" * 6 + " { id }" + " } }" * 6 + " } }"
    result = await shop_fx.execute(deep)
    assert codes(result) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "exceeds maximum operation depth" in result.errors[0].message  # type: ignore[index]
    assert shop_fx.calls() == {"customer": {}, "invoice": {}, "product": {}}
    unbounded = build_schema(shop_fx.registry, max_depth=None)
    result = await unbounded.execute(deep, context_value=GatewayContext(shop_fx.registry))
    assert result.errors is None
