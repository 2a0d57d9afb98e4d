"""Products from a third-party catalogue REST API (``/v1/products``), as ``product`` entities.

The API authenticates with ``X-API-Key``, pages by number (at most 100 per page) and
rate-limits with 429 + ``Retry-After`` (retried by the adapter's policy).

Writes (every one carries an ``Idempotency-Key``): ``update_entity`` / ``delete_entity``
(``PATCH`` / ``DELETE /v1/products/{id}``; canonical fields are mapped back, ``price`` to
``price_cents``), and the commands ``reserve`` (``{product_id, quantity}`` → the reservation;
``WriteRejected(reason="insufficient_stock")`` when stock is short) and ``release``
(``{reservation_id}``, or ``{reserve_key}``: the idempotency key of the ``reserve`` call; when
no reservation was made under it: ``{"released": False, "reason": "not_found"}``).

Example::

    config = AdapterConfig(name="products_rest", kind="products_rest",
                           base_url="http://127.0.0.1:8081", api_key="products-demo-key")
    async with ThirdPartyProductsAdapter(config) as products:
        found = await products.get_entities(["prd_1001", "prd_1002"])  # one request
        held = await products.run_command("reserve", {"product_id": "prd_1001", "quantity": 2},
                                          idempotency_key="order-7:reserve")
        await products.run_command("release", {"reserve_key": "order-7:reserve"},
                                   idempotency_key="order-7:release")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from dictamesh.adapters.base import AdapterBase, RawPage, RawWrite
from dictamesh.adapters.http import read_json, read_write
from dictamesh.adapters.reference._common import (
    EPOCH,
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
    SourceRef,
)

__all__ = ["ThirdPartyProductsAdapter"]

_PATH = "/v1/products"
_RESERVATIONS = "/v1/reservations"
_MAX_PER_PAGE = 100
#: canonical fields a write may change → the source's field names
_WRITABLE = {
    "sku": "sku",
    "name": "name",
    "category": "category",
    "price": "price_cents",
    "currency": "currency",
    "stock": "stock",
    "active": "active",
}

_S = FieldType.STRING
_SCHEMA = EntitySchema(
    entity_type="product",
    domain="products",
    description="A sellable product from the third-party product catalogue.",
    fields=[
        FieldSpec(name="id", type=_S, required=True),
        FieldSpec(name="sku", type=_S, required=True),
        FieldSpec(name="name", type=_S, required=True),
        FieldSpec(name="category", type=_S),
        FieldSpec(name="price", type=FieldType.NUMBER, description="unit price, major units"),
        FieldSpec(name="currency", type=_S, description="ISO 4217"),
        FieldSpec(name="stock", type=FieldType.INTEGER),
        FieldSpec(name="active", type=FieldType.BOOLEAN),
        FieldSpec(name="updated_at", type=FieldType.DATETIME),
    ],
)


class ThirdPartyProductsAdapter(AdapterBase):
    entity_type = "product"
    source = SourceRef(domain="products", system="thirdparty")
    source_collection = "products"
    schema = _SCHEMA
    sla = SLA(freshness_seconds=300, availability_target=0.99, latency_p95_ms=500)

    commands = frozenset({"reserve", "release"})

    def auth_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.config.api_key.get_secret_value()} if self.config.api_key else {}

    # --- reads --------------------------------------------------------------------------

    async def fetch_one(self, client: httpx.AsyncClient, entity_id: str) -> dict[str, Any] | None:
        body = read_json(await client.get(f"{_PATH}/{entity_id}"), self.name)
        return None if body is None else source_object(body, self.name, "a product")

    async def fetch_many(
        self, client: httpx.AsyncClient, entity_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        ids = list(dict.fromkeys(entity_ids))
        found: list[dict[str, Any]] = []
        # one request per 100 ids: the API's ``ids`` list is capped by ``per_page``
        for start in range(0, len(ids), _MAX_PER_PAGE):
            chunk = ids[start : start + _MAX_PER_PAGE]
            params = {
                "ids": ",".join(chunk),
                "per_page": str(_MAX_PER_PAGE),
                "include_deleted": "true",
            }
            body = read_json(await client.get(_PATH, params=params), self.name)
            found.extend(_products(body, self.name)[0])
        return found

    async def fetch_page(self, client: httpx.AsyncClient, query: Query) -> RawPage:
        params: dict[str, str] = {}
        ids: set[str] | None = set(query.ids) if query.ids is not None else None
        for flt in query.filters:
            values = [str(v) for v in filter_values(flt)]
            if flt.field == "id" and flt.op in (FilterOp.EQ, FilterOp.IN):
                ids = set(values) if ids is None else ids & set(values)
            elif flt.field == "category" and flt.op is FilterOp.EQ and "category" not in params:
                params["category"] = values[0]
            elif flt.field == "active" and flt.op is FilterOp.EQ and isinstance(flt.value, bool):
                params["active"] = "true" if flt.value else "false"
            elif flt.field == "updated_at" and flt.op is FilterOp.GTE:
                params["updated_since"] = later_since(params.get("updated_since"), flt.value)
            else:
                raise unsupported_filter(self.name, flt)
        if ids is not None:
            if not ids or any("," in i for i in ids):
                return RawPage(items=[], total=0)
            params["ids"] = ",".join(sorted(ids))
        since = updated_since_for_sort(self.name, query.sort, params.get("updated_since"))
        if since is not None:
            params["updated_since"] = since

        per_page = min(query.limit, _MAX_PER_PAGE)
        page = _page_of(query.cursor, per_page)
        pages = max(1, query.limit // per_page)  # never more than ``limit`` items
        items: list[dict[str, Any]] = []
        total: int | None = None
        next_cursor: str | None = None
        for _ in range(pages):
            body = read_json(
                await client.get(
                    _PATH, params={**params, "page": str(page), "per_page": str(per_page)}
                ),
                self.name,
            )
            rows, pagination = _products(body, self.name)
            items.extend(rows)
            total = int(pagination["total"])
            if page >= int(pagination["total_pages"]):
                next_cursor = None
                break
            page += 1
            next_cursor = f"{per_page}:{page}"
        return RawPage(items=items, next_cursor=next_cursor, total=total)

    # --- change detection -----------------------------------------------------------------

    async def fetch_changed_since(
        self, client: httpx.AsyncClient, watermark: str | None, limit: int
    ) -> list[dict[str, Any]]:
        per_page = min(limit, _MAX_PER_PAGE)
        found: list[dict[str, Any]] = []
        page = 1
        while len(found) < limit:
            params = {
                "updated_since": watermark or EPOCH,
                "page": str(page),
                "per_page": str(per_page),
            }
            rows, pagination = _products(
                read_json(await client.get(_PATH, params=params), self.name), self.name
            )
            found.extend(rows)
            if page >= int(pagination["total_pages"]):
                break
            page += 1
        return found[:limit]

    def is_deleted(self, raw: dict[str, Any]) -> bool:
        return raw.get("deleted_at") is not None

    def parse_webhook(self, payload: Any) -> list[str]:
        if not str(payload.get("type", "")).startswith("product."):
            return []
        return [str(payload["data"]["id"])]

    # --- writes -------------------------------------------------------------------------

    async def write_update(
        self,
        client: httpx.AsyncClient,
        entity_id: str,
        changes: dict[str, Any],
        idempotency_key: str,
    ) -> RawWrite:
        body = _source_changes(changes)
        response = await client.patch(
            f"{_PATH}/{entity_id}", json=body, headers=keyed(idempotency_key)
        )
        product, replayed = read_write(response, self.name)
        product = source_object(product, self.name, "a product")
        return RawWrite(data=product, record=product, replayed=replayed)

    async def write_delete(
        self, client: httpx.AsyncClient, entity_id: str, idempotency_key: str
    ) -> RawWrite:
        response = await client.delete(f"{_PATH}/{entity_id}", headers=keyed(idempotency_key))
        _, replayed = read_write(response, self.name)
        return RawWrite(data={"id": entity_id, "deleted": True}, replayed=replayed)

    async def write_command(
        self,
        client: httpx.AsyncClient,
        command: str,
        payload: dict[str, Any],
        idempotency_key: str,
    ) -> RawWrite:
        if command == "reserve":
            product_id = payload_id(payload, "product_id")
            body = {"product_id": product_id, "quantity": payload_int(payload, "quantity")}
            response = await client.post(_RESERVATIONS, json=body, headers=keyed(idempotency_key))
        else:  # release
            how, value = by_id_or_key(payload, "reservation_id", "reserve_key")
            reservation_id = value if how == "id" else await self._reservation_by_key(client, value)
            if reservation_id is None:
                return RawWrite(data={"released": False, "reason": "not_found"})
            response = await client.post(
                f"{_RESERVATIONS}/{reservation_id}/release", headers=keyed(idempotency_key)
            )
        reservation, replayed = read_write(response, self.name)
        reservation = source_object(reservation, self.name, "a reservation")
        # the reservation took (or gave back) stock: the product's cached copy is stale
        changed = (str(reservation["product_id"]),)
        return RawWrite(data=reservation, replayed=replayed, changed=changed)

    async def _reservation_by_key(self, client: httpx.AsyncClient, key: str) -> str | None:
        body = read_json(
            await client.get(_RESERVATIONS, params={"idempotency_key": key}), self.name
        )
        if not isinstance(body, dict) or not isinstance(body.get("reservations"), list):
            raise SourceResponseError(f"{self.name}: expected a reservations list answer")
        found = [source_object(r, self.name, "a reservation") for r in body["reservations"]]
        return str(found[0]["id"]) if found else None

    # --- transform ------------------------------------------------------------------------

    def transform(self, raw: dict[str, Any]) -> Entity:
        attributes = {
            "id": str(raw["id"]),
            "sku": raw["sku"],
            "name": raw["name"],
            "category": raw.get("category"),
            "price": cents_to_amount(raw["price_cents"]),
            "currency": raw.get("currency"),
            "stock": raw.get("stock"),
            "active": bool(raw.get("active", True)),
            "updated_at": raw.get("updated_at"),
        }
        return source_entity(self, raw, attributes, raw.get("updated_at"))


def _source_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Canonical field changes → the API's PATCH body; InvalidInput for a field that cannot
    be written (``id``, ``updated_at``, unknown names)."""
    if not changes:
        raise InvalidInput("no field to change", field="changes")
    body: dict[str, Any] = {}
    for name, value in changes.items():
        target = _WRITABLE.get(name)
        if target is None:
            raise InvalidInput(
                f"product field {name!r} cannot be written; writable: {sorted(_WRITABLE)}",
                field=str(name)[:100],
            )
        body[target] = amount_to_cents(value, name) if name == "price" else value
    return body


def _page_of(cursor: str | None, per_page: int) -> int:
    if cursor is None:
        return 1
    size, _, page = cursor.partition(":")
    if not (size.isdigit() and page.isdigit()) or int(size) != per_page or int(page) < 1:
        raise ValidationError(
            "invalid cursor for products (cursors are tied to the page size)",
            cursor=cursor[:100],
        )
    return int(page)


def _products(body: Any, source: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("products"), list)
        or not isinstance(body.get("pagination"), dict)
    ):
        raise SourceResponseError(f"{source}: expected a products list answer", source=source)
    rows = [source_object(row, source, "a product") for row in body["products"]]
    return rows, body["pagination"]
