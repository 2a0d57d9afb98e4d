"""TieredCache: L1 → L2 → … → loader, with single-flight and stale-while-error.

* **Read-through.** :meth:`TieredCache.get_or_load` asks each layer in order; the first
  *fresh* entry answers and is back-filled into the layers above it. If none is fresh, the
  loader runs and its value is written to every layer.
* **Single-flight.** Concurrent misses on one key share one loader call, also across
  :meth:`get_or_load` and :meth:`get_many_or_load`. The load runs in its own task, so a
  cancelled caller does not cancel it for the others.
* **Stale-while-error.** Layers keep an expired entry as a stale copy for a while (their
  ``stale_ttl``). If the loader raises a :class:`~dictamesh.core.errors.SourceError` and a
  stale copy exists, it is returned as ``CacheResult(stale=True, age_seconds=...)``;
  otherwise the error propagates. Other errors (not found, validation) always propagate.
* **Invalidation.** :meth:`invalidate` deletes a key from every layer and detaches any
  in-flight load of it, so a value read before the change is not written back after it.
  Unlike reads, it does not shrug off a failing layer: after trying every layer it raises
  (:class:`~dictamesh.core.errors.CacheUnavailable` for an unreachable one), because the
  copy left behind could be served once the layer is back.
* **Listener.** A :class:`~dictamesh.cache.base.CacheListener` (``listener=``) is told of
  every copy stored in a layer, every fresh hit and every invalidation; the node records
  them as cache status. It must not block; what it raises is logged and ignored.
* A failing layer (say Redis is down) reads as a miss; the cache keeps serving from the
  other layers and the source. Each failed call counts in ``stats()[layer].errors``; the
  first one of an outage logs a warning and counts in ``.outages`` (later ones only log at
  debug level), and the layer's next successful call ends the outage (logged at info).

A ``TieredCache([])`` has no layers but still gives single-flight. With no layer to write
back to, the first caller runs the load in its own task (no task is created per miss); the
callers that joined it start a load of their own if that first caller is cancelled.

Example::

    cache = TieredCache([MemoryCache(10_000, ttl=60)])
    result = await cache.get_or_load(entity_key(None, "customer", "c-1"), load_customer)
    result.value, result.stale, result.age_seconds, result.layer  # layer: 'memory'|'source'
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dictamesh.cache.base import CacheBackend, CacheEntry, CacheListener, JsonDict
from dictamesh.core.errors import CacheUnavailable, SourceError

__all__ = ["SOURCE_LAYER", "CacheResult", "LayerStats", "TieredCache"]

log = logging.getLogger("dictamesh.cache")

SOURCE_LAYER = "source"
"""``CacheResult.layer`` of a value the loader has just produced."""

SingleLoader = Callable[[], Awaitable[JsonDict]]
BatchLoader = Callable[[list[str]], Awaitable[Mapping[str, JsonDict]]]


@dataclass(frozen=True, slots=True)
class CacheResult:
    value: JsonDict
    #: True when served from a stale copy because the source failed
    stale: bool
    #: seconds since the value was read from the source
    age_seconds: float
    #: name of the layer that answered, or ``"source"``
    layer: str
    #: the error that made us serve a stale copy
    error: SourceError | None = None


@dataclass(slots=True)
class LayerStats:
    hits: int = 0
    misses: int = 0
    #: misses where the layer held a stale copy
    stale: int = 0
    #: get/set/delete calls that raised
    errors: int = 0
    #: times the layer started failing (a run of errors until its next success)
    outages: int = 0


@dataclass(slots=True)
class _Flight:
    future: asyncio.Future[JsonDict | None]
    task: asyncio.Task[None] | None = None
    invalidated: bool = False


@dataclass(slots=True)
class _Lookup:
    fresh: CacheResult | None = None
    stale: CacheEntry | None = None
    stale_layer: str = ""


def _retrieve(fut: asyncio.Future[JsonDict | None]) -> None:
    # a flight's error may have no waiter left (all cancelled): mark it retrieved
    if not fut.cancelled():
        fut.exception()


@dataclass
class _Counters:
    loads: int = 0
    load_errors: int = 0
    stale_served: int = 0
    layers: dict[str, LayerStats] = field(default_factory=dict)


class TieredCache:
    def __init__(
        self,
        layers: Sequence[CacheBackend] = (),
        *,
        clock: Callable[[], float] = time.time,
        listener: CacheListener | None = None,
    ) -> None:
        #: told of fills, hits and invalidations (the node's cache status); may be set later
        self.listener = listener
        self._layers: list[tuple[str, CacheBackend]] = []
        for index, layer in enumerate(layers):
            label = layer.name or f"l{index + 1}"
            if any(label == existing for existing, _ in self._layers):
                label = f"{label}{index + 1}"
            self._layers.append((label, layer))
        self._clock = clock
        self._flights: dict[str, _Flight] = {}
        self._counters = _Counters(layers={label: LayerStats() for label, _ in self._layers})
        self._failing: set[str] = set()

    # --- introspection ------------------------------------------------------------------

    @property
    def layer_names(self) -> list[str]:
        return [label for label, _ in self._layers]

    def stats(self) -> dict[str, LayerStats]:
        """Hit/miss counters per layer (copies)."""
        return {
            label: LayerStats(s.hits, s.misses, s.stale, s.errors, s.outages)
            for label, s in self._counters.layers.items()
        }

    @property
    def failing_layers(self) -> list[str]:
        """Layers whose last call failed (an outage in progress)."""
        return [label for label, _ in self._layers if label in self._failing]

    @property
    def loads(self) -> int:
        """Loader calls made (a batch load counts once)."""
        return self._counters.loads

    @property
    def load_errors(self) -> int:
        return self._counters.load_errors

    @property
    def stale_served(self) -> int:
        return self._counters.stale_served

    # --- plain operations ---------------------------------------------------------------

    async def get(self, key: str, *, allow_stale: bool = False) -> CacheResult | None:
        """A cached value without loading: fresh, or (``allow_stale``) the newest stale copy."""
        found = await self._lookup(key)
        if found.fresh is not None:
            return found.fresh
        if allow_stale and found.stale is not None:
            return self._stale_result(found, None)
        return None

    async def set(self, key: str, value: JsonDict) -> None:
        """Write a value just read from the source to every layer."""
        now = self._clock()
        for label, layer in self._layers:
            try:
                await layer.set(key, value, stored_at=now)
            except Exception:
                self._layer_error(label, "set", key)
            else:
                self._layer_ok(label)
                self._tell("stored", key, label, now, _expiry(layer, now, None))

    async def invalidate(self, key: str) -> None:
        """Drop ``key`` from every layer; a load in flight for it is not written back.

        Every layer is attempted; the first layer error is raised afterwards (an entry that
        could not be deleted would be served stale, so the caller must know). A layer that
        cannot be reached (``CacheUnavailable``, or any ``OSError`` such as
        ``ConnectionError``/``TimeoutError``) raises :class:`CacheUnavailable` — HTTP 503,
        transient: consumers retry the invalidation until the layer answers again.
        """
        flight = self._flights.pop(key, None)
        if flight is not None:
            flight.invalidated = True
        try:
            await self._each_layer("delete", key, lambda layer: layer.delete(key))
        finally:  # the layers that answered dropped it, whatever another one did
            self._tell("invalidated", key, self._clock())

    async def invalidate_prefix(self, prefix: str) -> None:
        """Drop every key starting with ``prefix`` from every layer (as :meth:`invalidate`
        does one key, errors included). A layer without ``delete_prefix`` is cleared."""
        for key in [k for k in self._flights if k.startswith(prefix)]:
            self._flights.pop(key).invalidated = True

        def drop(layer: CacheBackend) -> Awaitable[None]:
            delete_prefix = getattr(layer, "delete_prefix", None)
            return delete_prefix(prefix) if delete_prefix is not None else layer.clear()

        await self._each_layer("delete", prefix + "*", drop)

    async def _each_layer(
        self, op: str, what: str, call: Callable[[CacheBackend], Awaitable[None]]
    ) -> None:
        first_error: Exception | None = None
        failed = ""
        for label, layer in self._layers:
            try:
                await call(layer)
            except Exception as exc:
                self._layer_error(label, op, what)
                if first_error is None:
                    first_error, failed = exc, label
            else:
                self._layer_ok(label)
        if first_error is None:
            return
        if isinstance(first_error, OSError) and not isinstance(first_error, CacheUnavailable):
            raise CacheUnavailable(
                f"cache layer {failed}: could not {op} {what!r}: {first_error}",
                layer=failed,
                op=op,
            ) from first_error
        raise first_error

    async def clear(self) -> None:
        for flight in self._flights.values():
            flight.invalidated = True
        self._flights.clear()
        for _, layer in self._layers:
            await layer.clear()

    # --- read-through -------------------------------------------------------------------

    async def get_or_load(self, key: str, loader: SingleLoader) -> CacheResult:
        """The fresh cached value, else the loader's (shared by concurrent callers), else —
        if the loader raised a SourceError — a stale copy; otherwise the error propagates."""
        found = await self._lookup(key) if self._layers else _Lookup()
        if found.fresh is not None:
            return found.fresh
        while True:
            flight = self._flights.get(key)
            if flight is None:
                flight = self._start_flight([key], _single(loader))[key]
                if flight.task is None:  # no layers: the load runs in this task
                    await self._fly([key], {key: flight}, _single(loader))
            try:
                value = await _outcome(flight.future)
            except SourceError as exc:
                if found.stale is None:
                    raise
                return self._stale_result(found, exc)
            except asyncio.CancelledError:
                if _led_by_a_cancelled_caller(flight.future):
                    continue  # we were not cancelled, the caller running the load was
                raise
            if value is None:  # a single loader always returns a value; be defensive
                raise KeyError(key)
            return CacheResult(value=value, stale=False, age_seconds=0.0, layer=SOURCE_LAYER)

    async def get_many_or_load(
        self, keys: Sequence[str], loader: BatchLoader
    ) -> dict[str, CacheResult]:
        """Values for ``keys``: cached ones, then **one** loader call for the keys neither
        cached nor already in flight. Keys the loader does not return are absent from the
        result. On a SourceError, stale copies answer for their keys; if any missing key
        has none, the error propagates."""
        unique = list(dict.fromkeys(keys))
        results: dict[str, CacheResult] = {}
        pending: dict[str, _Lookup] = {}
        if not self._layers:
            pending = {key: _Lookup() for key in unique}
        else:
            if len(unique) == 1:
                lookups = [await self._lookup(unique[0])]
            else:  # a network layer answers them concurrently
                lookups = await asyncio.gather(*(self._lookup(k) for k in unique))
            for key, found in zip(unique, lookups, strict=True):
                if found.fresh is not None:
                    results[key] = found.fresh
                else:
                    pending[key] = found
        if not pending:
            return results
        flights = {k: self._flights[k] for k in pending if k in self._flights}
        new_keys = [k for k in pending if k not in flights]
        if new_keys:
            started = self._start_flight(new_keys, loader)
            flights.update(started)
            if started[new_keys[0]].task is None:  # no layers: the load runs in this task
                await self._fly(new_keys, started, loader)
        waiting = [k for k in pending if not flights[k].future.done()]
        outcomes: dict[str, object] = {}
        if waiting:
            gathered = await asyncio.gather(
                *(asyncio.shield(flights[k].future) for k in waiting), return_exceptions=True
            )
            outcomes.update(zip(waiting, gathered, strict=True))
        again: list[str] = []
        for key in pending:
            if key in outcomes:
                outcome = outcomes[key]
            else:
                fut = flights[key].future
                if fut.cancelled():
                    outcome = asyncio.CancelledError()
                else:
                    outcome = fut.exception() or fut.result()
            if isinstance(outcome, BaseException):
                found = pending[key]
                if isinstance(outcome, SourceError) and found.stale is not None:
                    results[key] = self._stale_result(found, outcome)
                    continue
                if isinstance(outcome, asyncio.CancelledError) and _led_by_a_cancelled_caller(
                    flights[key].future
                ):
                    again.append(key)  # we were not cancelled, the caller running the load was
                    continue
                raise outcome
            if outcome is not None:
                assert isinstance(outcome, dict)
                results[key] = CacheResult(
                    value=outcome, stale=False, age_seconds=0.0, layer=SOURCE_LAYER
                )
        if again:
            results.update(await self.get_many_or_load(again, loader))
        return results

    # --- internals ----------------------------------------------------------------------

    async def _lookup(self, key: str) -> _Lookup:
        found = _Lookup()
        now = self._clock()
        for index, (label, layer) in enumerate(self._layers):
            stats = self._counters.layers[label]
            try:
                entry = await layer.get(key)
            except Exception:
                self._layer_error(label, "get", key)
                entry = None
            else:
                self._layer_ok(label)
            if entry is not None and entry.is_fresh(now):
                stats.hits += 1
                self._tell("hit", key, label, entry.stored_at, entry.expires_at)
                await self._backfill(key, entry, self._layers[:index])
                found.fresh = CacheResult(
                    value=entry.value, stale=False, age_seconds=entry.age(now), layer=label
                )
                return found
            stats.misses += 1
            if entry is not None:
                stats.stale += 1
                if found.stale is None or entry.stored_at > found.stale.stored_at:
                    found.stale, found.stale_layer = entry, label
        return found

    async def _backfill(
        self, key: str, entry: CacheEntry, upper: list[tuple[str, CacheBackend]]
    ) -> None:
        for label, layer in upper:
            try:
                await layer.set(
                    key, entry.value, stored_at=entry.stored_at, expires_at=entry.expires_at
                )
            except Exception:
                self._layer_error(label, "set", key)
            else:
                self._layer_ok(label)
                expires = _expiry(layer, self._clock(), entry.expires_at)
                self._tell("stored", key, label, entry.stored_at, expires)

    def _stale_result(self, found: _Lookup, error: SourceError | None) -> CacheResult:
        assert found.stale is not None
        if error is not None:
            self._counters.stale_served += 1
        return CacheResult(
            value=found.stale.value,
            stale=True,
            age_seconds=found.stale.age(self._clock()),
            layer=found.stale_layer,
            error=error,
        )

    def _start_flight(self, keys: list[str], loader: BatchLoader) -> dict[str, _Flight]:
        loop = asyncio.get_running_loop()
        flights: dict[str, _Flight] = {}
        for key in keys:
            fut: asyncio.Future[JsonDict | None] = loop.create_future()
            fut.add_done_callback(_retrieve)
            flights[key] = self._flights[key] = _Flight(fut)
        if not self._layers:
            # nothing to write back afterwards: the caller runs the load itself (no task);
            # callers joining it start their own if that caller is cancelled
            return flights
        task = asyncio.create_task(self._fly(keys, flights, loader))
        for flight in flights.values():
            flight.task = task  # keep a strong reference while it runs
        return flights

    async def _fly(self, keys: list[str], flights: dict[str, _Flight], loader: BatchLoader) -> None:
        self._counters.loads += 1
        try:
            values = await loader(list(keys))
        except asyncio.CancelledError:
            for flight in flights.values():
                flight.future.cancel()
            self._land(flights)
            raise
        except BaseException as exc:
            self._counters.load_errors += 1
            for flight in flights.values():
                flight.future.set_exception(exc)
            self._land(flights)
            return
        for key, flight in flights.items():
            flight.future.set_result(values.get(key))
        try:
            for key, flight in flights.items():
                value = values.get(key)
                if value is not None and not flight.invalidated:
                    await self.set(key, value)
                    if flight.invalidated:  # invalidated while we were writing
                        with contextlib.suppress(Exception):  # already logged per layer
                            await self.invalidate(key)
        finally:
            self._land(flights)

    def _land(self, flights: dict[str, _Flight]) -> None:
        for key, flight in flights.items():
            if self._flights.get(key) is flight:
                del self._flights[key]

    def _tell(self, what: str, *args: Any) -> None:
        listener = self.listener
        if listener is None:
            return
        try:
            getattr(listener, what)(*args)
        except Exception:  # status reporting never fails a read
            log.debug("cache listener %s(%r) failed", what, args[0], exc_info=True)

    def _layer_error(self, label: str, op: str, key: str) -> None:
        stats = self._counters.layers[label]
        stats.errors += 1
        if label in self._failing:
            # Already reported: one warning per outage, not one per request.
            log.debug("cache layer %s: %s %r failed", label, op, key, exc_info=True)
            return
        self._failing.add(label)
        stats.outages += 1
        log.warning(
            "cache layer %s: %s %r failed; treating the layer as a miss until it answers"
            " again (further errors are logged at debug level)",
            label,
            op,
            key,
            exc_info=True,
        )

    def _layer_ok(self, label: str) -> None:
        if label in self._failing:
            self._failing.discard(label)
            stats = self._counters.layers[label]
            log.info("cache layer %s answers again (%s errors so far)", label, stats.errors)


async def _outcome(fut: asyncio.Future[JsonDict | None]) -> JsonDict | None:
    """The flight's value without wrapping a finished flight in a shield."""
    if fut.done():
        return fut.result()
    return await asyncio.shield(fut)


def _led_by_a_cancelled_caller(fut: asyncio.Future[JsonDict | None]) -> bool:
    """The flight was cancelled with the caller running it, while this task was not."""
    task = asyncio.current_task()
    return fut.cancelled() and (task is None or task.cancelling() == 0)


def _expiry(layer: CacheBackend, now: float, expires_at: float | None) -> float:
    """When ``layer``'s new copy stops being fresh: ``min(now + its ttl, expires_at)``, as
    :meth:`CacheEntry.create` computes it (a layer without a ``ttl``: ``expires_at``/now)."""
    ttl = getattr(layer, "ttl", None)
    fresh_until = now + float(ttl) if isinstance(ttl, int | float) else None
    if fresh_until is None:
        return expires_at if expires_at is not None else now
    return fresh_until if expires_at is None else min(fresh_until, expires_at)


def _single(loader: SingleLoader) -> BatchLoader:
    async def batch(keys: list[str]) -> Mapping[str, JsonDict]:
        return {keys[0]: await loader()}

    return batch
