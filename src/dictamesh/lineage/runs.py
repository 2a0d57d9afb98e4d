"""Runs of a continuous job, cut into windows: START at the first activity, COMPLETE once the
job has been idle for ``idle`` seconds or the run has lasted ``longest``, FAIL on an error.

Capture and ingest never end, so an OpenLineage run here is a window of activity: a poll
cycle or webhook burst of an adapter (its events arrive together, then it is quiet), or a
stretch of catalog ingest. The rate stays bounded whatever the event rate: at most one run
per ``idle`` seconds of quiet and one per ``longest`` seconds of traffic.

Example::

    window = RunWindow(job, emit, datasets, idle=5, longest=300)
    window.record({topic: 1}, {product: 1}, {product: {topic}})   # START (first activity)
    window.tick()                                                 # COMPLETE once due
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.uuid import generate_new_uuid

from dictamesh.lineage.facets import PRODUCER, error_facet, run_facets

__all__ = ["DatasetKey", "Datasets", "RunWindow"]

DatasetKey = tuple[str, str]
"""(namespace, name)"""


class Datasets(Protocol):
    """Describes a job's datasets (their facets) for its run events."""

    def input(self, key: DatasetKey, rows: int | None) -> InputDataset:
        """``rows``: read in the run (on COMPLETE/FAIL), None on START."""
        ...

    def output(
        self, key: DatasetKey, sources: Iterable[DatasetKey], rows: int | None
    ) -> OutputDataset:
        """``sources``: the inputs that fed it in this run (for column lineage)."""
        ...


class RunWindow:
    """One job's current run (not thread-safe: called from the event loop only)."""

    def __init__(
        self,
        job: Job,
        emit: Callable[[RunEvent], object],
        datasets: Datasets,
        *,
        idle: float,
        longest: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job = job
        self._emit = emit
        self._datasets = datasets
        self.idle = idle
        self.longest = longest
        self._clock = clock
        self.run_id: str | None = None
        self._started = 0.0
        self._last = 0.0
        self._last_failure = float("-inf")
        self._inputs: dict[DatasetKey, int] = {}
        self._outputs: dict[DatasetKey, int] = {}
        self._feeds: dict[DatasetKey, set[DatasetKey]] = {}

    @property
    def open(self) -> bool:
        return self.run_id is not None

    def record(
        self,
        inputs: Mapping[DatasetKey, int],
        outputs: Mapping[DatasetKey, int],
        feeds: Mapping[DatasetKey, Iterable[DatasetKey]],
    ) -> None:
        """Activity: rows read from ``inputs``, written to ``outputs``; ``feeds``: output →
        the inputs it came from. Starts a run if none is open."""
        now = self._before(self._clock())
        self._add(inputs, outputs, feeds)
        self._after(now)

    def record_one(self, source: DatasetKey, target: DatasetKey) -> None:
        """``record({source: 1}, {target: 1}, {target: [source]})`` without building them:
        an adapter's capture calls this once per event."""
        now = self._before(self._clock())
        self._inputs[source] = self._inputs.get(source, 0) + 1
        self._outputs[target] = self._outputs.get(target, 0) + 1
        fed = self._feeds.get(target)
        if fed is None:
            self._feeds[target] = {source}
        else:
            fed.add(source)
        self._after(now)

    def fail(
        self,
        error: BaseException,
        inputs: Mapping[DatasetKey, int] | None = None,
        feeds: Mapping[DatasetKey, Iterable[DatasetKey]] | None = None,
    ) -> bool:
        """End the open run with FAIL and ``error``; with no run open, a START and a FAIL
        (at most one such pair per ``idle`` seconds: a consumer retrying one bad batch
        would otherwise emit a pair per attempt). False when it emitted nothing."""
        now = self._clock()
        if self.run_id is None:
            if now - self._last_failure < self.idle:
                return False
            self.run_id = str(generate_new_uuid())
            self._started = now
            self._add(inputs or {}, {}, feeds or {})
            self._emit(self._event(RunState.START, rows=False))
        else:
            self._add(inputs or {}, {}, feeds or {})
        self._last_failure = now
        self._finish(RunState.FAIL, error)
        return True

    def tick(self) -> None:
        """COMPLETE the open run if it has been idle or has lasted long enough."""
        if self.run_id is None:
            return
        now = self._clock()
        if now - self._last >= self.idle or now - self._started >= self.longest:
            self._finish(RunState.COMPLETE)

    def close(self) -> None:
        """COMPLETE the open run (the node stops)."""
        if self.run_id is not None:
            self._finish(RunState.COMPLETE)

    # --- internals ----------------------------------------------------------------------------

    def _before(self, now: float) -> float:
        if self.run_id is not None and now - self._started >= self.longest:
            self._finish(RunState.COMPLETE)
        return now

    def _after(self, now: float) -> None:
        self._last = now
        if self.run_id is None:
            self.run_id = str(generate_new_uuid())
            self._started = now
            self._emit(self._event(RunState.START, rows=False))

    def _add(
        self,
        inputs: Mapping[DatasetKey, int],
        outputs: Mapping[DatasetKey, int],
        feeds: Mapping[DatasetKey, Iterable[DatasetKey]],
    ) -> None:
        for key, rows in inputs.items():
            self._inputs[key] = self._inputs.get(key, 0) + rows
        for key, rows in outputs.items():
            self._outputs[key] = self._outputs.get(key, 0) + rows
        for key, sources in feeds.items():
            self._feeds.setdefault(key, set()).update(sources)

    def _finish(self, state: RunState, error: BaseException | None = None) -> None:
        self._emit(self._event(state, rows=True, error=error))
        self.run_id = None
        self._inputs, self._outputs, self._feeds = {}, {}, {}

    def _event(
        self, state: RunState, *, rows: bool, error: BaseException | None = None
    ) -> RunEvent:
        assert self.run_id is not None
        facets = run_facets()
        if error is not None:
            facets["errorMessage"] = error_facet(error)
        return RunEvent(
            eventType=state,
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=self.run_id, facets=facets),
            job=self.job,
            inputs=[
                self._datasets.input(key, count if rows else None)
                for key, count in sorted(self._inputs.items())
            ],
            outputs=[
                self._datasets.output(
                    key, sorted(self._feeds.get(key, ())), count if rows else None
                )
                for key, count in sorted(self._outputs.items())
            ],
            producer=PRODUCER,
        )
