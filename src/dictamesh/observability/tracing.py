"""OpenTelemetry tracing for a mesh node: setup from settings, and the span helpers the
layers use (adapters, GraphQL, the bus, the catalog).

Tracing is **off by default** (``observability.traces_exporter: none``): every helper here
then costs one check and creates nothing. Turn it on with ``console`` or ``otlp``::

    observability:
      traces_exporter: otlp                    # or: console, none
      otlp_endpoint: http://collector:4318/v1/traces
      sampling_ratio: 0.1                      # ParentBased(TraceIdRatioBased(0.1))

A host application that configured its own global ``TracerProvider`` gets our spans in
it too. Trace context crosses the bus in the W3C ``traceparent`` record header (see
:mod:`dictamesh.events.serde`), so a change is one trace from the adapter that saw it to
the catalog row it produced.

Example::

    setup_tracing(settings.observability, service_name="billing-node")
    with span("adapter.get_entity", attributes={"dictamesh.adapter": "crm"}):
        ...
    current_traceparent()   # '00-<trace id>-<span id>-01' inside the span
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    INVALID_SPAN,
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.util.types import AttributeValue

from dictamesh import __version__
from dictamesh.core.errors import ConfigurationError, DictaMeshError, MissingDependencyError
from dictamesh.core.models import TraceContext

if TYPE_CHECKING:
    import httpx

    from dictamesh.core.settings import ObservabilitySettings

__all__ = [
    "MAX_BATCH_LINKS",
    "SpanKind",
    "TracedMessage",
    "capture_context",
    "context_from_trace",
    "context_from_traceparent",
    "current_trace_context",
    "current_traceparent",
    "instrument_http_client",
    "mark_error",
    "record_change",
    "setup_tracing",
    "span",
    "trace_batches",
    "trace_ids",
    "traced",
    "traceparent_text",
    "tracer",
    "tracer_provider",
    "tracing_enabled",
    "use_tracer_provider",
]

log = logging.getLogger("dictamesh.observability")

P = ParamSpec("P")
R = TypeVar("R")

MAX_BATCH_LINKS = 128
"""Most span links a consumer batch span carries (one per distinct message context)."""

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_EMPTY = Context()


@dataclass
class _State:
    #: the provider our helpers use (setup_tracing or use_tracer_provider); None: global
    provider: trace.TracerProvider | None = None
    #: the configuration of the global provider setup_tracing installed
    installed: tuple[Any, ...] | None = None
    tracer: tuple[trace.TracerProvider, trace.Tracer] | None = None


_state = _State()
_lock = threading.Lock()


# --- providers --------------------------------------------------------------------------


def setup_tracing(
    settings: ObservabilitySettings, *, service_name: str
) -> trace.TracerProvider | None:
    """Install the global tracer provider ``settings`` ask for (once per process).

    ``traces_exporter: none`` installs nothing and returns None. A second call with the
    same configuration is a no-op; a different one keeps the first and logs a warning
    (OpenTelemetry allows one global provider per process).
    """
    if settings.traces_exporter == "none":
        return None
    key = (
        settings.traces_exporter,
        settings.otlp_endpoint,
        tuple(sorted((k, v.get_secret_value()) for k, v in settings.otlp_headers.items())),
        settings.sampling_ratio,
        service_name,
    )
    with _lock:
        if _state.installed is not None:
            if _state.installed != key:
                log.warning(
                    "tracing already set up in this process (%s); ignoring %s",
                    _state.installed[0],
                    settings.traces_exporter,
                )
            return _state.provider
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
            from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        except ImportError as exc:
            raise MissingDependencyError("opentelemetry-sdk", "otel") from exc
        exporter: SpanExporter
        if settings.traces_exporter == "memory":
            from dictamesh.observability.recent import recent_spans

            exporter = recent_spans()
        elif settings.traces_exporter == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporter = ConsoleSpanExporter(service_name=service_name)
        elif settings.traces_exporter == "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )
            except ImportError as exc:
                raise MissingDependencyError(
                    "opentelemetry-exporter-otlp-proto-http", "otel"
                ) from exc
            exporter = OTLPSpanExporter(
                endpoint=settings.otlp_endpoint,
                headers={k: v.get_secret_value() for k, v in settings.otlp_headers.items()} or None,
            )
        else:  # pragma: no cover - settings validation forbids it
            raise ConfigurationError(f"unknown traces exporter {settings.traces_exporter!r}")
        provider = TracerProvider(
            resource=Resource.create(
                {"service.name": service_name, "service.version": __version__}
            ),
            sampler=ParentBased(TraceIdRatioBased(settings.sampling_ratio)),
        )
        if settings.traces_exporter == "memory":
            # a deque append per span: export at once, so /debug/traces is live
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor

            provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _state.provider = provider
        _state.installed = key
        return provider


@contextlib.contextmanager
def use_tracer_provider(provider: trace.TracerProvider | None) -> Iterator[None]:
    """Make our helpers use ``provider`` inside the block (tests: an SDK provider with an
    in-memory exporter, without touching the process-global provider)."""
    previous = _state.provider
    _state.provider = provider
    try:
        yield
    finally:
        _state.provider = previous


def tracer_provider() -> trace.TracerProvider:
    """The provider our spans go to: ours if set up, else the global one."""
    return _state.provider or trace.get_tracer_provider()


# get_tracer_provider() reads os.environ on every call while no provider is set (~0.5 µs);
# the API's module global says the same for free, unless the env var names a provider.
_FAST_GLOBAL = hasattr(trace, "_TRACER_PROVIDER") and (
    "OTEL_PYTHON_TRACER_PROVIDER" not in os.environ
)
_DISABLED = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)


def memory_traces_enabled() -> bool:
    """Whether this process keeps its spans in memory (``traces_exporter: memory``)."""
    return _state.installed is not None and _state.installed[0] == "memory"


def tracing_enabled() -> bool:
    """Whether spans are recorded anywhere (ours or a host application's provider)."""
    if _state.provider is not None:
        return True
    provider = trace._TRACER_PROVIDER if _FAST_GLOBAL else trace.get_tracer_provider()
    return provider is not None and not isinstance(provider, _DISABLED)


def tracer() -> trace.Tracer:
    provider = tracer_provider()
    cached = _state.tracer
    if cached is None or cached[0] is not provider:
        cached = (provider, provider.get_tracer("dictamesh", __version__))
        _state.tracer = cached
    return cached[1]


# --- spans ------------------------------------------------------------------------------


def mark_error(target: Span, exc: BaseException) -> None:
    """Record ``exc`` on a span: an error status unless it is the caller's mistake (a
    DictaMeshError below HTTP 500, such as not found or invalid input) or a cancellation."""
    if isinstance(exc, DictaMeshError):
        target.set_attribute("error.type", exc.code)
        if exc.http_status < 500:
            return
    elif isinstance(exc, asyncio.CancelledError | GeneratorExit):
        target.set_attribute("error.type", "cancelled")
        return
    else:
        target.set_attribute("error.type", type(exc).__qualname__)
    target.record_exception(exc)
    target.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:256]))


_OFF: contextlib.nullcontext[Span] = contextlib.nullcontext(INVALID_SPAN)


def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
    parent: Context | None = None,
    links: Sequence[Link] | None = None,
) -> contextlib.AbstractContextManager[Span]:
    """A span, current inside the block; a no-op (``INVALID_SPAN``) while tracing is off.

    ``parent``: the context to start from (default: the current one).
    """
    if not tracing_enabled():
        return _OFF  # a shared, stateless context manager: ~0.2 µs per use
    if parent is None and _unsampled():
        return _OFF  # the trace is not recorded: its children would not be either
    return _span(name, kind, attributes, parent, links)


def _unsampled() -> bool:
    """Inside a trace the sampler dropped. Our samplers are parent-based (as is the SDK's
    default), so a child span would be a non-recording one: skip making it (the current
    context, trace id and "not sampled" flag still propagate to the sources)."""
    context = trace.get_current_span().get_span_context()
    return context.is_valid and not context.trace_flags.sampled


@contextlib.contextmanager
def _span(
    name: str,
    kind: SpanKind,
    attributes: Mapping[str, AttributeValue] | None,
    parent: Context | None,
    links: Sequence[Link] | None,
) -> Iterator[Span]:
    with tracer().start_as_current_span(
        name,
        context=parent,
        kind=kind,
        attributes=attributes,
        links=links,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as exc:
            mark_error(current, exc)
            raise


def traced(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Callable[..., Mapping[str, AttributeValue]] | None = None,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Decorate an async function so each call runs in a span.

    ``attributes(*args, **kwargs)`` builds the span attributes from the call's arguments
    (only called while tracing is on)::

        @traced("adapter.get_entity", attributes=lambda self, entity_id: {"id": entity_id})
        async def get_entity(self, entity_id): ...
    """

    def decorate(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not tracing_enabled() or _unsampled():  # no attributes built for nothing
                return await fn(*args, **kwargs)
            attrs = attributes(*args, **kwargs) if attributes is not None else None
            with span(name, kind=kind, attributes=attrs):
                return await fn(*args, **kwargs)

        return wrapper

    return decorate


# --- trace context on the wire -------------------------------------------------------------


def current_traceparent() -> str | None:
    """W3C ``traceparent`` of the active span, or None when there is none."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def current_trace_context() -> TraceContext | None:
    """The active span's ids as a :class:`TraceContext` (for ``ChangeEvent.trace_context``)."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid or not ctx.trace_flags.sampled:
        return None
    return TraceContext(trace_id=f"{ctx.trace_id:032x}", span_id=f"{ctx.span_id:016x}")


def _remote(trace_id: int, span_id: int, flags: int) -> Context | None:
    ctx = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags))
    if not ctx.is_valid:
        return None
    return trace.set_span_in_context(NonRecordingSpan(ctx), _EMPTY)


def traceparent_text(value: bytes | str | None) -> str | None:
    """A ``traceparent`` header's text, stripped; None when absent or not ASCII."""
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    return value.strip()


def trace_ids(trace_context: TraceContext) -> tuple[str, str] | None:
    """The trace and span id of ``trace_context`` in lowercase, or None unless they are
    32 and 16 hex digits and not all zeros (which W3C forbids)."""
    trace_id, span_id = trace_context.trace_id.lower(), trace_context.span_id.lower()
    if not _HEX32.match(trace_id) or not _HEX16.match(span_id):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id


def context_from_traceparent(value: bytes | str | None) -> Context | None:
    """A parent context from a W3C ``traceparent`` value (None if absent or invalid)."""
    text = traceparent_text(value)
    m = _TRACEPARENT.match(text.lower()) if text is not None else None
    if m is None:
        return None
    return _remote(int(m.group(1), 16), int(m.group(2), 16), int(m.group(3), 16) & 0x01)


def context_from_trace(trace_context: TraceContext | None) -> Context | None:
    """A parent context from ``ChangeEvent.trace_context`` (None if absent or invalid)."""
    ids = trace_ids(trace_context) if trace_context is not None else None
    if ids is None:
        return None
    return _remote(int(ids[0], 16), int(ids[1], 16), int(TraceFlags.SAMPLED))


def capture_context() -> Context | None:
    """The current context when a span is active (to parent work done later, elsewhere)."""
    if not tracing_enabled() or not trace.get_current_span().get_span_context().is_valid:
        return None
    return otel_context.get_current()


def record_change(
    name: str,
    attributes: Mapping[str, AttributeValue],
    *,
    parent: Context | None = None,
) -> TraceContext | None:
    """Record a (zero-length) span saying a change was detected and return its ids, to be
    carried on the change event; None while tracing is off or the span is not sampled.

    ``parent`` (e.g. the webhook request that announced the change) defaults to a new
    trace: a change is the root of the trace that follows it through the bus.
    """
    if not tracing_enabled():
        return None
    marker = tracer().start_span(
        name, context=parent if parent is not None else _EMPTY, attributes=attributes
    )
    marker.end()
    ctx = marker.get_span_context()
    if not ctx.is_valid or not ctx.trace_flags.sampled:
        return None
    return TraceContext(trace_id=f"{ctx.trace_id:032x}", span_id=f"{ctx.span_id:016x}")


class TracedMessage(Protocol):
    """What a consumer span reads of a bus message (:class:`~dictamesh.events.bus.Message`;
    a protocol: observability sits below the event bus)."""

    @property
    def topic(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, bytes]: ...


M = TypeVar("M", bound=TracedMessage)


def trace_batches(
    handler: Callable[[list[M]], Awaitable[None]], group: str
) -> Callable[[list[M]], Awaitable[None]]:
    """Wrap a consumer batch handler so each call runs in a CONSUMER span.

    The span's parent is the context in the messages' ``traceparent`` header when they
    all carry the same one (always so for a batch of one); otherwise it starts a new trace.
    Either way it links every distinct message context (at most :data:`MAX_BATCH_LINKS`).
    """

    async def handle(messages: list[M]) -> None:
        if not tracing_enabled():
            await handler(messages)
            return
        seen: dict[tuple[int, int], Context] = {}
        for message in messages:
            ctx = context_from_traceparent(message.headers.get("traceparent"))
            if ctx is not None:
                sc = trace.get_current_span(ctx).get_span_context()
                seen.setdefault((sc.trace_id, sc.span_id), ctx)
        parent = next(iter(seen.values())) if len(seen) == 1 else _EMPTY
        links = [
            Link(trace.get_current_span(ctx).get_span_context())
            for ctx in list(seen.values())[:MAX_BATCH_LINKS]
        ]
        topics = sorted({m.topic for m in messages})
        attributes: dict[str, AttributeValue] = {
            "messaging.operation.type": "process",
            "messaging.consumer.group.name": group,
            "messaging.batch.message_count": len(messages),
            "messaging.destination.name": topics[0] if len(topics) == 1 else ",".join(topics),
        }
        name = f"process {topics[0]}" if len(topics) == 1 else "process"
        with span(name, kind=SpanKind.CONSUMER, parent=parent, links=links, attributes=attributes):
            await handler(messages)

    return handle


def instrument_http_client(client: httpx.AsyncClient) -> None:
    """Trace every request of ``client`` (a CLIENT span, ``traceparent`` sent to the source)
    with ``opentelemetry-instrumentation-httpx``; a no-op while tracing is off or without
    that package (the ``otel`` extra)."""
    if not tracing_enabled() or getattr(client, "_is_instrumented_by_opentelemetry", False):
        return
    try:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    except ImportError:
        log.debug("opentelemetry-instrumentation-httpx not installed: source calls untraced")
        return
    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=tracer_provider())
    _skip_instrumentation_when_unsampled(client)


def _skip_instrumentation_when_unsampled(client: httpx.AsyncClient) -> None:
    """Inside a trace the sampler dropped, send ``traceparent`` (trace id, "not sampled")
    and call the transport directly: the instrumentation would build attributes, redact
    the URL and normalise headers for a span nobody records — most of tracing's cost at a
    sampling ratio below 1 (docs/performance.md)."""
    from opentelemetry.propagate import inject

    transport = client._transport
    traced = transport.handle_async_request
    untraced = getattr(traced, "__wrapped__", None)  # wrapt's original, bound method
    if untraced is None:
        return

    async def handle(request: httpx.Request) -> httpx.Response:
        if _unsampled():
            inject(request.headers)
            response: httpx.Response = await untraced(request)
            return response
        return await traced(request)

    transport.handle_async_request = handle  # type: ignore[method-assign]
