"""A third-party product catalogue API (the products domain's source).

Page-numbered, API-key authenticated and rate-limited (token bucket, 429 + Retry-After).
With ``updated_since`` the list is ordered by ``(updated_at, id)`` and includes
soft-deleted products (``deleted_at`` set), which is what change polling needs.

Stock is reserved with ``POST /v1/reservations`` and given back with
``POST /v1/reservations/{id}/release``; both need an ``Idempotency-Key`` (see
``_idempotency``) and change the product's ``stock`` through the store's update path.

Example::

    app = create_app(seed=42)
    # GET /v1/products?ids=prd_1001,prd_1002&per_page=100   X-API-Key: products-demo-key
    # POST /v1/reservations {"product_id": "prd_1001", "quantity": 2}   Idempotency-Key: k1
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dictamesh.sources._http import AdminState, TokenBucket, build_app, json_body, retry_after
from dictamesh.sources._idempotency import Endpoint, request_key
from dictamesh.sources._store import RecordStore
from dictamesh.sources.seed import StoreClock, generate

__all__ = [
    "DEFAULT_API_KEY",
    "MAX_PER_PAGE",
    "MAX_RESERVATION",
    "create_app",
    "create_reservation_store",
    "create_store",
]

DEFAULT_API_KEY = "products-demo-key"
MAX_PER_PAGE = 100
MAX_RESERVATION = 10_000
_EDITABLE = {"sku", "name", "category", "price_cents", "currency", "stock", "active"}


def _error(message: str, code: str, status: int, **headers: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


def _webhook(action: str, record: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    kind = {"create": "created", "update": "updated", "delete": "deleted"}[action]
    return {"type": f"product.{kind}", "data": {"id": record["id"]}}


def create_store(seed: int = 42, clock: StoreClock | None = None) -> RecordStore:
    return RecordStore(
        "products",
        generate(seed).products,
        created_field=None,
        deleted_field="deleted_at",
        clock=clock,
        payload_builder=_webhook,
    )


def _reservation_webhook(
    action: str, record: dict[str, Any], changes: dict[str, Any]
) -> dict[str, Any]:
    kind = {"create": "created", "update": "updated", "delete": "deleted"}[action]
    return {"type": f"reservation.{kind}", "data": {"id": record["id"]}}


def create_reservation_store(clock: StoreClock | None = None) -> RecordStore:
    """The stock reservations (none at first): ``rsv_1``, ``rsv_2``..."""
    return RecordStore(
        "reservations", (), created_field="created_at", clock=clock,
        payload_builder=_reservation_webhook,
    )  # fmt: skip


_BAD_SINCE = _error("updated_since must be an ISO 8601 timestamp", "invalid_request", 400)


class _BadRequest(Exception):
    pass


def _positive(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f"{name} must be an integer") from None
    if value < 1:
        raise _BadRequest(f"{name} must be at least 1")
    return value


def create_app(
    store: RecordStore | None = None,
    *,
    api_key: str = DEFAULT_API_KEY,
    seed: int = 42,
    rate_limit: float | None = 100.0,
    reservations: RecordStore | None = None,
) -> Starlette:
    """The products API; ``rate_limit`` requests per second (``None``: unlimited);
    ``reservations`` holds the stock reservations (a new empty store by default)."""
    store = store if store is not None else create_store(seed)
    reservations = (
        reservations if reservations is not None else create_reservation_store(store.clock)
    )
    state = AdminState(store)
    keys, effects = state.keys, state.effects

    def authorize(request: Request) -> Response | None:
        if request.headers.get("x-api-key") != api_key:
            return _error("missing or invalid X-API-Key", "unauthorized", 401)
        return None

    def rate_limited(wait: float) -> Response:
        return _error(
            "rate limit exceeded", "rate_limited", 429, **{"Retry-After": retry_after(wait)}
        )

    async def list_products(request: Request) -> Response:
        q = request.query_params
        try:
            page = _positive(request, "page", 1)
            per_page = min(_positive(request, "per_page", 20), MAX_PER_PAGE)
        except _BadRequest as exc:
            return _error(str(exc), "invalid_request", 400)
        try:
            rows = store.listing(
                q.get("updated_since"), include_deleted=q.get("include_deleted") == "true"
            )
        except ValueError:
            return _BAD_SINCE
        if "ids" in q:
            wanted = {i for i in q["ids"].split(",") if i}
            rows = [r for r in rows if r["id"] in wanted]
        if "category" in q:
            rows = [r for r in rows if r["category"] == q["category"]]
        if "active" in q:
            if q["active"] not in ("true", "false"):
                return _error("active must be true or false", "invalid_request", 400)
            rows = [r for r in rows if r["active"] is (q["active"] == "true")]
        total = len(rows)
        start = (page - 1) * per_page
        return JSONResponse(
            {
                "products": rows[start : start + per_page],
                "pagination": {
                    "page": page,
                    "per_page": per_page,
                    "total": total,
                    "total_pages": (total + per_page - 1) // per_page,
                },
            }
        )

    async def read_product(request: Request) -> Response:
        record = store.live(request.path_params["product_id"])
        if record is None:
            return _error("product not found", "not_found", 404)
        return JSONResponse(record)

    async def update_product(request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict) or set(body) - _EDITABLE:
            return _error(f"body must be an object of {sorted(_EDITABLE)}", "invalid_request", 400)
        current = store.live(request.path_params["product_id"])
        if current is None:
            return _error("product not found", "not_found", 404)
        updated = store.update(current["id"], body)
        effects.record("update_product", request_key(request), current["id"])
        return JSONResponse(updated)

    async def delete_product(request: Request) -> Response:
        current = store.live(request.path_params["product_id"])
        if current is None:
            return _error("product not found", "not_found", 404)
        store.soft_delete(current["id"])
        effects.record("delete_product", request_key(request), current["id"])
        return Response(status_code=204)

    # --- reservations -----------------------------------------------------------------

    async def create_reservation(request: Request) -> Response:
        body = await json_body(request)
        product_id = body.get("product_id") if isinstance(body, dict) else None
        quantity = body.get("quantity") if isinstance(body, dict) else None
        if (
            not isinstance(product_id, str)
            or isinstance(quantity, bool)
            or not isinstance(quantity, int)
            or not 1 <= quantity <= MAX_RESERVATION
        ):
            return _error(
                f"body must be {{product_id: str, quantity: int 1..{MAX_RESERVATION}}}",
                "invalid_request",
                400,
            )
        product = store.live(product_id)
        if product is None:
            return _error("product not found", "not_found", 404)
        available = int(product.get("stock") or 0)
        if available < quantity:
            return JSONResponse(
                {
                    "error": {
                        "code": "insufficient_stock",
                        "message": f"{product_id} has {available} in stock, {quantity} asked",
                        "available": available,
                    }
                },
                409,
            )
        key = request_key(request)
        store.update(product_id, {"stock": available - quantity})
        reservation = reservations.insert(
            {
                "id": f"rsv_{len(reservations) + 1}",
                "product_id": product_id,
                "sku": product["sku"],
                "quantity": quantity,
                "status": "active",
                "idempotency_key": key,
            }
        )
        effects.record("reserve", key, reservation["id"])
        return JSONResponse(reservation, 201)

    async def release_reservation(request: Request) -> Response:
        reservation = reservations.get(request.path_params["reservation_id"])
        if reservation is None:
            return _error("reservation not found", "not_found", 404)
        if reservation["status"] != "active":
            return JSONResponse(reservation)  # released already: no second effect
        product = store.get(reservation["product_id"])
        if product is not None:
            stock = int(product.get("stock") or 0) + int(reservation["quantity"])
            store.update(product["id"], {"stock": stock})
        released = reservations.update(reservation["id"], {"status": "released"})
        effects.record("release", request_key(request), released["id"])
        return JSONResponse(released)

    async def read_reservation(request: Request) -> Response:
        reservation = reservations.get(request.path_params["reservation_id"])
        if reservation is None:
            return _error("reservation not found", "not_found", 404)
        return JSONResponse(reservation)

    async def list_reservations(request: Request) -> Response:
        q = request.query_params
        try:
            rows = reservations.changed_since(q.get("updated_since"))
        except ValueError:
            return _BAD_SINCE
        for param in ("idempotency_key", "product_id", "status"):
            if param in q:
                rows = [r for r in rows if r.get(param) == q[param]]
        return JSONResponse({"reservations": rows})

    def keyed(endpoint: Endpoint, *, required: bool) -> Endpoint:
        return keys.wrap(endpoint, _error, required=required)

    routes = [
        Route("/v1/products", list_products, methods=["GET"]),
        Route("/v1/products/{product_id}", read_product, methods=["GET"]),
        Route(
            "/v1/products/{product_id}",
            keyed(update_product, required=False),
            methods=["PATCH"],
        ),
        Route(
            "/v1/products/{product_id}",
            keyed(delete_product, required=False),
            methods=["DELETE"],
        ),
        Route("/v1/reservations", list_reservations, methods=["GET"]),
        Route("/v1/reservations", keyed(create_reservation, required=True), methods=["POST"]),
        Route("/v1/reservations/{reservation_id}", read_reservation, methods=["GET"]),
        Route(
            "/v1/reservations/{reservation_id}/release",
            keyed(release_reservation, required=True),
            methods=["POST"],
        ),
    ]
    bucket = TokenBucket(rate_limit) if rate_limit else None
    return build_app(routes, state, authorize, bucket=bucket, rate_limited=rate_limited)
