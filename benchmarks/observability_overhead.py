"""What tracing + metrics cost on the cross-domain GraphQL query: on vs off, same run.

    python benchmarks/observability_overhead.py                  # 400 requests x 2 rounds
    python benchmarks/observability_overhead.py --requests 1000 --rounds 3

Same set-up as ``graphql_cross_domain.py`` (sample sources in a child process, the three
reference adapters without an entity cache, the one-node gateway on uvicorn, 16 requests
at a time), served twice per round, alternating so machine drift hits both alike:

- **off**: the GraphQL app mounted in FastAPI, no tracer provider, no metrics middleware;
- **on**: the same plus ``instrument_app`` (HTTP metrics middleware, ``/metrics``, GraphQL
  operation spans) and an OpenTelemetry SDK provider that samples every trace, with a
  ``BatchSpanProcessor`` into an exporter that only counts spans — the SDK's full cost
  (span creation, context propagation, httpx instrumentation of the source calls, batching)
  without a network hop, which an OTLP collector would add off the request path anyway;
- **sampled**: the same with the sampler a node sets up for ``sampling_ratio: 0.1`` (the
  ratio ``docs/observability.md`` configures), ``ParentBased(TraceIdRatioBased(0.1))``.

It prints requests/second, p50/p95 latency and the gateway process's CPU time per request
(``time.process_time``, every thread: the span exporter's too) per mode, the spans recorded
per request, and the ratios to "off", and records two KPIs: the CPU tracing + metrics add
per request (``100 * (cpu / cpu off - 1)``) at 100 % sampling (goal <= 10 %) and with the
sampler (goal <= 3 %). CPU per request rather than requests/second: on a shared 2-core
machine throughput swings by half between rounds, CPU per request by a few per cent.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased

sys.path.insert(0, str(Path(__file__).parent))
from _kpi import Kpi, record
from graphql_cross_domain import (
    Result,
    customers_with_invoices,
    measure,
    sample_sources,
)

from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.api.graphql_http import GraphQLApp
from dictamesh.api.observability import instrument_app
from dictamesh.cache.tiered import TieredCache
from dictamesh.core.settings import GraphQLSettings
from dictamesh.gateway import build_schema
from dictamesh.observability.tracing import use_tracer_provider
from dictamesh.sources.runner import SourceEndpoints, reference_adapter_configs


class CountingExporter(SpanExporter):
    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


async def adapters(sources: SourceEndpoints) -> AdapterRegistry:
    """Adapters connected *now*: inside a tracer provider their HTTP clients are traced."""
    registry = AdapterRegistry()
    for config in reference_adapter_configs(sources, poll_interval_seconds=None):
        adapter = registry.register(registry.build(config, cache=TieredCache([])))
        await adapter.connect()
    return registry


def app_for(registry: AdapterRegistry, observed: bool) -> FastAPI:
    app = FastAPI()
    # the benchmark is the client: no rate limit, no timeout in the way
    settings = GraphQLSettings(rate_limit_per_second=0, timeout_seconds=0)
    graphql = GraphQLApp(build_schema(registry), registry, settings=settings, graphql_ide=False)
    app.add_route("/graphql", graphql, methods=["GET", "POST"])  # type: ignore[arg-type]
    if observed:
        instrument_app(app, registry=registry)
    return app


MODES: dict[str, Sampler | None] = {
    "off": None,
    "on": ParentBased(TraceIdRatioBased(1.0)),
    "sampled": ParentBased(TraceIdRatioBased(0.1)),
}
LABELS = {
    "off": "off",
    "on": "on, 100 % sampled",
    "sampled": "on, sampling_ratio 0.1",
}


async def run_mode(
    sources: SourceEndpoints, customers: list[str], mode: str, args: argparse.Namespace
) -> tuple[Result, int]:
    exporter = CountingExporter()
    sampler = MODES[mode]
    observed = sampler is not None
    provider = TracerProvider(sampler=sampler) if sampler is not None else None
    if provider is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    with use_tracer_provider(provider):
        registry = await adapters(sources)
        try:
            cpu = time.process_time()
            result, _ = await measure(
                mode, app_for(registry, observed), registry, sources, customers,  # type: ignore[arg-type]
                args.requests, args.concurrency,
            )  # fmt: skip
            if provider is not None:
                provider.force_flush()  # the export is part of the cost
            result.cpu_seconds = time.process_time() - cpu
        finally:
            for adapter in registry.adapters():
                await adapter.aclose()
    if provider is not None:
        provider.force_flush()
        provider.shutdown()
    return result, exporter.spans


async def main(args: argparse.Namespace) -> None:
    runs: dict[str, list[tuple[Result, int]]] = {mode: [] for mode in MODES}
    async with sample_sources(in_process=False) as sources:
        probe = await adapters(sources)
        try:
            customers = await customers_with_invoices(probe, args.customers)
        finally:
            for adapter in probe.adapters():
                await adapter.aclose()
        for _ in range(args.rounds):
            for mode in MODES:  # alternating, so machine drift hits every mode alike
                runs[mode].append(await run_mode(sources, customers, mode, args))
    report(runs, args)


def _merged(results: list[tuple[Result, int]]) -> tuple[float, list[float], float, float]:
    seconds = sum(r.seconds for r, _ in results)
    requests = sum(r.requests for r, _ in results)
    latencies = [ms for r, _ in results for ms in r.latencies_ms]
    spans = sum(s for _, s in results) / requests
    cpu_ms = 1000 * sum(r.cpu_seconds for r, _ in results) / requests
    return requests / seconds, sorted(latencies), spans, cpu_ms


def _pct(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(runs: dict[str, list[tuple[Result, int]]], args: argparse.Namespace) -> None:
    print(
        f"cross-domain query, {args.requests} requests x {args.rounds} rounds per mode,"
        f" concurrency {args.concurrency}; tracing + metrics on vs off"
    )
    print(
        f"{'':24} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms/req':>11} {'spans/request':>14}"
    )
    figures: dict[str, tuple[float, float, float, float]] = {}
    for mode in MODES:
        rps, ordered, spans, cpu = _merged(runs[mode])
        p50, p95 = _pct(ordered, 0.5), _pct(ordered, 0.95)
        figures[mode] = (rps, p50, p95, cpu)
        print(f"{LABELS[mode]:24} {rps:8.1f} {p50:8.1f} {p95:8.1f} {cpu:11.3f} {spans:14.1f}")
    off_rps, off_p50, off_p95, off_cpu = figures["off"]
    for mode in ("on", "sampled"):
        rps, p50, p95, cpu = figures[mode]
        print(
            f"{'ratio ' + mode + '/off':24} {rps / off_rps:7.2f}x {p50 / off_p50:8.2f}"
            f" {p95 / off_p95:8.2f} {cpu / off_cpu:10.3f}x"
        )
    for mode in MODES:
        rounds = ", ".join(
            f"{r.rps:.0f} req/s {1000 * r.cpu_seconds / r.requests:.2f} ms" for r, _ in runs[mode]
        )
        print(f"per round, {mode}: {rounds}")
    means = ", ".join(f"{m} {statistics.fmean(_merged(runs[m])[1]):.1f}" for m in MODES)
    print(f"mean latency ms: {means}")
    baseline = "CPU/request, same run, tracing+metrics off"
    for mode, figure, goal in (
        ("on", "tracing + metrics CPU overhead, 100 % sampled", "<= 10"),
        ("sampled", "tracing + metrics CPU overhead, sampling_ratio 0.1", "<= 3"),
    ):
        ratio = figures[mode][3] / off_cpu
        record(
            Kpi(
                figure=figure,
                value=100 * (ratio - 1),
                unit="%",
                goal=goal,
                baseline=baseline,
                ratio=ratio,
            )
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--customers", type=int, default=50)
    cli: Any = parser.parse_args()
    asyncio.run(main(cli))
