"""A third-party product catalogue API (the products domain's source).

Page-numbered, API-key authenticated and rate-limited (token bucket, 429 + Retry-After).
With ``updated_since`` the list is ordered by ``(updated_at, id)`` and includes
soft-deleted products (``deleted_at`` set), which is what change polling needs.

Example::

    app = create_app(seed=42)
    # GET /v1/products?ids=prd_1001,prd_1002&per_page=100   X-API-Key: products-demo-key
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dictamesh.sources._http import AdminState, TokenBucket, build_app, json_body, retry_after
from dictamesh.sources._store import RecordStore
from dictamesh.sources.seed import StoreClock, generate

__all__ = ["DEFAULT_API_KEY", "MAX_PER_PAGE", "create_app", "create_store"]

DEFAULT_API_KEY = "products-demo-key"
MAX_PER_PAGE = 100
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
) -> Starlette:
    """The products API; ``rate_limit`` requests per second (``None``: unlimited)."""
    store = store if store is not None else create_store(seed)
    state = AdminState(store)

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
        return JSONResponse(store.update(current["id"], body))

    async def delete_product(request: Request) -> Response:
        current = store.live(request.path_params["product_id"])
        if current is None:
            return _error("product not found", "not_found", 404)
        store.soft_delete(current["id"])
        return Response(status_code=204)

    routes = [
        Route("/v1/products", list_products, methods=["GET"]),
        Route("/v1/products/{product_id}", read_product, methods=["GET"]),
        Route("/v1/products/{product_id}", update_product, methods=["PATCH"]),
        Route("/v1/products/{product_id}", delete_product, methods=["DELETE"]),
    ]
    bucket = TokenBucket(rate_limit) if rate_limit else None
    return build_app(routes, state, authorize, bucket=bucket, rate_limited=rate_limited)
