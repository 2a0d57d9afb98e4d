"""An e-commerce platform's invoice API (the invoices domain's source).

Lists take repeated parameters (``?customer_id=1&customer_id=2``) and page with an opaque
cursor. With ``updated_since`` the list is ordered by ``(updated_at, id)`` and includes
soft-deleted invoices (``deleted_at`` set), which is what change polling needs.

``POST /api/invoices`` creates an open invoice and ``POST /api/invoices/{id}/cancel``
cancels one; both need an ``Idempotency-Key`` (see ``_idempotency``). Errors are
``{"errors": {"base": [message]}, "code": "..."}``.

Example::

    app = create_app(seed=42)
    # GET /api/invoices?customer_id=1&limit=50   Authorization: Bearer shop-demo-token
    # POST /api/invoices {"invoice": {"customer_id": "1", "currency": "EUR", "line_items": [...]}}
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dictamesh.sources._http import AdminState, build_app, json_body
from dictamesh.sources._idempotency import Endpoint, request_key
from dictamesh.sources._store import RecordStore
from dictamesh.sources.seed import StoreClock, generate

__all__ = ["DEFAULT_TOKEN", "MAX_LIMIT", "create_app", "create_store"]

DEFAULT_TOKEN = "shop-demo-token"
MAX_LIMIT = 200
_EDITABLE = {"status", "currency", "customer_id", "line_items", "issued_at"}
_NUMBER = re.compile(r"^INV-(\d{4})-(\d+)$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_CODES = {400: "invalid_request", 401: "unauthorized", 404: "not_found"}


def _error(message: str, status: int, code: str | None = None) -> JSONResponse:
    """``{"errors": {"base": [message]}, "code": code}`` (the code from the status if None)."""
    return JSONResponse(
        {"errors": {"base": [message]}, "code": code or _CODES.get(status, "error")}, status
    )


def _keyed_error(message: str, code: str, status: int) -> Response:
    return _error(message, status, code)


class _Invalid(ValueError):
    pass


def _new_invoice(body: Any) -> dict[str, Any]:
    """The fields of an invoice to create from a POST body; _Invalid if it is not one."""
    invoice = body.get("invoice") if isinstance(body, dict) else None
    if not isinstance(invoice, dict):
        raise _Invalid("body must be {invoice: {customer_id, currency, line_items}}")
    customer_id = invoice.get("customer_id")
    if isinstance(customer_id, int) and not isinstance(customer_id, bool):
        customer_id = str(customer_id)
    if not isinstance(customer_id, str) or not customer_id:
        raise _Invalid("customer_id must be a non-empty string")
    currency = invoice.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise _Invalid("currency must be a three-letter code such as EUR")
    raw_items = invoice.get("line_items")
    if not isinstance(raw_items, list) or not raw_items:
        raise _Invalid("line_items must be a non-empty list")
    items: list[dict[str, Any]] = []
    for line, item in enumerate(raw_items, start=1):
        if not isinstance(item, dict):
            raise _Invalid("each line item must be an object")
        product_id, quantity, price = (
            item.get("product_id"),
            item.get("quantity"),
            item.get("unit_price_cents"),
        )
        if (
            not isinstance(product_id, str)
            or not product_id
            or not _is_int(quantity, 1)
            or not _is_int(price, 0)
        ):
            raise _Invalid(
                "each line item needs product_id (string), quantity (integer >= 1) "
                "and unit_price_cents (integer >= 0)"
            )
        items.append(
            {
                "id": str(line),
                "product_id": product_id,
                "quantity": quantity,
                "unit_price_cents": price,
            }
        )
    return {
        "customer_id": customer_id,
        "currency": currency,
        "line_items": items,
        "total_cents": sum(i["quantity"] * i["unit_price_cents"] for i in items),
    }


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _webhook(action: str, record: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    return {"topic": f"invoices/{action}", "invoice_id": record["id"]}


def create_store(seed: int = 42, clock: StoreClock | None = None) -> RecordStore:
    return RecordStore(
        "invoices",
        generate(seed).invoices,
        created_field=None,
        deleted_field="deleted_at",
        clock=clock,
        payload_builder=_webhook,
    )


_BAD_SINCE = _error("updated_since must be an ISO 8601 timestamp", 400)


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Offset from a cursor; ``ValueError`` if it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("bad cursor") from None
    if not text.startswith("o:") or not text[2:].isdigit():
        raise ValueError("bad cursor")
    return int(text[2:])


def _with_total(changes: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    items = changes.get("line_items", current["line_items"])
    changes["total_cents"] = sum(int(i["quantity"]) * int(i["unit_price_cents"]) for i in items)
    return changes


def create_app(
    store: RecordStore | None = None, *, token: str = DEFAULT_TOKEN, seed: int = 42
) -> Starlette:
    """The shop's invoice API; ``store`` defaults to the seeded invoices of ``seed``."""
    store = store if store is not None else create_store(seed)
    state = AdminState(store)
    keys, effects = state.keys, state.effects

    def next_number() -> str:
        """The next number in the seed's ``INV-<year>-<NNNNN>`` sequence."""
        year, last = "2026", 0
        for key in store.ids():
            match = _NUMBER.match(str(key))
            if match and int(match.group(2)) > last:
                year, last = match.group(1), int(match.group(2))
        return f"INV-{year}-{last + 1:05d}"

    def authorize(request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {token}":
            return _error("[API] Invalid API key or access token", 401)
        return None

    async def list_invoices(request: Request) -> Response:
        q = request.query_params
        try:
            limit = int(q.get("limit", "50"))
            offset = decode_cursor(q["cursor"]) if q.get("cursor") else 0
        except ValueError:
            return _error("limit must be an integer and cursor one this API returned", 400)
        if limit < 1:
            return _error("limit must be at least 1", 400)
        limit = min(limit, MAX_LIMIT)
        try:
            rows = store.listing(
                q.get("updated_since"), include_deleted=q.get("include_deleted") == "true"
            )
        except ValueError:
            return _BAD_SINCE
        for param in ("id", "customer_id", "status", "idempotency_key"):
            wanted = set(q.getlist(param))
            if wanted:
                rows = [r for r in rows if r.get(param) is not None and str(r[param]) in wanted]
        page = rows[offset : offset + limit]
        more = offset + limit < len(rows)
        return JSONResponse(
            {
                "invoices": page,
                "next_cursor": encode_cursor(offset + limit) if more else None,
                "total": len(rows),
            }
        )

    async def read_invoice(request: Request) -> Response:
        record = store.live(request.path_params["invoice_id"])
        if record is None:
            return _error("Not Found", 404)
        return JSONResponse({"invoice": record})

    async def update_invoice(request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict) or set(body) - _EDITABLE:
            return _error(f"body must be an object of {sorted(_EDITABLE)}", 400)
        current = store.live(request.path_params["invoice_id"])
        if current is None:
            return _error("Not Found", 404)
        try:
            changes = _with_total(dict(body), current)
        except (KeyError, TypeError, ValueError):
            return _error("line_items need quantity and unit_price_cents", 400)
        updated = store.update(current["id"], changes)
        effects.record("update_invoice", request_key(request), current["id"])
        return JSONResponse({"invoice": updated})

    async def delete_invoice(request: Request) -> Response:
        current = store.live(request.path_params["invoice_id"])
        if current is None:
            return _error("Not Found", 404)
        store.soft_delete(current["id"])
        effects.record("delete_invoice", request_key(request), current["id"])
        return Response(status_code=204)

    async def create_invoice(request: Request) -> Response:
        try:
            fields = _new_invoice(await json_body(request))
        except _Invalid as exc:
            return _error(str(exc), 400)
        key = request_key(request)
        number = next_number()
        invoice = store.insert(
            {
                "id": number,
                "invoice_number": number,
                **fields,
                "status": "open",
                "deleted_at": None,
                "idempotency_key": key,
            },
            stamp=("issued_at", "created_at"),
        )
        effects.record("create_invoice", key, number)
        return JSONResponse({"invoice": invoice}, 201)

    async def cancel_invoice(request: Request) -> Response:
        current = store.live(request.path_params["invoice_id"])
        if current is None:
            return _error("Not Found", 404)
        if current["status"] == "cancelled":
            return JSONResponse({"invoice": current})  # cancelled already: no second effect
        cancelled = store.update(current["id"], {"status": "cancelled"})
        effects.record("cancel_invoice", request_key(request), current["id"])
        return JSONResponse({"invoice": cancelled})

    def keyed(endpoint: Endpoint, *, required: bool) -> Endpoint:
        return keys.wrap(endpoint, _keyed_error, required=required)

    routes = [
        Route("/api/invoices", list_invoices, methods=["GET"]),
        Route("/api/invoices", keyed(create_invoice, required=True), methods=["POST"]),
        Route("/api/invoices/{invoice_id}", read_invoice, methods=["GET"]),
        Route(
            "/api/invoices/{invoice_id}",
            keyed(update_invoice, required=False),
            methods=["PATCH"],
        ),
        Route(
            "/api/invoices/{invoice_id}",
            keyed(delete_invoice, required=False),
            methods=["DELETE"],
        ),
        Route(
            "/api/invoices/{invoice_id}/cancel",
            keyed(cancel_invoice, required=True),
            methods=["POST"],
        ),
    ]
    return build_app(routes, state, authorize)
