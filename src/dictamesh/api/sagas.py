"""REST routes of the node's sagas (``docs/api.md``, "Sagas").

* ``POST /api/v1/sagas/{saga}`` starts a saga (``create-invoice`` is the definition
  ``create_invoice``); the JSON body is its input. ``202 Accepted`` with
  ``{"saga_id", "saga", "status", "links": {"self"}}`` and a ``Location`` header: the saga
  runs in the background. ``Idempotency-Key`` makes the call safe to repeat: the same key
  with the same body answers ``200`` with that saga (started once), with another body
  ``422 IDEMPOTENCY_KEY_REUSED``. ``Prefer: wait=<seconds>`` (at most 30) waits until the
  saga ends and answers ``200`` with its final state (still ``202`` if it did not end in
  time). Bad input is ``400`` and a caller who may not make every write of the saga gets
  ``403``: in both cases nothing was stored and no source called.
* ``GET /api/v1/sagas/{id}``: the saga and its step log; ``GET /api/v1/sagas``: the newest
  sagas of the caller's tenant (``status``, ``saga``, ``limit``, ``before`` filters).
* ``POST /api/v1/admin/sagas/{id}/retry`` and ``/abort`` (the ``admin`` role by the
  default access rules): compensate a failed saga again, or give up on it; ``409`` unless
  the saga is ``failed``.

Every route acts for the request's tenant (``current_tenant``, set by the auth middleware).

Example::

    router = saga_router(ctx)         # create_app includes it when ctx.sagas is set
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from dictamesh.core.context import current_principal, current_tenant
from dictamesh.core.errors import NotFoundError
from dictamesh.core.inputs import check_text, parse_json
from dictamesh.saga.engine import SagaEngine
from dictamesh.saga.inputs import MAX_LIST_LIMIT, check_saga_id, parse_status, route_name, saga_name
from dictamesh.saga.store import ACTIVE_STATUSES, SagaRecord

if TYPE_CHECKING:
    from dictamesh.api.context import ApiContext

__all__ = ["MAX_WAIT_SECONDS", "SAGAS_PATH", "parse_prefer_wait", "saga_router"]

SAGAS_PATH = "/api/v1/sagas"
#: the longest ``Prefer: wait=`` honoured
MAX_WAIT_SECONDS = 30.0


def parse_prefer_wait(header: str | None) -> float | None:
    """Seconds asked for by ``Prefer: wait=<seconds>`` (RFC 7240), at most
    :data:`MAX_WAIT_SECONDS`; ``None`` when absent or not a number (preferences a server
    does not understand are ignored)."""
    if not header:
        return None
    for preference in header.split(","):
        name, _, value = preference.split(";", 1)[0].partition("=")
        if name.strip().lower() != "wait":
            continue
        try:
            seconds = float(value.strip().strip('"'))
        except ValueError:
            return None
        if not math.isfinite(seconds) or seconds < 0:
            return None
        return min(seconds, MAX_WAIT_SECONDS)
    return None


def _link(saga_id: str) -> str:
    return f"{SAGAS_PATH}/{saga_id}"


def _accepted(record: SagaRecord) -> dict[str, Any]:
    return {
        "saga_id": record.id,
        "saga": record.saga_type,
        "status": record.status.value,
        "links": {"self": _link(record.id)},
    }


async def _detail(engine: SagaEngine, record: SagaRecord) -> dict[str, Any]:
    steps = await engine.steps(record.id, record.tenant_id)
    return {
        **record.to_dict(),
        "saga_id": record.id,
        "links": {"self": _link(record.id)},
        "steps": [s.to_dict() for s in steps],
    }


def _starter(
    start: Callable[[str, Request], Awaitable[JSONResponse]], name: str
) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def start_saga(request: Request) -> JSONResponse:
        return await start(name, request)

    start_saga.__name__ = f"start_{name}"
    return start_saga


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def saga_router(ctx: ApiContext) -> APIRouter:
    """The saga routes over ``ctx.sagas`` (which must be set)."""
    engine = ctx.sagas
    if engine is None:
        raise ValueError("saga_router needs ctx.sagas")
    router = APIRouter()

    async def start(name: str, request: Request) -> JSONResponse:
        payload = parse_json(await request.body(), "the saga input")  # 400: not JSON
        key = request.headers.get("idempotency-key")
        if key is not None:
            check_text(key, "the Idempotency-Key header")
        wait = parse_prefer_wait(request.headers.get("prefer"))
        record, created = await engine.start(
            name,
            payload,
            principal=current_principal.get(),
            tenant=current_tenant.get(),
            idempotency_key=key,
        )
        headers = {"Location": _link(record.id)}
        if wait is not None:
            headers["Preference-Applied"] = f"wait={wait:g}"
            if record.status in ACTIVE_STATUSES and wait > 0:
                record = await engine.wait(record.id, record.tenant_id, timeout=wait, known=record)
        if created and record.status in ACTIVE_STATUSES:
            return JSONResponse(_accepted(record), status_code=202, headers=headers)
        # a repeated request (same key and body: that saga), or a saga that ended
        return JSONResponse(await _detail(engine, record), status_code=200, headers=headers)

    # One route per saga, so the OpenAPI document shows each one's input model ...
    for name, definition in sorted(engine.definitions.items()):
        router.add_api_route(
            f"{SAGAS_PATH}/{route_name(name)}",
            _starter(start, name),
            methods=["POST"],
            status_code=202,
            tags=["sagas"],
            summary=f"Start a {name} saga",
            description=definition.description or f"Start a {name} saga (see docs/api.md).",
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": definition.input_model.model_json_schema()}
                    },
                },
                "parameters": [
                    {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}},
                    {
                        "name": "Prefer",
                        "in": "header",
                        "schema": {"type": "string"},
                        "description": "wait=<seconds> (at most 30): answer when the saga ended",
                    },
                ],
            },
        )

    # ... and this one answers every other name: 404 with the known ones.
    @router.post(SAGAS_PATH + "/{saga}", tags=["sagas"], include_in_schema=False)
    async def unknown_saga(saga: str) -> Any:
        known = sorted(route_name(n) for n in engine.definitions)
        raise NotFoundError(f"no saga {saga[:64]!r}", known_sagas=known)

    @router.get(SAGAS_PATH + "/{saga_id}", tags=["sagas"])
    async def get_saga(saga_id: str) -> Any:
        """A saga with its step log (every try of every action and compensation)."""
        record = await engine.get(check_saga_id(saga_id), current_tenant.get())
        return await _detail(engine, record)

    @router.get(SAGAS_PATH, tags=["sagas"])
    async def list_sagas(
        status: Annotated[str | None, Query(max_length=32, description="e.g. failed")] = None,
        saga: Annotated[
            str | None, Query(max_length=64, description="saga name, e.g. create-invoice")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 50,
        before: Annotated[
            datetime | None, Query(description="only sagas created before (ISO 8601)")
        ] = None,
    ) -> Any:
        """The newest sagas of the caller's tenant; page with ``before`` = the last
        ``created_at`` (``next_before``)."""
        records = await engine.store.list_sagas(
            engine.store.database.tenant(current_tenant.get()),
            status=parse_status(status) if status is not None else None,
            saga_type=saga_name(saga) if saga is not None else None,
            limit=limit,
            before=_utc(before) if before is not None else None,
        )
        body: dict[str, Any] = {"sagas": [r.to_dict() for r in records]}
        body["next_before"] = records[-1].created_at.isoformat() if len(records) == limit else None
        return body

    @router.post("/api/v1/admin/sagas/{saga_id}/retry", tags=["sagas", "admin"])
    async def retry_saga(saga_id: str) -> Any:
        """Compensate a failed saga again (after its cause was fixed); 409 unless failed."""
        record = await engine.retry(check_saga_id(saga_id), current_tenant.get())
        return record.to_dict()

    @router.post("/api/v1/admin/sagas/{saga_id}/abort", tags=["sagas", "admin"])
    async def abort_saga(saga_id: str) -> Any:
        """Give up on a failed saga (settled by hand); 409 unless failed."""
        record = await engine.abort(check_saga_id(saga_id), current_tenant.get())
        return record.to_dict()

    return router
