"""Payments from a Stripe-like gateway (``/v1/charges``), as ``payment`` entities.

A payment links to its customer (``customer_id``; the gateway adds ``customer.payments``) and
to the invoice it pays (``invoice_id``; ``invoice.payments``). The API authenticates with a
Bearer key and pages with ``limit`` + ``starting_after``; asked with ``updated_since`` it
lists charges by ``(updated_at, id)``, which change polling uses.

Commands (each carries an ``Idempotency-Key``): ``charge`` (``{amount_cents, currency,
customer_id, invoice_id}`` → the charge, and the payment entity;
``WriteRejected(reason="card_declined")`` when the card is declined) and ``refund``
(``{charge_id}`` or ``{charge_key}``: the idempotency key of the ``charge`` call, optional
``amount_cents``; when no charge was made under the key: ``{"refunded": False, "reason":
"not_found"}``).

Example::

    config = AdapterConfig(name="payments_gateway", kind="payments_gateway",
                           base_url="http://127.0.0.1:8084", api_key="payments-demo-key")
    async with PaymentsGatewayAdapter(config) as payments:
        paid = await payments.run_command(
            "charge",
            {"amount_cents": 1999, "currency": "EUR", "customer_id": "1",
             "invoice_id": "INV-2026-00151"},
            idempotency_key="order-7:charge",
        )
        paid.entity.attributes["amount"]          # 19.99
        await payments.run_command("refund", {"charge_key": "order-7:charge"},
                                   idempotency_key="order-7:refund")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from dictamesh.adapters.base import AdapterBase, RawPage, RawWrite
from dictamesh.adapters.http import read_json, read_write
from dictamesh.adapters.reference._common import (
    EPOCH,
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
    unsupported_sort,
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
    is_entity_id,
)

__all__ = ["PaymentsGatewayAdapter"]

_CHARGES = "/v1/charges"
_REFUNDS = "/v1/refunds"
_MAX_LIMIT = 100
#: canonical attributes the API filters on with equality parameters
_EQ_FILTERS = ("customer_id", "invoice_id")

_S = FieldType.STRING
_SCHEMA = EntitySchema(
    entity_type="payment",
    domain="payments",
    description="A card payment (charge) taken by the payment gateway, maybe refunded.",
    fields=[
        FieldSpec(name="id", type=_S, required=True),
        FieldSpec(name="amount", type=FieldType.NUMBER, required=True, description="major units"),
        FieldSpec(name="currency", type=_S, required=True, description="ISO 4217"),
        FieldSpec(name="status", type=_S, description="succeeded | refunded"),
        FieldSpec(name="customer_id", type=_S, required=True),
        FieldSpec(name="invoice_id", type=_S),
        FieldSpec(name="amount_refunded", type=FieldType.NUMBER, description="major units"),
        FieldSpec(name="created_at", type=FieldType.DATETIME),
        FieldSpec(name="updated_at", type=FieldType.DATETIME),
    ],
    relationships=[
        RelationshipSpec(
            name="customer",
            target_type="customer",
            via_field="customer_id",
            inverse="payments",
            relationship_type="paid_by",
        ),
        RelationshipSpec(
            name="invoice",
            target_type="invoice",
            via_field="invoice_id",
            inverse="payments",
            relationship_type="pays",
        ),
    ],
)


class PaymentsGatewayAdapter(AdapterBase):
    entity_type = "payment"
    source = SourceRef(domain="payments", system="paygate")
    source_collection = "charges"
    schema = _SCHEMA
    sla = SLA(freshness_seconds=60, availability_target=0.999, latency_p95_ms=400)
    commands = frozenset({"charge", "refund"})

    # --- reads --------------------------------------------------------------------------

    async def fetch_one(self, client: httpx.AsyncClient, entity_id: str) -> dict[str, Any] | None:
        body = read_json(await client.get(f"{_CHARGES}/{entity_id}"), self.name)
        return None if body is None else source_object(body, self.name, "a charge")

    async def fetch_many(
        self, client: httpx.AsyncClient, entity_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        ids = [i for i in dict.fromkeys(entity_ids) if "," not in i]
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), _MAX_LIMIT):
            chunk = ids[start : start + _MAX_LIMIT]
            params = {"ids": ",".join(chunk), "limit": str(_MAX_LIMIT)}
            rows, _ = _charges(read_json(await client.get(_CHARGES, params=params), self.name))
            found.extend(rows)
        return found

    async def fetch_page(self, client: httpx.AsyncClient, query: Query) -> RawPage:
        params: dict[str, str] = {}
        ids: set[str] | None = set(query.ids) if query.ids is not None else None
        since: str | None = None
        for flt in query.filters:
            values = [str(v) for v in filter_values(flt)]
            if flt.field == "id" and flt.op in (FilterOp.EQ, FilterOp.IN):
                ids = set(values) if ids is None else ids & set(values)
            elif flt.field in _EQ_FILTERS and flt.op is FilterOp.EQ:
                if params.get(flt.field, values[0]) != values[0]:
                    return RawPage(items=[], total=0)  # two different values: nothing
                params[flt.field] = values[0]
            elif flt.field == "updated_at" and flt.op is FilterOp.GTE:
                since = later_since(since, flt.value)
            else:
                raise unsupported_filter(self.name, flt)
        if ids is not None:
            if not ids or any("," in i for i in ids):
                return RawPage(items=[], total=0)
            params["ids"] = ",".join(sorted(ids))
        since = _since_for_sort(self.name, query, since)
        if since is not None:
            params["updated_since"] = since
        if query.cursor is not None and not is_entity_id(query.cursor):
            raise ValidationError("invalid cursor for payments", cursor=query.cursor[:100])

        items: list[dict[str, Any]] = []
        after = query.cursor
        more = True
        while more and len(items) < query.limit:
            page = {**params, "limit": str(min(query.limit - len(items), _MAX_LIMIT))}
            if after:
                page["starting_after"] = after
            response = await client.get(_CHARGES, params=page)
            if response.status_code == 400 and after == query.cursor and after is not None:
                raise ValidationError("invalid cursor for payments", cursor=after[:100])
            rows, more = _charges(read_json(response, self.name))
            items.extend(rows)
            if not rows:
                break
            after = str(rows[-1]["id"])
        return RawPage(items=items, next_cursor=after if more and items else None)

    # --- change detection -----------------------------------------------------------------

    async def fetch_changed_since(
        self, client: httpx.AsyncClient, watermark: str | None, limit: int
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after: str | None = None
        while len(found) < limit:
            params = {
                "updated_since": watermark or EPOCH,
                "limit": str(min(limit - len(found), _MAX_LIMIT)),
            }
            if after:
                params["starting_after"] = after
            rows, more = _charges(read_json(await client.get(_CHARGES, params=params), self.name))
            found.extend(rows)
            if not more or not rows:
                break
            after = str(rows[-1]["id"])
        return found[:limit]

    def parse_webhook(self, payload: Any) -> list[str]:
        kind = str(payload.get("type", ""))
        if kind.startswith("charge."):
            return [str(payload["data"]["object"]["id"])]
        if kind.startswith("refund."):  # a refund changes its charge
            return [str(payload["data"]["object"]["charge_id"])]
        return []

    # --- writes -------------------------------------------------------------------------

    async def write_command(
        self,
        client: httpx.AsyncClient,
        command: str,
        payload: dict[str, Any],
        idempotency_key: str,
    ) -> RawWrite:
        if command == "charge":
            currency = payload.get("currency")
            if not isinstance(currency, str) or not currency:
                raise InvalidInput("currency must be a currency code such as EUR", field="currency")
            body = {
                "amount_cents": payload_int(payload, "amount_cents"),
                "currency": currency,
                "customer_id": payload_id(payload, "customer_id"),
                "invoice_id": payload_id(payload, "invoice_id"),
            }
            response = await client.post(_CHARGES, json=body, headers=keyed(idempotency_key))
            charge, replayed = read_write(response, self.name)
            charge = source_object(charge, self.name, "a charge")
            return RawWrite(data=charge, record=charge, replayed=replayed)
        # refund
        how, value = by_id_or_key(payload, "charge_id", "charge_key")
        charge_id = value if how == "id" else await self._charge_by_key(client, value)
        if charge_id is None:
            return RawWrite(data={"refunded": False, "reason": "not_found"})
        refund: dict[str, Any] = {"charge_id": charge_id}
        if payload.get("amount_cents") is not None:
            refund["amount_cents"] = payload_int(payload, "amount_cents")
        response = await client.post(_REFUNDS, json=refund, headers=keyed(idempotency_key))
        answer, replayed = read_write(response, self.name)
        answer = source_object(answer, self.name, "a refund")
        return RawWrite(data=answer, replayed=replayed, changed=(charge_id,))

    async def _charge_by_key(self, client: httpx.AsyncClient, key: str) -> str | None:
        params = {"idempotency_key": key, "limit": "1"}
        rows, _ = _charges(read_json(await client.get(_CHARGES, params=params), self.name))
        return str(rows[0]["id"]) if rows else None

    # --- transform ------------------------------------------------------------------------

    def transform(self, raw: dict[str, Any]) -> Entity:
        attributes = {
            "id": str(raw["id"]),
            "amount": cents_to_amount(raw["amount_cents"]),
            "currency": raw["currency"],
            "status": raw.get("status"),
            "customer_id": str(raw["customer_id"]),
            "invoice_id": None if raw.get("invoice_id") is None else str(raw["invoice_id"]),
            "amount_refunded": cents_to_amount(raw.get("amount_refunded_cents") or 0),
            "created_at": raw.get("created_at"),
            "updated_at": raw.get("updated_at"),
        }
        return source_entity(self, raw, attributes, raw.get("updated_at"))


def _since_for_sort(adapter: str, query: Query, since: str | None) -> str | None:
    """The gateway lists in creation order, or by ``(updated_at, id)`` when asked with
    ``updated_since``: so only ``updated_at`` (then ``id``) ascending can be sorted on."""
    sort = list(query.sort)
    for n, spec in enumerate(sort):
        allowed = "updated_at" if n == 0 else "id"
        if spec.descending or spec.field != allowed or n > 1:
            raise unsupported_sort(adapter, spec)
    if sort:
        return since or EPOCH
    return since


def _charges(body: Any) -> tuple[list[dict[str, Any]], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise SourceResponseError("payments: expected a charges list answer")
    rows = [source_object(row, "payments", "a charge") for row in body["data"]]
    return rows, bool(body.get("has_more"))
