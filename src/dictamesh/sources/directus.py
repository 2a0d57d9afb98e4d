"""A Directus-like CMS serving ``customers`` (the customers domain's source).

Example::

    app = create_app(seed=42)
    # GET /items/customers?filter[id][_in]=1,2&sort=-date_updated&meta=filter_count
    # Authorization: Bearer directus-demo-token
"""

from __future__ import annotations

import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dictamesh.sources._http import AdminState, build_app, json_body
from dictamesh.sources._store import RecordStore
from dictamesh.sources.seed import StoreClock, generate

__all__ = ["DEFAULT_TOKEN", "create_app", "create_store"]

DEFAULT_TOKEN = "directus-demo-token"
COLLECTION = "customers"
FIELDS = (
    "id", "first_name", "last_name", "email", "phone", "company", "country", "address",
    "status", "date_created", "date_updated", "version",
)  # fmt: skip
_FILTER = re.compile(r"^filter\[([a-z_]+)\]\[(_[a-z]+)\]$")
_OPS = ("_eq", "_neq", "_in", "_gt", "_gte", "_lt", "_lte", "_contains")


class _BadRequest(Exception):
    pass


def _error(message: str, code: str, status: int) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status)


def _not_found() -> JSONResponse:
    return _error("Item not found", "NOT_FOUND", 404)


def _webhook(action: str, record: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": f"items.{action}",
        "collection": COLLECTION,
        "keys": [str(record["id"])],
        "payload": changes,
    }


def create_store(seed: int = 42, clock: StoreClock | None = None) -> RecordStore:
    # Directus "deletes" by archiving: no deleted field, the status says it
    return RecordStore(
        COLLECTION,
        generate(seed).customers,
        updated_field="date_updated",
        created_field="date_created",
        clock=clock,
        payload_builder=_webhook,
    )


def _key(raw: str) -> int | None:
    return int(raw) if raw.isdigit() else None


def _coerce(sample: Any, raw: str) -> Any:
    """A query-string value in the type of the field it is compared with."""
    try:
        if isinstance(sample, bool):
            return raw.lower() in ("true", "1")
        if isinstance(sample, int):
            return int(raw)
        if isinstance(sample, float):
            return float(raw)
    except ValueError:
        raise _BadRequest(f"invalid value {raw!r}") from None
    return raw


def _match(value: Any, op: str, raw: str) -> bool:
    if op == "_in":
        return value in [_coerce(value, part) for part in raw.split(",") if part != ""]
    if op == "_contains":
        return value is not None and raw.lower() in str(value).lower()
    target = _coerce(value, raw)
    if op == "_eq":
        return bool(value == target)
    if op == "_neq":
        return bool(value != target)
    if value is None:
        return False
    try:
        if op == "_gt":
            return bool(value > target)
        if op == "_gte":
            return bool(value >= target)
        if op == "_lt":
            return bool(value < target)
        return bool(value <= target)
    except TypeError:
        raise _BadRequest(f"cannot compare with {raw!r}") from None


def _filters(request: Request) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for key, value in request.query_params.multi_items():
        if not key.startswith("filter"):
            continue
        m = _FILTER.match(key)
        if m is None:
            raise _BadRequest(f"invalid filter parameter {key!r}")
        field, op = m.groups()
        if field not in FIELDS or field == "address":
            raise _BadRequest(f"cannot filter on field {field!r}")
        if op not in _OPS:
            raise _BadRequest(f"unknown filter operator {op!r}")
        out.append((field, op, value))
    return out


def _sort(rows: list[dict[str, Any]], spec: str) -> list[dict[str, Any]]:
    keys = [k.strip() for k in spec.split(",") if k.strip()]
    for key in reversed(keys):  # stable sorts, last key first
        desc = key.startswith("-")
        name = key.lstrip("-")
        if name not in FIELDS or name == "address":
            raise _BadRequest(f"cannot sort on field {name!r}")
        present = [r for r in rows if r.get(name) is not None]
        missing = [r for r in rows if r.get(name) is None]
        present.sort(key=lambda r: r[name], reverse=desc)
        rows = present + missing
    return rows


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise _BadRequest(f"{name} must be an integer") from None


def create_app(
    store: RecordStore | None = None, *, token: str = DEFAULT_TOKEN, seed: int = 42
) -> Starlette:
    """The CMS app; ``store`` defaults to the seeded customers of ``seed``."""
    store = store if store is not None else create_store(seed)
    state = AdminState(store)

    def authorize(request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {token}":
            return _error("Invalid user credentials.", "INVALID_CREDENTIALS", 401)
        return None

    async def list_items(request: Request) -> Response:
        try:
            filters = _filters(request)
            rows = store.all()
            for field, op, raw in filters:
                rows = [r for r in rows if _match(r.get(field), op, raw)]
            rows = _sort(rows, request.query_params.get("sort", "id"))
            limit = _int_param(request, "limit", 100)
            offset = _int_param(request, "offset", 0)
            if offset < 0 or limit < -1:
                raise _BadRequest("limit/offset out of range")
        except _BadRequest as exc:
            return _error(str(exc), "INVALID_QUERY", 400)
        page = rows[offset:] if limit == -1 else rows[offset : offset + limit]
        body: dict[str, Any] = {"data": page}
        wanted = [m.strip() for m in request.query_params.get("meta", "").split(",") if m]
        if wanted:
            meta: dict[str, int] = {}
            if "total_count" in wanted or "*" in wanted:
                meta["total_count"] = len(store)
            if "filter_count" in wanted or "*" in wanted:
                meta["filter_count"] = len(rows)
            body["meta"] = meta
        return JSONResponse(body)

    async def create_item(request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("email"), str):
            return _error("body must be an object with an email", "INVALID_PAYLOAD", 400)
        new_id = max((int(i) for i in store.ids()), default=0) + 1
        record = {f: body.get(f) for f in FIELDS}
        record.update(id=new_id, status=body.get("status") or "published")
        return JSONResponse({"data": store.insert(record)})

    async def read_item(request: Request) -> Response:
        key = _key(request.path_params["key"])
        record = None if key is None else store.get(key)
        return _not_found() if record is None else JSONResponse({"data": record})

    async def update_item(request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            return _error("body must be a JSON object", "INVALID_PAYLOAD", 400)
        unknown = sorted(set(body) - set(FIELDS))
        if unknown:
            return _error(f"unknown fields {unknown}", "INVALID_PAYLOAD", 400)
        changes = {
            k: v
            for k, v in body.items()
            if k not in ("id", "version", "date_created", "date_updated")
        }
        key = _key(request.path_params["key"])
        if key is None or key not in store:
            return _not_found()
        return JSONResponse({"data": store.update(key, changes)})

    async def delete_item(request: Request) -> Response:
        key = _key(request.path_params["key"])
        record = None if key is None else store.get(key)
        if record is None:
            return _not_found()
        if record.get("status") != "archived":  # archiving twice is not a new change
            store.soft_delete(key, {"status": "archived"})
        return Response(status_code=204)

    base = f"/items/{COLLECTION}"
    routes = [
        Route(base, list_items, methods=["GET"]),
        Route(base, create_item, methods=["POST"]),
        Route(base + "/{key}", read_item, methods=["GET"]),
        Route(base + "/{key}", update_item, methods=["PATCH"]),
        Route(base + "/{key}", delete_item, methods=["DELETE"]),
    ]
    return build_app(routes, state, authorize)
