"""FakeAdapter: a real :class:`AdapterBase` over an in-memory source, for tests.

Everything the base does (cache, single-flight, resilience, change detection, metrics)
runs for real; only the source is a dict. Every hook call is counted, and failures can be
injected per hook: raise an error N times, hang (until the policy's timeout), or answer
with garbage.

Example::

    adapter = FakeAdapter(records=[{"id": "w-1", "name": "Widget", "color": "red"}])
    adapter.fail(times=2)                        # next 2 source calls: SourceUnavailable
    widget = await adapter.get_entity("w-1")     # retried, then served
    adapter.calls["fetch_one"]                   # 3
    adapter.put("w-1", color="blue")             # a change: version 2, new updated_at
    adapter.delete("w-1")                        # soft delete: DELETED on the next poll
    restarted = FakeAdapter(store=adapter.store, state=adapter.state)   # same source & state

Raw rows look like ``{"id", "version", "updated_at", "deleted", "attributes"}``; ``config``
defaults to :func:`fake_config` (10 ms polling, 0.5 s timeout, no backoff).
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Literal

import httpx

from dictamesh.adapters.base import AdapterBase, RawPage
from dictamesh.adapters.contract import AdapterCapability
from dictamesh.core.errors import SourceUnavailable, ValidationError
from dictamesh.core.models import (
    SLA,
    Entity,
    EntitySchema,
    FieldFilter,
    FieldSpec,
    FieldType,
    FilterOp,
    Query,
    SourceRef,
)
from dictamesh.core.settings import AdapterConfig, ResilienceSettings

__all__ = ["HOOKS", "WIDGET_SCHEMA", "FakeAdapter", "FakeStore", "fake_config"]

HOOKS = frozenset({"fetch_one", "fetch_many", "fetch_page", "fetch_changed_since"})
"""The source-calling hooks faults can target."""

WIDGET_SCHEMA = EntitySchema(
    entity_type="widget",
    domain="testing",
    description="A widget of the fake source.",
    fields=[
        FieldSpec(name="name", type=FieldType.STRING, required=True),
        FieldSpec(name="color", type=FieldType.STRING),
        FieldSpec(name="size", type=FieldType.INTEGER),
        FieldSpec(name="tags", type=FieldType.STRING, many=True),
    ],
)

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_GARBAGE: dict[str, Any] = {"unexpected": "shape"}


def fake_config(name: str = "fake_widgets", **overrides: Any) -> AdapterConfig:
    """An AdapterConfig for a FakeAdapter: fast polling, short timeouts, tiny backoff."""
    resilience = overrides.pop("resilience", None)
    if isinstance(resilience, Mapping):
        resilience = ResilienceSettings(**resilience)
    values: dict[str, Any] = {
        "name": name,
        "kind": "fake",
        "base_url": "http://fake.invalid",
        "poll_interval_seconds": 0.01,
        "resilience": resilience
        or ResilienceSettings(
            timeout_seconds=0.5, backoff_initial_seconds=0.0, backoff_max_seconds=0.0
        ),
    }
    values.update(overrides)
    return AdapterConfig(**values)


class FakeStore:
    """The fake source's rows; share one between adapters to simulate a restart."""

    def __init__(self) -> None:
        #: raw rows by id: ``{id, version, updated_at, deleted, attributes}``
        self.rows: dict[str, dict[str, Any]] = {}
        self._tick = 0

    def next_stamp(self) -> str:
        """A strictly later ``updated_at`` (one logical second per change)."""
        self._tick += 1
        return (_EPOCH + timedelta(seconds=self._tick)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def put(
        self, entity_id: str, *, updated_at: str | None = None, **attributes: Any
    ) -> dict[str, Any]:
        """Create or update a row (merging attributes); bumps version and ``updated_at``."""
        row = self.rows.get(entity_id)
        if row is None or row["deleted"]:
            merged = dict(attributes)
            version = 1 if row is None else row["version"] + 1
        else:
            merged = {**row["attributes"], **attributes}
            version = row["version"] + 1
        self.rows[entity_id] = {
            "id": entity_id,
            "version": version,
            "updated_at": updated_at or self.next_stamp(),
            "deleted": False,
            "attributes": merged,
        }
        return copy.deepcopy(self.rows[entity_id])

    def delete(self, entity_id: str, *, hard: bool = False, updated_at: str | None = None) -> None:
        """Soft delete (a new version flagged ``deleted``), or ``hard``: the row vanishes."""
        if hard:
            self.rows.pop(entity_id, None)
            return
        row = self.rows[entity_id]
        row.update(
            version=row["version"] + 1,
            updated_at=updated_at or self.next_stamp(),
            deleted=True,
        )


@dataclass
class _Fault:
    kind: Literal["fail", "hang", "garbage"]
    remaining: int
    hooks: frozenset[str]
    error: BaseException | Callable[[], BaseException] | None = None


class FakeAdapter(AdapterBase):
    entity_type = "widget"
    source = SourceRef(domain="testing", system="fake")
    source_collection = "widgets"
    schema = WIDGET_SCHEMA
    sla = SLA(freshness_seconds=60, availability_target=0.99, latency_p95_ms=250)
    capabilities = frozenset({AdapterCapability.FILTER, AdapterCapability.SORT})

    def __init__(
        self,
        config: AdapterConfig | None = None,
        *,
        records: Iterable[Mapping[str, Any]] = (),
        store: FakeStore | None = None,
        **deps: Any,
    ) -> None:
        """``records``: initial rows, each ``{"id": ..., <attribute>: ...}``; ``store``: the
        rows of another FakeAdapter (a restarted adapter over the same source)."""
        super().__init__(config or fake_config(), **deps)
        self.store = store if store is not None else FakeStore()
        #: hook name → number of calls (including failed ones)
        self.calls: Counter[str] = Counter()
        #: seconds every source hook sleeps before answering
        self.delay = 0.0
        self._faults: list[_Fault] = []
        for record in records:
            values = dict(record)
            self.put(str(values.pop("id")), **values)

    # --- changing the source ------------------------------------------------------------

    @property
    def rows(self) -> dict[str, dict[str, Any]]:
        return self.store.rows

    def put(
        self, entity_id: str, *, updated_at: str | None = None, **attributes: Any
    ) -> dict[str, Any]:
        """Create or update a row (see :meth:`FakeStore.put`)."""
        return self.store.put(entity_id, updated_at=updated_at, **attributes)

    def delete(self, entity_id: str, *, hard: bool = False, updated_at: str | None = None) -> None:
        """Soft-delete a row, or remove it (``hard``)."""
        self.store.delete(entity_id, hard=hard, updated_at=updated_at)

    # --- fault injection ----------------------------------------------------------------

    def fail(
        self,
        times: int = 1,
        error: BaseException | Callable[[], BaseException] | None = None,
        *,
        hooks: Iterable[str] | None = None,
    ) -> None:
        """The next ``times`` calls of ``hooks`` (default: all) raise ``error``
        (default: a fresh ``SourceUnavailable``)."""
        self._faults.append(_Fault("fail", times, self._hooks(hooks), error))

    def hang(self, times: int = 1, *, hooks: Iterable[str] | None = None) -> None:
        """The next ``times`` calls never answer (the policy's timeout ends them)."""
        self._faults.append(_Fault("hang", times, self._hooks(hooks)))

    def garbage(self, times: int = 1, *, hooks: Iterable[str] | None = None) -> None:
        """The next ``times`` calls answer with records of an unexpected shape
        (``fetch_changed_since``: one such record first in an otherwise good page)."""
        self._faults.append(_Fault("garbage", times, self._hooks(hooks)))

    def heal(self) -> None:
        """Drop every pending fault."""
        self._faults.clear()

    @staticmethod
    def _hooks(hooks: Iterable[str] | None) -> frozenset[str]:
        chosen = HOOKS if hooks is None else frozenset(hooks)
        unknown = chosen - HOOKS
        if unknown:
            raise ValueError(f"unknown hooks {sorted(unknown)}; choose from {sorted(HOOKS)}")
        return chosen

    async def _enter(self, hook: str) -> bool:
        """Count the call, apply a pending fault; True means "answer with garbage"."""
        self.calls[hook] += 1
        fault = next((f for f in self._faults if f.remaining > 0 and hook in f.hooks), None)
        if self.delay:
            await asyncio.sleep(self.delay)
        if fault is None:
            return False
        fault.remaining -= 1
        if fault.remaining == 0:
            self._faults.remove(fault)
        if fault.kind == "fail":
            error = fault.error
            if error is None:
                raise SourceUnavailable(f"{self.name}: injected failure", adapter=self.name)
            raise error if isinstance(error, BaseException) else error()
        if fault.kind == "hang":
            await asyncio.Event().wait()
        return True

    # --- hooks --------------------------------------------------------------------------

    async def fetch_one(self, client: httpx.AsyncClient, entity_id: str) -> dict[str, Any] | None:
        if await self._enter("fetch_one"):
            return dict(_GARBAGE)
        row = self.rows.get(entity_id)
        return None if row is None else copy.deepcopy(row)

    async def fetch_many(
        self, client: httpx.AsyncClient, entity_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        if await self._enter("fetch_many"):
            return [dict(_GARBAGE)]
        return [copy.deepcopy(self.rows[i]) for i in entity_ids if i in self.rows]

    async def fetch_page(self, client: httpx.AsyncClient, query: Query) -> RawPage:
        if await self._enter("fetch_page"):
            return RawPage(items=[dict(_GARBAGE)])
        rows = [r for r in self.rows.values() if not r["deleted"]]
        if query.ids is not None:
            wanted = set(query.ids)
            rows = [r for r in rows if r["id"] in wanted]
        for flt in query.filters:
            rows = [r for r in rows if _matches(r, flt)]
        rows.sort(key=lambda r: r["id"])
        for spec in reversed(query.sort):
            self._check_field(spec.field)
            rows.sort(key=partial(_row_sort_key, spec.field), reverse=spec.descending)
        try:
            offset = int(query.cursor or 0)
        except ValueError:
            raise ValidationError(f"invalid cursor {query.cursor!r}") from None
        if offset < 0:
            raise ValidationError(f"invalid cursor {query.cursor!r}")
        window = rows[offset : offset + query.limit]
        end = offset + len(window)
        return RawPage(
            items=copy.deepcopy(window),
            next_cursor=str(end) if end < len(rows) else None,
            total=len(rows),
        )

    async def fetch_changed_since(
        self, client: httpx.AsyncClient, watermark: str | None, limit: int
    ) -> list[dict[str, Any]]:
        bad = await self._enter("fetch_changed_since")
        rows = sorted(self.rows.values(), key=lambda r: (r["updated_at"], r["id"]))
        if watermark is not None:
            rows = [r for r in rows if r["updated_at"] >= watermark]
        page = copy.deepcopy(rows[:limit])
        if bad:  # one unreadable record in an otherwise good, correctly ordered page
            stamp = page[0]["updated_at"] if page else (watermark or self.store.next_stamp())
            page = [{**_GARBAGE, "updated_at": stamp}, *page][:limit]
        return page

    def transform(self, raw: dict[str, Any]) -> Entity:
        return Entity(
            type=self.entity_type,
            id=raw["id"],
            version=int(raw["version"]),
            attributes=dict(raw["attributes"]),
            source=self.source,
            updated_at=datetime.fromisoformat(raw["updated_at"]),
        )

    def is_deleted(self, raw: dict[str, Any]) -> bool:
        return bool(raw.get("deleted", False))

    def parse_webhook(self, payload: Any) -> list[str]:
        """``{"ids": [...]}`` or ``{"id": "..."}``."""
        if isinstance(payload, Mapping):
            if isinstance(payload.get("ids"), list):
                return [str(i) for i in payload["ids"]]
            if "id" in payload:
                return [str(payload["id"])]
        raise ValueError('expected {"ids": [...]} or {"id": ...}')

    def _check_field(self, name: str) -> None:
        if name != "id" and self.schema.field(name) is None:
            raise ValidationError(f"widgets cannot be filtered or sorted by {name!r}", field=name)


def _value(row: Mapping[str, Any], name: str) -> Any:
    return row["id"] if name == "id" else row["attributes"].get(name)


def _row_sort_key(name: str, row: Mapping[str, Any]) -> tuple[bool, Any]:
    value = _value(row, name)
    return (value is None, value if value is not None else 0)


def _matches(row: Mapping[str, Any], flt: FieldFilter) -> bool:
    if flt.field != "id" and WIDGET_SCHEMA.field(flt.field) is None:
        raise ValidationError(f"widgets cannot be filtered by {flt.field!r}", field=flt.field)
    value = _value(row, flt.field)
    target = flt.value
    try:
        if flt.op is FilterOp.EQ:
            return bool(value == target)
        if flt.op is FilterOp.IN:
            return isinstance(target, list) and value in target
        if flt.op is FilterOp.CONTAINS:
            if isinstance(value, list):
                return target in value
            return isinstance(value, str) and str(target) in value
        if value is None:
            return False
        if flt.op is FilterOp.GT:
            return bool(value > target)
        if flt.op is FilterOp.GTE:
            return bool(value >= target)
        if flt.op is FilterOp.LT:
            return bool(value < target)
        if flt.op is FilterOp.LTE:
            return bool(value <= target)
    except TypeError:
        return False
    return False
