"""Structured logs: structlog renders every record, including the stdlib ``logging`` ones
the code base writes, as JSON lines (production) or coloured console lines (demo).

Every line carries ``timestamp``, ``level``, ``logger`` and ``event``, plus ``trace_id`` /
``span_id`` of the active OpenTelemetry span and ``tenant_id`` of the request
(:data:`dictamesh.core.context.current_tenant`) when there are any, so a log line leads to
its trace and a trace to its logs.

Example::

    configure_logging("json", "INFO")
    logging.getLogger("dictamesh.adapters").warning("source slow")
    # {"event": "source slow", "logger": "dictamesh.adapters", "level": "warning",
    #  "timestamp": "...", "trace_id": "4bf9...", "span_id": "00f0...", "tenant_id": "acme"}
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog
from opentelemetry import trace

from dictamesh.core.context import current_tenant

__all__ = ["LogFormat", "add_trace_context", "configure_logging", "get_logger", "reset_logging"]

LogFormat = Literal["json", "console"]

#: libraries that log every request at INFO: kept at WARNING unless DEBUG is asked for
_CHATTY = ("httpx", "httpcore", "aiokafka", "aiosqlite")


def add_trace_context(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: ``trace_id``/``span_id`` of the active span, ``tenant_id``."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", f"{ctx.trace_id:032x}")
        event_dict.setdefault("span_id", f"{ctx.span_id:016x}")
    tenant = current_tenant.get()
    if tenant is not None:
        event_dict.setdefault("tenant_id", tenant)
    return event_dict


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler we installed, so reconfiguring replaces it instead of adding."""


def configure_logging(
    fmt: LogFormat = "json", level: str | int = "INFO", *, stream: TextIO | None = None
) -> logging.Handler:
    """Route stdlib logging and structlog through one renderer on ``stream`` (stderr).

    Replaces the handler a previous call installed; other handlers of the root logger
    (a test runner's, a host application's) are left alone. Returns the handler.
    """
    reset_logging()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        add_trace_context,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    out = stream if stream is not None else sys.stderr
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        final: list[Any] = [structlog.processors.format_exc_info, renderer]
    else:
        colors = bool(getattr(out, "isatty", lambda: False)())
        renderer = structlog.dev.ConsoleRenderer(colors=colors)
        final = [renderer]
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = _Handler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.addHandler(handler)
    numeric = logging.getLevelName(level) if isinstance(level, str) else level
    root.setLevel(numeric)
    quiet = logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING
    for name in _CHATTY:
        logging.getLogger(name).setLevel(quiet)
    return handler


def reset_logging() -> None:
    """Remove the handler :func:`configure_logging` installed (if any), and structlog's
    configuration with it."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _Handler):
            root.removeHandler(existing)
            existing.close()
    structlog.reset_defaults()


def get_logger(name: str | None = None) -> Any:
    """A structlog logger (``log.info("event", key=value)``) rendered like every line."""
    return structlog.stdlib.get_logger(name)
