"""``dictamesh status``: ask a running node's ``/ready`` and explain the answer.

Prints one row per dependency (catalog, bus) and adapter with its state, latency and the
reason it is not healthy. Exit code 0 when the node is ready, 1 when it is not (or does
not answer), 2 for bad input (an invalid URL or timeout).

Example::

    $ dictamesh status --url http://127.0.0.1:8000
    node http://127.0.0.1:8000 is NOT READY
      catalog              healthy     1.2 ms
      adapter:crm          unhealthy   2001.0 ms   SOURCE_UNAVAILABLE: crm: timed out
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dictamesh.core.errors import ValidationError

__all__ = ["check_reason", "readiness_url", "run_status"]

_STYLE = {"healthy": "green", "degraded": "yellow", "unhealthy": "red"}


def readiness_url(base: str) -> str:
    """``<base>/ready`` for a node's base URL; ValidationError when it is not http(s)."""
    try:
        url = httpx.URL(base.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValidationError(f"--url {base!r} is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValidationError(f"--url must be http(s)://host[:port], not {base!r}")
    return str(url.copy_with(path=url.path.rstrip("/") + "/ready", query=None, fragment=None))


def check_reason(check: Mapping[str, Any]) -> str:
    """Why a check is not healthy, in one line ('' when it is)."""
    details = check.get("details") or {}
    if not isinstance(details, Mapping):
        return str(details)
    parts: list[str] = []
    error = details.get("error")
    if isinstance(error, Mapping):
        code, message = error.get("code"), error.get("message")
        parts.append(f"{code}: {message}" if code else str(message))
    elif error:
        parts.append(str(error))
    reasons = details.get("reasons")
    if isinstance(reasons, list):
        parts.extend(str(r) for r in reasons)
    breaker = details.get("breaker")
    if breaker not in (None, "closed") and not any("breaker" in p for p in parts):
        parts.append(f"circuit breaker {breaker}")
    return "; ".join(parts)


def _render(out: Console, base: str, code: int, body: Mapping[str, Any]) -> bool:
    ready = code == 200 and body.get("status") == "ready"
    verdict = "[bold green]READY[/]" if ready else "[bold red]NOT READY[/]"
    out.print(f"node {escape(base)} is {verdict} (HTTP {code})", highlight=False)
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("check", "status", "latency", "reason"):
        table.add_column(column)
    checks = body.get("checks") or {}
    for name in sorted(checks):
        check = checks[name] if isinstance(checks[name], Mapping) else {}
        state = str(check.get("status", "?"))
        latency = check.get("latency_ms")
        # the node's words are data: a "[x]" in a reason is printed, not styled
        table.add_row(
            escape(name),
            f"[{_STYLE.get(state, 'white')}]{escape(state)}[/]",
            f"{latency:.1f} ms" if isinstance(latency, int | float) else "",
            escape(check_reason(check)),
        )
    reasons = body.get("reasons") or {}
    for name, reason in sorted(reasons.items()):
        if name not in checks:  # e.g. "readiness": "timed out"
            table.add_row(escape(name), "[red]failed[/]", "", escape(str(reason)))
    if table.row_count:
        out.print(table)
    return ready


def run_status(
    base: str, *, timeout: float, out: Console, err: Console, as_json: bool = False
) -> int:
    """Query ``<base>/ready`` and print it; the exit code (see the module docstring).

    Raises :class:`~dictamesh.core.errors.ValidationError` for bad input.
    """
    if not timeout > 0:
        raise ValidationError(f"--timeout must be > 0, not {timeout}")
    url = readiness_url(base)
    try:
        response = httpx.get(url, timeout=timeout, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        reason = escape(str(exc) or type(exc).__name__)
        err.print(f"[bold red]node not reachable[/] at {escape(url)}: {reason}")
        return 1
    try:
        body = response.json()
    except ValueError:
        err.print(
            f"[bold red]not a DictaMesh node[/]: {escape(url)} answered HTTP {response.status_code}"
        )
        return 1
    if not isinstance(body, Mapping):
        err.print(f"[bold red]unexpected answer[/] from {escape(url)}: {escape(str(body)[:200])}")
        return 1
    if as_json:
        out.print_json(json.dumps(body))
        ready = response.status_code == 200 and body.get("status") == "ready"
    else:
        ready = _render(out, base.rstrip("/"), response.status_code, body)
    return 0 if ready else 1
