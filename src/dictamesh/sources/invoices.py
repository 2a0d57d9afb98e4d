"""An e-commerce platform's invoice API (the invoices domain's source).

Lists take repeated parameters (``?customer_id=1&customer_id=2``) and page with an opaque
cursor. With ``updated_since`` the list is ordered by ``(updated_at, id)`` and includes
soft-deleted invoices (``deleted_at`` set), which is what change polling needs.

Example::

    app = create_app(seed=42)
    # GET /api/invoices?customer_id=1&limit=50   Authorization: Bearer shop-demo-token
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dictamesh.sources._http import AdminState, build_app, json_body
from dictamesh.sources._store import RecordStore
from dictamesh.sources.seed import StoreClock, generate

__all__ = ["DEFAULT_TOKEN", "MAX_LIMIT", "create_app", "create_store"]

DEFAULT_TOKEN = "shop-demo-token"
MAX_LIMIT = 200
_EDITABLE = {"status", "currency", "customer_id", "line_items", "issued_at"}


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"errors": {"base": [message]}}, status)


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
        for param in ("id", "customer_id", "status"):
            wanted = set(q.getlist(param))
            if wanted:
                rows = [r for r in rows if str(r[param]) in wanted]
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
        return JSONResponse({"invoice": store.update(current["id"], changes)})

    async def delete_invoice(request: Request) -> Response:
        current = store.live(request.path_params["invoice_id"])
        if current is None:
            return _error("Not Found", 404)
        store.soft_delete(current["id"])
        return Response(status_code=204)

    routes = [
        Route("/api/invoices", list_invoices, methods=["GET"]),
        Route("/api/invoices/{invoice_id}", read_invoice, methods=["GET"]),
        Route("/api/invoices/{invoice_id}", update_invoice, methods=["PATCH"]),
        Route("/api/invoices/{invoice_id}", delete_invoice, methods=["DELETE"]),
    ]
    return build_app(routes, state, authorize)
