"""RecordStore: the in-memory state of one sample source system, plus what the apps share.

The store owns versions and timestamps (so a source can never forget to bump them), keeps
soft-deleted records (so pollers see deletions), answers ``changed_since`` in
``(updated, id)`` order, and pushes a webhook to every subscriber after each write.

Example::

    store = RecordStore("products", records, id_field="id", deleted_field="deleted_at",
                        payload_builder=lambda action, rec, changes: {"id": rec["id"]})
    store.subscribe("http://127.0.0.1:8000/webhooks/products_rest")
    store.update("prd_1001", {"price_cents": 1299})   # version + 1, updated_at = now
    store.changed_since("2026-01-01T00:00:00.000000Z", limit=100)
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dictamesh.core.webhook_signature import signature_headers

__all__ = [
    "Action",
    "Delivery",
    "PayloadBuilder",
    "RecordStore",
    "StoreClock",
    "WebhookTarget",
    "format_ts",
    "parse_ts",
    "read_body",
    "webhook_admin_routes",
]

log = logging.getLogger("dictamesh.sources")

Action = Literal["create", "update", "delete"]
WebhookTarget = str | Callable[[dict[str, Any]], Awaitable[None]]
"""A URL to POST the payload to, or an async callable (handy in tests)."""
PayloadBuilder = Callable[[Action, dict[str, Any], dict[str, Any]], dict[str, Any]]
"""``(action, record after the write, changed fields) -> webhook payload``."""


def format_ts(value: datetime) -> str:
    """ISO 8601 UTC with microseconds and a ``Z``: sorts as text, parses with fromisoformat."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: str) -> datetime:
    """An aware UTC datetime from an ISO 8601 string (naive means UTC); ValueError if not."""
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    parsed = datetime.fromisoformat(value.strip().replace(" ", "+"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class StoreClock:
    """Wall-clock time that never goes backwards and never repeats.

    Every write gets a distinct, later timestamp even if the system clock steps back or two
    writes fall in the same microsecond, so ``(updated, id)`` order is the write order.
    """

    def __init__(
        self, now: Callable[[], datetime] | None = None, *, floor: datetime | None = None
    ) -> None:
        self._now = now or (lambda: datetime.now(UTC))
        self._last = floor

    def advance_to(self, moment: datetime) -> None:
        """Never hand out a time at or before ``moment`` (e.g. the newest seeded record)."""
        if self._last is None or moment > self._last:
            self._last = moment

    def __call__(self) -> datetime:
        current = self._now()
        if self._last is not None and current <= self._last:
            current = self._last + timedelta(microseconds=1)
        self._last = current
        return current


@dataclass(slots=True)
class Delivery:
    """One webhook delivery (after its retries)."""

    target: str
    payload: dict[str, Any]
    ok: bool = False
    attempts: int = 0
    status: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "payload": self.payload,
            "ok": self.ok,
            "attempts": self.attempts,
            "status": self.status,
            "error": self.error,
        }


def _default_payload(
    action: Action, record: dict[str, Any], changes: dict[str, Any]
) -> dict[str, Any]:
    return {"action": action, "record": record, "changes": changes}


@dataclass
class _Row:
    record: dict[str, Any]
    stamp: datetime


class RecordStore:
    """Records of one collection by id, with versions, timestamps and webhooks."""

    def __init__(
        self,
        name: str,
        records: Iterable[Mapping[str, Any]] = (),
        *,
        id_field: str = "id",
        updated_field: str = "updated_at",
        created_field: str | None = "created_at",
        deleted_field: str | None = None,
        clock: StoreClock | None = None,
        webhooks: Iterable[WebhookTarget] = (),
        payload_builder: PayloadBuilder | None = None,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        webhook_attempts: int = 3,
        webhook_backoff: float = 0.05,
        webhook_timeout: float = 5.0,
    ) -> None:
        self.name = name
        self.id_field = id_field
        self.updated_field = updated_field
        self.created_field = created_field
        self.deleted_field = deleted_field
        self.clock = clock or StoreClock()
        self.payload_builder = payload_builder or _default_payload
        self.webhook_transport = webhook_transport
        self.webhook_attempts = max(1, webhook_attempts)
        self.webhook_backoff = webhook_backoff
        self.webhook_timeout = webhook_timeout
        self.webhooks: list[WebhookTarget] = list(webhooks)
        #: HMAC key per URL target: its deliveries are signed (core.webhook_signature)
        self.webhook_secrets: dict[str, bytes] = {}
        #: every finished delivery, oldest first (capped)
        self.deliveries: list[Delivery] = []
        self.max_deliveries_kept = 1_000
        self._rows: dict[Any, _Row] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        for record in records:
            row = dict(copy.deepcopy(record))
            row.setdefault("version", 1)
            stamp = parse_ts(row[updated_field])
            self._rows[row[id_field]] = _Row(row, stamp)
            self.clock.advance_to(stamp)

    # --- reads ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def ids(self) -> list[Any]:
        """Every id, soft-deleted ones included, in insertion order."""
        return list(self._rows)

    def get(self, key: Any) -> dict[str, Any] | None:
        row = self._rows.get(key)
        return None if row is None else copy.deepcopy(row.record)

    def all(self) -> list[dict[str, Any]]:
        """Copies of every record (callers may mutate them freely)."""
        return [copy.deepcopy(row.record) for row in self._rows.values()]

    def is_deleted(self, record: Mapping[str, Any]) -> bool:
        return self.deleted_field is not None and record.get(self.deleted_field) is not None

    def live(self, key: Any) -> dict[str, Any] | None:
        """The record, unless it is missing or soft-deleted."""
        record = self.get(key)
        return None if record is None or self.is_deleted(record) else record

    def listing(self, updated_since: str | None, *, include_deleted: bool) -> list[dict[str, Any]]:
        """A list endpoint's rows before its own filters: with ``updated_since`` the
        :meth:`changed_since` ones (ValueError for an unparsable one), else every record by
        id, soft-deleted ones only if ``include_deleted``."""
        if updated_since is not None:
            return self.changed_since(updated_since)
        rows = self.all()
        if not include_deleted:
            rows = [r for r in rows if not self.is_deleted(r)]
        rows.sort(key=lambda r: r[self.id_field])
        return rows

    def changed_since(
        self, watermark: str | None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Records written at or after ``watermark`` (inclusive), ordered by (updated, id),
        soft-deleted ones included; ValueError for an unparsable watermark."""
        since = parse_ts(watermark) if watermark else None
        rows = [r for r in self._rows.values() if since is None or r.stamp >= since]
        rows.sort(key=lambda r: (r.stamp, r.record[self.id_field]))
        if limit is not None:
            rows = rows[: max(0, limit)]
        return [copy.deepcopy(r.record) for r in rows]

    def stamp_of(self, record: Mapping[str, Any]) -> datetime:
        return parse_ts(str(record[self.updated_field]))

    # --- writes -----------------------------------------------------------------------

    def insert(self, record: Mapping[str, Any], *, stamp: Iterable[str] = ()) -> dict[str, Any]:
        """Add a new record (its id must be free): version 1, created/updated = now, and
        each field named in ``stamp`` (e.g. ``issued_at``) = the same now."""
        row = copy.deepcopy(dict(record))
        key = row[self.id_field]
        if key in self._rows:
            raise KeyError(f"{self.name}: id {key!r} already exists")
        now = self.clock()
        row["version"] = 1
        for name in (*stamp, self.created_field, self.updated_field):
            if name is not None:
                row[name] = format_ts(now)
        self._rows[key] = _Row(row, now)
        self._notify("create", row, {k: v for k, v in row.items() if k != self.id_field})
        return copy.deepcopy(row)

    def update(self, key: Any, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into the record (KeyError if unknown); version + 1, updated = now."""
        return self._write("update", key, dict(changes))

    def soft_delete(self, key: Any, changes: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Mark deleted but keep the record (``deleted_field`` = now, plus ``changes``)."""
        merged = dict(changes or {})
        if self.deleted_field is not None:
            merged[self.deleted_field] = None  # filled with the write's own timestamp
        return self._write("delete", key, merged)

    def _write(self, action: Action, key: Any, changes: dict[str, Any]) -> dict[str, Any]:
        row = self._rows.get(key)
        if row is None:
            raise KeyError(f"{self.name}: no record {key!r}")
        now = self.clock()
        stamp = format_ts(now)
        if action == "delete" and self.deleted_field is not None:
            changes[self.deleted_field] = stamp
        record = row.record
        record.update(copy.deepcopy(changes))
        record["version"] = int(record.get("version", 0)) + 1
        record[self.updated_field] = stamp
        row.stamp = now
        self._notify(action, record, changes)
        return copy.deepcopy(record)

    # --- webhooks ---------------------------------------------------------------------

    def subscribe(self, target: WebhookTarget, *, secret: str | None = None) -> None:
        """Deliver to ``target``; with ``secret`` each delivery is signed with it."""
        if target not in self.webhooks:
            self.webhooks.append(target)
        if isinstance(target, str):
            if secret:
                self.webhook_secrets[target] = secret.encode()
            else:
                self.webhook_secrets.pop(target, None)

    def unsubscribe(self, target: WebhookTarget | None = None) -> None:
        """Remove one subscriber, or all of them."""
        if target is None:
            self.webhooks.clear()
            self.webhook_secrets.clear()
        elif target in self.webhooks:
            self.webhooks.remove(target)
            if isinstance(target, str):
                self.webhook_secrets.pop(target, None)

    @property
    def pending_deliveries(self) -> int:
        return len(self._tasks)

    def _notify(self, action: Action, record: dict[str, Any], changes: dict[str, Any]) -> None:
        if not self.webhooks:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.warning("%s: write outside an event loop; webhooks not sent", self.name)
            return
        payload = self.payload_builder(action, copy.deepcopy(record), copy.deepcopy(changes))
        for target in list(self.webhooks):
            task = loop.create_task(self._deliver(target, payload))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, target: WebhookTarget, payload: dict[str, Any]) -> None:
        delivery = Delivery(
            target=target if isinstance(target, str) else getattr(target, "__name__", "callable"),
            payload=payload,
        )
        for attempt in range(1, self.webhook_attempts + 1):
            delivery.attempts = attempt
            try:
                if isinstance(target, str):
                    async with httpx.AsyncClient(
                        transport=self.webhook_transport, timeout=self.webhook_timeout
                    ) as client:
                        body = json.dumps(payload).encode()
                        headers = {"Content-Type": "application/json"}
                        secret = self.webhook_secrets.get(target)
                        if secret is not None:  # signed at each attempt: a fresh timestamp
                            headers.update(signature_headers(secret, body))
                        response = await client.post(target, content=body, headers=headers)
                    delivery.status = response.status_code
                    delivery.ok = response.is_success
                    delivery.error = None if delivery.ok else f"HTTP {response.status_code}"
                else:
                    await target(payload)
                    delivery.ok, delivery.error = True, None
            except asyncio.CancelledError:
                delivery.error = "cancelled"
                self._record(delivery)
                raise
            except Exception as exc:  # a subscriber's failure must never break the source
                delivery.ok, delivery.error = False, f"{type(exc).__name__}: {exc}"
            if delivery.ok:
                break
            if attempt < self.webhook_attempts:
                await asyncio.sleep(self.webhook_backoff * 2 ** (attempt - 1))
        if not delivery.ok:
            log.warning(
                "%s: webhook to %s failed after %d attempts: %s",
                self.name,
                delivery.target,
                delivery.attempts,
                delivery.error,
            )
        self._record(delivery)

    def _record(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        del self.deliveries[: -self.max_deliveries_kept]

    async def wait_deliveries(self, timeout: float = 5.0) -> None:
        """Wait until every webhook started so far is delivered (or given up)."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel webhook deliveries still in flight."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)


# --- shared app plumbing ---------------------------------------------------------------


class BodyError(ValueError):
    """The request body is not the JSON the endpoint expects."""


async def read_body(request: Request, *, kind: type = dict) -> Any:
    """The JSON body of ``request``; BodyError if it is missing, not JSON or not ``kind``."""
    raw = await request.body()
    if not raw:
        raise BodyError("request body must be JSON")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BodyError("request body is not valid JSON") from None
    if not isinstance(body, kind):
        raise BodyError(f"request body must be a JSON {'object' if kind is dict else 'array'}")
    return body


def webhook_admin_routes(store: RecordStore) -> list[Route]:
    """``/_admin/webhooks``: POST ``{"url": ...}`` subscribes, GET lists subscribers and
    recent deliveries, DELETE (optionally ``{"url": ...}``) unsubscribes."""

    async def subscribe(request: Request) -> Response:
        try:
            body = await read_body(request)
        except BodyError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return JSONResponse({"error": "'url' must be an http(s) URL"}, status_code=400)
        secret = body.get("secret")
        if secret is not None and (not isinstance(secret, str) or not secret):
            return JSONResponse({"error": "'secret' must be a non-empty string"}, status_code=400)
        store.subscribe(url, secret=secret)
        return JSONResponse({"url": url, "webhooks": _targets(store)}, status_code=201)

    async def listing(request: Request) -> Response:
        return JSONResponse(
            {
                "webhooks": _targets(store),
                "pending": store.pending_deliveries,
                "deliveries": [d.to_dict() for d in store.deliveries[-50:]],
            }
        )

    async def unsubscribe(request: Request) -> Response:
        url: str | None = None
        if await request.body():
            try:
                url = (await read_body(request)).get("url")
            except BodyError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        store.unsubscribe(url)
        return JSONResponse({"webhooks": _targets(store)})

    return [
        Route("/_admin/webhooks", subscribe, methods=["POST"]),
        Route("/_admin/webhooks", listing, methods=["GET"]),
        Route("/_admin/webhooks", unsubscribe, methods=["DELETE"]),
    ]


def _targets(store: RecordStore) -> list[str]:
    return [t if isinstance(t, str) else repr(t) for t in store.webhooks]
