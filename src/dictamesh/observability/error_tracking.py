"""Error tracking: unhandled errors and failed background tasks sent to Sentry, scrubbed.

Off unless ``observability.sentry.dsn`` is set (and the ``sentry`` extra installed): then
:func:`init_error_tracking` starts the SDK with no automatic integrations — nothing is
sent unless the mesh asks (:func:`capture_error`: the API's last-resort 500 handler, the
CLI's crash handler, the task supervisor) — and every event passes :func:`scrub_event`
in the SDK's ``before_send`` hook:

* no request data but the method and the path (no query, headers, cookies or body), no
  user, no server name (the node name is a tag);
* stack frames lose their local variables, unless ``include_local_variables``: then each
  is scrubbed like the rest;
* exception messages: with ``exception_messages: vetted`` only DictaMesh errors keep
  theirs (written to hold no personal value), others read ``[scrubbed]``;
* every remaining string (messages, breadcrumbs, extra, contexts, tags, source lines) goes
  through the :class:`EventScrubber` given to :func:`init_error_tracking`.

Observability sits below governance in the layers, so it does not know the masker: the
node (and the CLI) pass governance's scrubber in (``governance.scrubbing``).

Tags on every event: ``node``, ``node_role`` (at init), ``trace_id`` (the current
OpenTelemetry span), ``tenant`` (the bound tenant) and what the caller adds (``task``,
``path``...).

Example::

    init_error_tracking(settings.observability.sentry, scrubber,
                        tags={"node": "n1", "node_role": "all"})
    capture_error(exc, tags={"task": "consumer"})
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import trace

from dictamesh.core.context import tenant_id
from dictamesh.core.errors import DictaMeshError

if TYPE_CHECKING:
    from dictamesh.core.settings import SentrySettings

__all__ = [
    "SCRUBBED",
    "EventScrubber",
    "capture_error",
    "close_error_tracking",
    "error_tracking_enabled",
    "init_error_tracking",
    "scrub_event",
]

log = logging.getLogger("dictamesh.observability")

SCRUBBED = "[scrubbed]"
"""What replaces a message or value that is not sent."""

#: keys whose values are structure the SDK or Sentry needs (ids, times, code locations),
#: never personal data: left as they are
_STRUCTURAL = frozenset(
    {
        "event_id", "timestamp", "start_timestamp", "trace_id", "span_id", "parent_span_id",
        "platform", "level", "sdk", "release", "environment", "type", "module", "filename",
        "abs_path", "function", "lineno", "colno", "in_app", "mechanism", "node", "node_role",
        "tenant", "task", "logger", "category", "handled",
    }
)  # fmt: skip
_MAX_DEPTH = 12
#: a value holding this much of a dropped message's start holds (a cut copy of) it
_PREFIX = 16
_QUERY = re.compile(r"\?.*$")


class EventScrubber(Protocol):
    """How governance scrubs what an event carries (see ``governance.scrubbing``)."""

    def text(self, value: str) -> str:
        """``value`` without the personal values found in it."""

    def field(self, name: str, value: Any) -> tuple[bool, Any]:
        """``(True, replacement)`` when ``name`` is a personal field (its value masked);
        ``(False, value)`` otherwise."""


class _State:
    scrubber: EventScrubber | None = None
    vetted_only = True
    keep_locals = False


_state = _State()


def error_tracking_enabled() -> bool:
    """Is the SDK initialised by :func:`init_error_tracking` (a DSN was set)?"""
    return _state.scrubber is not None


def init_error_tracking(
    settings: SentrySettings,
    scrubber: EventScrubber,
    *,
    tags: Mapping[str, str] | None = None,
) -> bool:
    """Start the Sentry SDK when ``settings.dsn`` is set (process-wide); ``False`` (and
    nothing started) without one. ``ConfigurationError`` when a DSN is set and the
    ``sentry`` extra is missing."""
    if settings.dsn is None:
        return False
    try:
        import sentry_sdk
        from sentry_sdk.integrations.logging import LoggingIntegration
    except ImportError:  # pragma: no cover - the extra is installed in development
        from dictamesh.core.errors import ConfigurationError

        raise ConfigurationError(
            "observability.sentry.dsn is set but sentry-sdk is not installed:"
            " pip install 'dictamesh[sentry]'"
        ) from None
    from dictamesh import __version__

    _state.scrubber = scrubber
    _state.vetted_only = settings.exception_messages == "vetted"
    _state.keep_locals = settings.include_local_variables
    integrations: list[Any] = []
    if settings.max_breadcrumbs:
        # log records become breadcrumbs (scrubbed); none becomes an event by itself
        integrations.append(LoggingIntegration(level=logging.INFO, event_level=None))
    options: dict[str, Any] = {
        "dsn": settings.dsn.get_secret_value(),
        "environment": settings.environment,
        "release": settings.release or f"dictamesh@{__version__}",
        "sample_rate": settings.sample_rate,
        "max_breadcrumbs": settings.max_breadcrumbs,
        "shutdown_timeout": settings.shutdown_timeout_seconds,
        "before_send": _before_send,
        "before_breadcrumb": _before_breadcrumb,
        "default_integrations": False,
        "auto_enabling_integrations": False,
        "integrations": integrations,
        "traces_sample_rate": None,  # spans go to OpenTelemetry, not here
        "server_name": "",  # the host name says nothing useful; the node tag does
    }
    # 2.x and 3.x spell "collect frame variables" differently
    if int(sentry_sdk.VERSION.split(".")[0]) >= 3:
        options["data_collection"] = {
            "stack_frame_variables": settings.include_local_variables,
            "user_info": False,
            "cookies": False,
            "http_bodies": [],
        }
    else:  # pragma: no cover - the 2.x spelling
        options["include_local_variables"] = settings.include_local_variables
        options["send_default_pii"] = False
        options["max_request_body_size"] = "never"
    sentry_sdk.init(**options)
    if tags:
        sentry_sdk.get_global_scope().set_tags(dict(tags))
    log.info("error tracking on: events go to Sentry (%s)", settings.environment)
    return True


def close_error_tracking(timeout: float | None = None) -> None:
    """Send what is queued (up to ``timeout`` seconds) and stop the SDK."""
    if _state.scrubber is None:
        return
    import sentry_sdk

    client = sentry_sdk.get_client()
    client.flush(timeout=timeout)
    client.close(timeout=timeout)
    _state.scrubber = None
    sentry_sdk.get_global_scope().set_client(None)  # inactive: later captures are no-ops


def flush_error_tracking(timeout: float = 5.0) -> None:
    """Send what is queued now (tests, the CLI before it exits)."""
    if _state.scrubber is not None:
        import sentry_sdk

        sentry_sdk.flush(timeout=timeout)


def _trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


def capture_error(error: BaseException, *, tags: Mapping[str, str] | None = None) -> str | None:
    """Send ``error`` (its stack trace, scrubbed) with the trace id, tenant and ``tags``;
    the event id, or ``None`` when error tracking is off."""
    if _state.scrubber is None:
        return None
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        trace_id = _trace_id()
        if trace_id is not None:
            scope.set_tag("trace_id", trace_id)
        tenant = tenant_id()
        if tenant is not None:
            scope.set_tag("tenant", tenant)
        for key, value in (tags or {}).items():
            scope.set_tag(key, value)
        return sentry_sdk.capture_exception(error)


# --- scrubbing --------------------------------------------------------------------------


def _chain(hint: Mapping[str, Any] | None) -> list[BaseException]:
    """The captured exception and its causes / contexts."""
    exc_info = (hint or {}).get("exc_info")
    error = exc_info[1] if exc_info else None
    chain: list[BaseException] = []
    while isinstance(error, BaseException) and all(error is not e for e in chain):
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def _vetted(hint: Mapping[str, Any] | None) -> set[tuple[str, str]]:
    """``(module, name)`` of the DictaMesh errors in the captured exception's chain."""
    return {
        (type(error).__module__, type(error).__name__)
        for error in _chain(hint)
        if isinstance(error, DictaMeshError)
    }


def _unvetted_messages(hint: Mapping[str, Any] | None) -> list[str]:
    """Messages of the chain's other exceptions, as text and as ``repr`` shows them (a
    frame variable holding the exception, or a task that failed with it, repeats them)."""
    messages: set[str] = set()
    for error in _chain(hint):
        if isinstance(error, DictaMeshError):
            continue
        text = str(error)
        if len(text) >= 4:
            messages.update((text, repr(text)[1:-1]))
    return sorted(messages, key=len, reverse=True)


class _Scrub:
    """One event's walk: ``drop`` (unvetted messages) replaced wherever they appear, then
    the scrubber on every string; structural keys kept outside free-form data."""

    _FREE = frozenset({"vars", "extra", "data", "breadcrumbs"})

    def __init__(self, scrubber: EventScrubber, drop: list[str]) -> None:
        self.scrubber = scrubber
        self.drop = drop

    def text(self, value: str) -> str:
        for message in self.drop:
            if message in value:
                value = value.replace(message, SCRUBBED)
            elif len(message) > _PREFIX and message[:_PREFIX] in value:
                return SCRUBBED  # the SDK cut a long value mid-message: drop all of it
        return self.scrubber.text(value)

    def walk(self, value: Any, depth: int = 0, free: bool = False) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if depth >= _MAX_DEPTH:
            return SCRUBBED
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                name = str(key)
                nested = isinstance(item, (Mapping, list, tuple))
                if not free and name in _STRUCTURAL and not nested:
                    out[key] = item
                    continue
                personal, masked = self.scrubber.field(name, item)
                out[key] = (
                    masked if personal else self.walk(item, depth + 1, free or name in self._FREE)
                )
            return out
        if isinstance(value, (list, tuple)):
            return [self.walk(item, depth + 1, free) for item in value]
        return value


def _scrub(value: Any, scrubber: EventScrubber) -> Any:
    return _Scrub(scrubber, []).walk(value)


def scrub_event(
    event: dict[str, Any],
    scrubber: EventScrubber,
    *,
    vetted: set[tuple[str, str]] | None = None,
    keep_locals: bool = False,
    drop: list[str] | None = None,
) -> dict[str, Any]:
    """``event`` as it may leave the process (see the module doc). ``vetted``: the
    ``(module, type)`` of exceptions whose messages may be kept (``None``: all may);
    ``drop``: texts replaced wherever they appear (the other exceptions' messages)."""
    event = dict(event)
    request = event.pop("request", None)
    if isinstance(request, Mapping):
        url = _QUERY.sub("", str(request.get("url") or ""))
        event["request"] = {"method": request.get("method"), "url": url}
    for dropped in ("user", "server_name", "modules", "extra_headers"):
        event.pop(dropped, None)
    exception = event.get("exception")
    for entry in (exception or {}).get("values") or ():
        unvetted = vetted is not None and (entry.get("module"), entry.get("type")) not in vetted
        if unvetted and entry.get("value"):
            entry["value"] = SCRUBBED
        for frame in (entry.get("stacktrace") or {}).get("frames") or ():
            if not keep_locals:
                frame.pop("vars", None)
    for thread in (event.get("threads") or {}).get("values") or ():
        for frame in (thread.get("stacktrace") or {}).get("frames") or ():
            if not keep_locals:
                frame.pop("vars", None)
    scrubbed: dict[str, Any] = _Scrub(scrubber, drop or []).walk(event)
    return scrubbed


def _before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    scrubber = _state.scrubber
    if scrubber is None:
        return None  # closed meanwhile: send nothing rather than something unscrubbed
    try:
        return scrub_event(
            event,
            scrubber,
            vetted=_vetted(hint) if _state.vetted_only else None,
            keep_locals=_state.keep_locals,
            drop=_unvetted_messages(hint) if _state.vetted_only else None,
        )
    except Exception:  # a scrubber bug must drop the event, never send it raw
        log.exception("error event dropped: scrubbing failed")
        return None


def _before_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    scrubber = _state.scrubber
    if scrubber is None:
        return None
    try:
        result: dict[str, Any] = _scrub(crumb, scrubber)
        return result
    except Exception:
        return None
