"""Invoices from an e-commerce platform (``/api/invoices``), as ``invoice`` entities.

An invoice links to its customer (``customer_id``; the gateway adds ``customer.invoices``)
and each of its ``items`` to a product (``items.product_id``).

Writes (every one carries an ``Idempotency-Key``): ``create_entity`` from canonical
attributes (``customer_id``, ``currency``, ``items`` of ``{product_id, quantity,
unit_price}``; amounts in major units) → an open invoice; the command ``create`` is the same
write; the command ``cancel`` takes ``{invoice_id}`` or ``{create_key}`` (the idempotency key
of the create call; when no invoice was made under it: ``{"cancelled": False, "reason":
"not_found"}``).

Example::

    config = AdapterConfig(name="invoices_ecommerce", kind="invoices_ecommerce",
                           base_url="http://127.0.0.1:8082", api_key="shop-demo-token")
    async with EcommerceInvoicesAdapter(config) as invoices:
        page = await invoices.query_entities(
            Query(filters=[FieldFilter(field="customer_id", op="in", value=["1", "2"])])
        )  # one request: ?customer_id=1&customer_id=2
        made = await invoices.create_entity(
            {"customer_id": "1", "currency": "EUR",
             "items": [{"product_id": "prd_1001", "quantity": 2, "unit_price": 19.99}]},
            idempotency_key="order-7:invoice",
        )
        await invoices.run_command("cancel", {"create_key": "order-7:invoice"},
                                   idempotency_key="order-7:cancel-invoice")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from dictamesh.adapters.base import AdapterBase, RawPage, RawWrite
from dictamesh.adapters.http import read_json, read_write
from dictamesh.adapters.reference._common import (
    EPOCH,
    QueryPairs,
    amount_to_cents,
    by_id_or_key,
    cents_to_amount,
    filter_values,
    keyed,
    later_since,
    payload_id,
    payload_int,
    source_entity,
    source_object,
    unsupported_filter,
    updated_since_for_sort,
)
from dictamesh.core.errors import SourceResponseError, ValidationError
from dictamesh.core.inputs import InvalidInput
from dictamesh.core.models import (
    SLA,
    Entity,
    EntitySchema,
    FieldSpec,
    FieldType,
    FilterOp,
    Query,
    RelationshipSpec,
    SourceRef,
)

__all__ = ["EcommerceInvoicesAdapter"]

_PATH = "/api/invoices"
_MAX_LIMIT = 200
#: canonical attributes the API filters on with repeated parameters
_LIST_FILTERS = {"id": "id", "customer_id": "customer_id", "status": "status"}

_S = FieldType.STRING
_ITEM_SCHEMA = EntitySchema(
    entity_type="invoice_item",
    domain="invoices",
    description="One line of an invoice.",
    fields=[
        FieldSpec(name="id", type=_S, required=True),
        FieldSpec(name="product_id", type=_S, required=True),
        FieldSpec(name="quantity", type=FieldType.INTEGER, required=True),
        FieldSpec(name="unit_price", type=FieldType.NUMBER),
        FieldSpec(name="line_total", type=FieldType.NUMBER),
    ],
    relationships=[
        RelationshipSpec(
            name="product",
            target_type="product",
            via_field="product_id",
            relationship_type="references",
        )
    ],
)
_SCHEMA = EntitySchema(
    entity_type="invoice",
    domain="invoices",
    description="An invoice issued to a customer by the e-commerce platform.",
    fields=[
        FieldSpec(name="id", type=_S, required=True),
        FieldSpec(name="invoice_number", type=_S, required=True),
        FieldSpec(name="customer_id", type=_S, required=True),
        FieldSpec(name="status", type=_S, description="draft | open | paid | void | cancelled"),
        FieldSpec(name="issued_at", type=FieldType.DATETIME),
        FieldSpec(name="currency", type=_S, description="ISO 4217"),
        FieldSpec(name="total", type=FieldType.NUMBER, description="major units"),
        FieldSpec(name="updated_at", type=FieldType.DATETIME),
    ],
    relationships=[
        RelationshipSpec(
            name="customer",
            target_type="customer",
            via_field="customer_id",
            inverse="invoices",
            relationship_type="billed_to",
        )
    ],
    # ``items`` is described here, not in ``fields``: the gateway would define it twice
    nested={"items": _ITEM_SCHEMA},
)


class EcommerceInvoicesAdapter(AdapterBase):
    entity_type = "invoice"
    source = SourceRef(domain="invoices", system="ecommerce")
    source_collection = "invoices"
    schema = _SCHEMA
    sla = SLA(freshness_seconds=120, availability_target=0.995, latency_p95_ms=400)
    commands = frozenset({"create", "cancel"})

    # --- reads --------------------------------------------------------------------------

    async def fetch_one(self, client: httpx.AsyncClient, entity_id: str) -> dict[str, Any] | None:
        body = read_json(await client.get(f"{_PATH}/{entity_id}"), self.name)
        if body is None:
            return None
        if not isinstance(body, dict):
            raise SourceResponseError(f"{self.name}: expected an invoice answer")
        return source_object(body.get("invoice"), self.name, "an invoice")

    async def fetch_many(
        self, client: httpx.AsyncClient, entity_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        ids = list(dict.fromkeys(entity_ids))
        found: list[dict[str, Any]] = []
        # one request per 200 ids (the API's page cap); ids=... are repeated parameters
        for start in range(0, len(ids), _MAX_LIMIT):
            chunk = ids[start : start + _MAX_LIMIT]
            params: QueryPairs = [("id", i) for i in chunk]
            params += [("limit", str(_MAX_LIMIT)), ("include_deleted", "true")]
            body = read_json(await client.get(_PATH, params=params), self.name)
            found.extend(_invoices(body, self.name)[0])
        return found

    async def fetch_page(self, client: httpx.AsyncClient, query: Query) -> RawPage:
        lists: dict[str, set[str]] = {}
        if query.ids is not None:
            lists["id"] = set(query.ids)
        since: str | None = None
        for flt in query.filters:
            values = {str(v) for v in filter_values(flt)}
            if flt.field in _LIST_FILTERS and flt.op in (FilterOp.EQ, FilterOp.IN):
                lists[flt.field] = lists[flt.field] & values if flt.field in lists else values
            elif flt.field == "updated_at" and flt.op is FilterOp.GTE:
                since = later_since(since, flt.value)
            else:
                raise unsupported_filter(self.name, flt)
        if any(not values for values in lists.values()):
            return RawPage(items=[], total=0)  # an AND of disjoint lists matches nothing
        since = updated_since_for_sort(self.name, query.sort, since)
        params: QueryPairs = [
            (_LIST_FILTERS[name], value)
            for name, values in lists.items()
            for value in sorted(values)
        ]
        if since is not None:
            params.append(("updated_since", since))
        params.append(("limit", str(min(query.limit, _MAX_LIMIT))))
        if query.cursor is not None:
            params.append(("cursor", query.cursor))
        response = await client.get(_PATH, params=params)
        if response.status_code == 400 and query.cursor is not None:
            raise ValidationError("invalid cursor for invoices", cursor=query.cursor[:100])
        rows, body = _invoices(read_json(response, self.name), self.name)
        cursor = body.get("next_cursor")
        return RawPage(
            items=rows,
            next_cursor=str(cursor) if cursor else None,
            total=int(body["total"]) if body.get("total") is not None else None,
        )

    # --- change detection -----------------------------------------------------------------

    async def fetch_changed_since(
        self, client: httpx.AsyncClient, watermark: str | None, limit: int
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(found) < limit:
            params: QueryPairs = [
                ("updated_since", watermark or EPOCH),
                ("limit", str(min(limit - len(found), _MAX_LIMIT))),
            ]
            if cursor:
                params.append(("cursor", cursor))
            rows, body = _invoices(
                read_json(await client.get(_PATH, params=params), self.name),
                self.name,
            )
            found.extend(rows)
            cursor = body.get("next_cursor")
            if not cursor:
                break
        return found[:limit]

    def is_deleted(self, raw: dict[str, Any]) -> bool:
        return raw.get("deleted_at") is not None

    def parse_webhook(self, payload: Any) -> list[str]:
        if not str(payload.get("topic", "")).startswith("invoices/"):
            return []
        return [str(payload["invoice_id"])]

    # --- writes -------------------------------------------------------------------------

    async def write_create(
        self, client: httpx.AsyncClient, attributes: dict[str, Any], idempotency_key: str
    ) -> RawWrite:
        body = {"invoice": _source_invoice(attributes)}
        response = await client.post(_PATH, json=body, headers=keyed(idempotency_key))
        return self._invoice_write(*read_write(response, self.name))

    async def write_command(
        self,
        client: httpx.AsyncClient,
        command: str,
        payload: dict[str, Any],
        idempotency_key: str,
    ) -> RawWrite:
        if command == "create":
            return await self.write_create(client, payload, idempotency_key)
        how, value = by_id_or_key(payload, "invoice_id", "create_key")
        invoice_id = value if how == "id" else await self._invoice_by_key(client, value)
        if invoice_id is None:
            return RawWrite(data={"cancelled": False, "reason": "not_found"})
        response = await client.post(f"{_PATH}/{invoice_id}/cancel", headers=keyed(idempotency_key))
        return self._invoice_write(*read_write(response, self.name))

    def _invoice_write(self, body: Any, replayed: bool) -> RawWrite:
        if not isinstance(body, dict):
            raise SourceResponseError(f"{self.name}: expected an invoice answer")
        invoice = source_object(body.get("invoice"), self.name, "an invoice")
        return RawWrite(data=invoice, record=invoice, replayed=replayed)

    async def _invoice_by_key(self, client: httpx.AsyncClient, key: str) -> str | None:
        params: QueryPairs = [("idempotency_key", key), ("include_deleted", "true")]
        rows, _ = _invoices(read_json(await client.get(_PATH, params=params), self.name), self.name)
        return str(rows[0]["id"]) if rows else None

    # --- transform ------------------------------------------------------------------------

    def transform(self, raw: dict[str, Any]) -> Entity:
        items = []
        for line in raw.get("line_items") or []:
            quantity = int(line["quantity"])
            unit = int(line["unit_price_cents"])
            items.append(
                {
                    "id": str(line["id"]),
                    "product_id": str(line["product_id"]),
                    "quantity": quantity,
                    "unit_price": cents_to_amount(unit),
                    "line_total": cents_to_amount(quantity * unit),
                }
            )
        attributes = {
            "id": str(raw["id"]),
            "invoice_number": str(raw.get("invoice_number") or raw["id"]),
            "customer_id": str(raw["customer_id"]),
            "status": raw.get("status"),
            "issued_at": raw.get("issued_at"),
            "currency": raw.get("currency"),
            "total": cents_to_amount(raw["total_cents"]),
            "items": items,
            "updated_at": raw.get("updated_at"),
        }
        return source_entity(self, raw, attributes, raw.get("updated_at"))


def _source_invoice(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical invoice attributes → the API's ``invoice`` body; InvalidInput if they do
    not describe one (``customer_id``, ``currency`` and at least one item are needed)."""
    unknown = sorted(set(attributes) - {"customer_id", "currency", "items"})
    if unknown:
        raise InvalidInput(
            f"invoice fields {unknown} cannot be set; give customer_id, currency and items",
            field=str(unknown[0])[:100],
        )
    currency = attributes.get("currency")
    if not isinstance(currency, str) or not currency:
        raise InvalidInput("currency must be a currency code such as EUR", field="currency")
    items = attributes.get("items")
    if not isinstance(items, list) or not items:
        raise InvalidInput("items must be a non-empty list", field="items")
    lines = []
    for n, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise InvalidInput("each item must be an object", field=f"items.{n}")
        lines.append(
            {
                "product_id": payload_id(item, "product_id"),
                "quantity": payload_int(item, "quantity"),
                "unit_price_cents": amount_to_cents(item.get("unit_price"), "unit_price"),
            }
        )
    return {
        "customer_id": payload_id(attributes, "customer_id"),
        "currency": currency,
        "line_items": lines,
    }


def _invoices(body: Any, source: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("invoices"), list):
        raise SourceResponseError(f"{source}: expected an invoices list answer", source=source)
    return [source_object(row, source, "an invoice") for row in body["invoices"]], body
