"""A writable widget source over ``httpx.MockTransport`` that honours ``Idempotency-Key`` like
the sample sources (stored answers replayed, 4xx stored, 5xx not), and its adapter."""

from __future__ import annotations

import copy
import json
from typing import Any, ClassVar

import httpx
from tests.unit.adapters.http_widgets import ROWS, HttpWidgets, MockSource

from dictamesh.adapters.base import RawWrite
from dictamesh.adapters.http import IDEMPOTENCY_HEADER, REPLAYED_HEADER, read_write


class WriteSource(MockSource):
    """``POST /widgets``, ``PATCH|DELETE /widgets/{id}``, ``POST /widgets/{id}/paint``.

    A name ``taken`` is refused with 409 ``name_taken``; painting ``none`` with 402
    ``card_declined``. ``effects`` lists the applied writes.
    """

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, Any]] = copy.deepcopy(ROWS)
        self.effects: list[tuple[str, str]] = []
        self.stored: dict[str, tuple[str, int, Any]] = {}
        self.ids = 0

    def _serve(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return self._read(request)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        fingerprint = f"{request.method} {request.url.path} {request.content.decode()}"
        if key is not None and key in self.stored:
            seen, status, body = self.stored[key]
            if seen != fingerprint:
                return _error(422, "idempotency_key_reused")
            return httpx.Response(status, json=body, headers={REPLAYED_HEADER: "true"})
        status, body = self._apply(request, key or "")
        if key is not None and status < 500:
            self.stored[key] = (fingerprint, status, body)
        return httpx.Response(status, json=body)

    def _read(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/widgets":
            return httpx.Response(200, json={"data": list(self.rows.values())})
        row = self.rows.get(path.removeprefix("/widgets/"))
        return httpx.Response(200, json=row) if row else httpx.Response(404)

    def _apply(self, request: httpx.Request, key: str) -> tuple[int, Any]:
        parts = request.url.path.strip("/").split("/")
        body = json.loads(request.content) if request.content else {}
        if request.method == "POST" and parts == ["widgets"]:
            if body.get("name") == "taken":
                return 409, {"error": {"code": "name_taken"}}
            self.ids += 1
            row = {"id": f"w-new-{self.ids}", "name": body["name"], "updated_at": "2026-02-01"}
            self.rows[row["id"]] = row
            self.effects.append(("create", key))
            return 201, row
        row = self.rows.get(parts[1]) if len(parts) > 1 else None
        if row is None:
            return 404, {"error": {"code": "not_found"}}
        if request.method == "PATCH":
            row.update(body)
            self.effects.append(("update", key))
            return 200, row
        if request.method == "DELETE":
            del self.rows[parts[1]]
            self.effects.append(("delete", key))
            return 200, {"deleted": True, "id": parts[1]}
        if body.get("color") == "none":
            return 402, {"error": {"type": "card_error", "code": "card_declined"}}
        self.ids += 1
        self.effects.append(("paint", key))
        return 201, {"id": f"job-{self.ids}", "widget_id": parts[1], "color": body["color"]}


def _error(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code}})


class WritableWidgets(HttpWidgets):
    commands = frozenset({"paint"})

    async def write_create(
        self, client: httpx.AsyncClient, attributes: dict[str, Any], idempotency_key: str
    ) -> RawWrite:
        response = await client.post(
            "/widgets", json=attributes, headers={IDEMPOTENCY_HEADER: idempotency_key}
        )
        body, replayed = read_write(response, self.name)
        return RawWrite(data=body, record=body, replayed=replayed)

    async def write_update(
        self,
        client: httpx.AsyncClient,
        entity_id: str,
        changes: dict[str, Any],
        idempotency_key: str,
    ) -> RawWrite:
        response = await client.patch(
            f"/widgets/{entity_id}", json=changes, headers={IDEMPOTENCY_HEADER: idempotency_key}
        )
        body, replayed = read_write(response, self.name)
        return RawWrite(data=body, record=body, replayed=replayed)

    async def write_delete(
        self, client: httpx.AsyncClient, entity_id: str, idempotency_key: str
    ) -> RawWrite:
        response = await client.delete(
            f"/widgets/{entity_id}", headers={IDEMPOTENCY_HEADER: idempotency_key}
        )
        body, replayed = read_write(response, self.name)
        return RawWrite(data=body, replayed=replayed)

    async def write_command(
        self,
        client: httpx.AsyncClient,
        command: str,
        payload: dict[str, Any],
        idempotency_key: str,
    ) -> RawWrite:
        response = await client.post(
            f"/widgets/{payload['widget_id']}/paint",
            json={"color": payload["color"]},
            headers={IDEMPOTENCY_HEADER: idempotency_key},
        )
        body, replayed = read_write(response, self.name)
        return RawWrite(data=body, replayed=replayed, changed=(payload["widget_id"],))


class UnkeyedWidgets(WritableWidgets):
    """A source that ignores idempotency keys: writes must not be retried."""

    idempotent_writes: ClassVar[bool] = False


class UpdateOnlyWidgets(HttpWidgets):
    async def write_update(
        self,
        client: httpx.AsyncClient,
        entity_id: str,
        changes: dict[str, Any],
        idempotency_key: str,
    ) -> RawWrite:
        raise NotImplementedError


class CommandsWithoutNames(HttpWidgets):
    async def write_command(
        self,
        client: httpx.AsyncClient,
        command: str,
        payload: dict[str, Any],
        idempotency_key: str,
    ) -> RawWrite:
        raise NotImplementedError
