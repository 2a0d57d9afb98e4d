"""A Stripe-like payment gateway (the payments domain's source).

Charges and refunds; every ``POST`` needs an ``Idempotency-Key`` (see ``_idempotency``):
a retry with the same key gets the first answer again, a decline (402) included. Lists
page with ``limit`` and ``starting_after``; with ``updated_since`` the charges come ordered
by ``(updated_at, id)``, refunded ones included, which is what change polling needs.

Declines come from the ``decline`` fault mode or, every time, for the customers listed
with ``POST /_admin/declines {"customer_ids": [...]}`` (``DELETE`` clears the list).

Example::

    app = create_app(seed=42)
    # POST /v1/charges {"amount_cents": 1999, "currency": "EUR", "customer_id": "1",
    #                   "invoice_id": "INV-2026-00151"}
    # Authorization: Bearer payments-demo-key   Idempotency-Key: saga-1:charge
"""

from __future__ import annotations

import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dictamesh.sources._http import ADMIN_PREFIX, AdminState, build_app, injected_fault, json_body
from dictamesh.sources._idempotency import Endpoint, request_key
from dictamesh.sources._store import RecordStore
from dictamesh.sources.seed import StoreClock, generate

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_TOKEN",
    "MAX_LIMIT",
    "create_app",
    "create_refund_store",
    "create_store",
]

DEFAULT_TOKEN = "payments-demo-key"
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _error(message: str, code: str, status: int) -> JSONResponse:
    """Stripe's shape: ``{"error": {"type", "code", "message"}}``."""
    if status == 402:
        kind = "card_error"
    elif code.startswith("idempotency_key"):
        kind = "idempotency_error"
    elif status == 401:
        kind = "authentication_error"
    else:
        kind = "invalid_request_error"
    return JSONResponse({"error": {"type": kind, "code": code, "message": message}}, status)


def _webhook(action: str, record: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    kind = {"create": "created", "update": "updated", "delete": "deleted"}[action]
    return {"type": f"charge.{kind}", "data": {"object": record}}


def _refund_webhook(action: str, record: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    kind = {"create": "created", "update": "updated", "delete": "deleted"}[action]
    return {"type": f"refund.{kind}", "data": {"object": record}}


def create_store(seed: int = 42, clock: StoreClock | None = None) -> RecordStore:
    """The charges: the seeded ones (``ch_1``...) paying some paid invoices."""
    return RecordStore(
        "charges",
        generate(seed).charges,
        created_field="created_at",
        clock=clock,
        payload_builder=_webhook,
    )


def create_refund_store(clock: StoreClock | None = None) -> RecordStore:
    """The refunds (none at first): ``re_1``, ``re_2``..."""
    return RecordStore(
        "refunds", (), created_field="created_at", clock=clock, payload_builder=_refund_webhook
    )


class _BadRequest(Exception):
    pass


def _amount(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _BadRequest(f"{name} must be a positive integer")
    return value


def _page(request: Request, rows: list[dict[str, Any]]) -> Response:
    """``{"data": [...], "has_more": ...}`` after ``starting_after``, at most ``limit``."""
    q = request.query_params
    try:
        limit = int(q.get("limit", str(DEFAULT_LIMIT)))
    except ValueError:
        return _error("limit must be an integer", "invalid_request", 400)
    if not 1 <= limit <= MAX_LIMIT:
        return _error(f"limit must be in 1..{MAX_LIMIT}", "invalid_request", 400)
    after = q.get("starting_after")
    if after:
        ids = [r["id"] for r in rows]
        if after not in ids:
            return _error(f"starting_after {after!r} is not in this list", "resource_missing", 400)
        rows = rows[ids.index(after) + 1 :]
    return JSONResponse({"data": rows[:limit], "has_more": len(rows) > limit})


def _filtered(
    request: Request, store: RecordStore, params: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Rows in creation order, or by (updated_at, id) with ``updated_since`` (ValueError if
    unparsable); then ``ids=a,b`` and each of ``params`` (equality) applied."""
    q = request.query_params
    since = q.get("updated_since")
    # without updated_since: insertion order, which is creation order
    rows = store.all() if since is None else store.changed_since(since)
    if "ids" in q:
        wanted = {i for i in q["ids"].split(",") if i}
        rows = [r for r in rows if r["id"] in wanted]
    for param in params:
        if param in q:
            rows = [r for r in rows if r.get(param) is not None and str(r[param]) == q[param]]
    return rows


def create_app(
    store: RecordStore | None = None,
    *,
    token: str = DEFAULT_TOKEN,
    seed: int = 42,
    refunds: RecordStore | None = None,
) -> Starlette:
    """The payment gateway; ``store`` holds the charges (the seeded ones of ``seed`` by
    default), ``refunds`` the refunds (a new empty store by default)."""
    store = store if store is not None else create_store(seed)
    refunds = refunds if refunds is not None else create_refund_store(store.clock)
    state = AdminState(store)
    keys, effects = state.keys, state.effects
    declined_customers: set[str] = set()

    def authorize(request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {token}":
            return _error("Invalid API Key provided", "unauthorized", 401)
        return None

    # --- charges ----------------------------------------------------------------------

    async def create_charge(request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            return _error("body must be a JSON object", "invalid_request", 400)
        try:
            amount = _amount(body.get("amount_cents"), "amount_cents")
            currency, customer_id, invoice_id = (
                body.get("currency"),
                body.get("customer_id"),
                body.get("invoice_id"),
            )
            if not isinstance(currency, str) or not _CURRENCY.match(currency):
                raise _BadRequest("currency must be a three-letter code such as EUR")
            for name, value in (("customer_id", customer_id), ("invoice_id", invoice_id)):
                if not isinstance(value, str) or not value:
                    raise _BadRequest(f"{name} must be a non-empty string")
        except _BadRequest as exc:
            return _error(str(exc), "invalid_request", 400)
        if injected_fault(request) == "decline" or customer_id in declined_customers:
            return _error("Your card was declined.", "card_declined", 402)
        key = request_key(request)
        charge = store.insert(
            {
                "id": f"ch_{len(store) + 1}",
                "status": "succeeded",
                "amount_cents": amount,
                "amount_refunded_cents": 0,
                "refunded": False,
                "currency": currency,
                "customer_id": customer_id,
                "invoice_id": invoice_id,
                "idempotency_key": key,
            }
        )
        effects.record("charge", key, charge["id"])
        return JSONResponse(charge, 201)

    async def read_charge(request: Request) -> Response:
        charge = store.get(request.path_params["charge_id"])
        if charge is None:
            return _error("No such charge", "resource_missing", 404)
        return JSONResponse(charge)

    async def list_charges(request: Request) -> Response:
        try:
            rows = _filtered(request, store, ("idempotency_key", "customer_id", "invoice_id"))
        except ValueError:
            return _error("updated_since must be an ISO 8601 timestamp", "invalid_request", 400)
        return _page(request, rows)

    # --- refunds ----------------------------------------------------------------------

    async def create_refund(request: Request) -> Response:
        body = await json_body(request)
        charge_id = body.get("charge_id") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(charge_id, str) or not charge_id:
            return _error("body must be {charge_id, amount_cents?}", "invalid_request", 400)
        charge = store.get(charge_id)
        if charge is None:
            return _error("No such charge", "resource_missing", 404)
        remaining = int(charge["amount_cents"]) - int(charge["amount_refunded_cents"])
        if remaining <= 0:
            return _error(f"charge {charge_id} is refunded already", "charge_already_refunded", 400)
        try:
            amount = (
                remaining
                if body.get("amount_cents") is None
                else _amount(body["amount_cents"], "amount_cents")
            )
        except _BadRequest as exc:
            return _error(str(exc), "invalid_request", 400)
        if amount > remaining:
            return _error(
                f"refund of {amount} exceeds the {remaining} left on charge {charge_id}",
                "amount_too_large",
                400,
            )
        key = request_key(request)
        refund = refunds.insert(
            {
                "id": f"re_{len(refunds) + 1}",
                "charge_id": charge_id,
                "amount_cents": amount,
                "currency": charge["currency"],
                "status": "succeeded",
                "idempotency_key": key,
            }
        )
        refunded = int(charge["amount_refunded_cents"]) + amount
        full = refunded >= int(charge["amount_cents"])
        changes: dict[str, Any] = {"amount_refunded_cents": refunded, "refunded": full}
        if full:
            changes["status"] = "refunded"
        store.update(charge_id, changes)
        effects.record("refund", key, refund["id"])
        return JSONResponse(refund, 201)

    async def read_refund(request: Request) -> Response:
        refund = refunds.get(request.path_params["refund_id"])
        if refund is None:
            return _error("No such refund", "resource_missing", 404)
        return JSONResponse(refund)

    async def list_refunds(request: Request) -> Response:
        try:
            rows = _filtered(request, refunds, ("idempotency_key", "charge_id"))
        except ValueError:
            return _error("updated_since must be an ISO 8601 timestamp", "invalid_request", 400)
        return _page(request, rows)

    # --- admin: deterministic declines ------------------------------------------------

    async def set_declines(request: Request) -> Response:
        body = await json_body(request)
        ids = body.get("customer_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            return JSONResponse({"error": "'customer_ids' must be a list of strings"}, 400)
        declined_customers.update(ids)
        return JSONResponse({"customer_ids": sorted(declined_customers)})

    async def list_declines(request: Request) -> Response:
        return JSONResponse({"customer_ids": sorted(declined_customers)})

    async def clear_declines(request: Request) -> Response:
        declined_customers.clear()
        return Response(status_code=204)

    def keyed(endpoint: Endpoint) -> Endpoint:
        return keys.wrap(endpoint, _error, required=True)

    routes = [
        Route(f"{ADMIN_PREFIX}/declines", set_declines, methods=["POST"]),
        Route(f"{ADMIN_PREFIX}/declines", list_declines, methods=["GET"]),
        Route(f"{ADMIN_PREFIX}/declines", clear_declines, methods=["DELETE"]),
        Route("/v1/charges", list_charges, methods=["GET"]),
        Route("/v1/charges", keyed(create_charge), methods=["POST"]),
        Route("/v1/charges/{charge_id}", read_charge, methods=["GET"]),
        Route("/v1/refunds", list_refunds, methods=["GET"]),
        Route("/v1/refunds", keyed(create_refund), methods=["POST"]),
        Route("/v1/refunds/{refund_id}", read_refund, methods=["GET"]),
    ]
    return build_app(routes, state, authorize)
