"""``dictamesh status``: ask a running node's ``/ready`` and explain the answer.

Prints one row per dependency (catalog, bus) and adapter with its state, latency and the
reason it is not healthy; then, from ``/api/v1/adapters``, each adapter's SLA over the
node's window (``docs/sla.md``): availability, latency p95 and freshness lag per stage,
measured against the target, breached ones in red. The SLA part is informational: a node
that does not serve it (ops-only, or it asks for credentials the call lacks) prints why, and
the exit code stays the readiness verdict: 0 when the node is ready, 1 when it is not (or
does not answer), 2 for bad input (an invalid URL or timeout).

Example::

    $ dictamesh status --url http://127.0.0.1:8000
    node http://127.0.0.1:8000 is NOT READY
      catalog              healthy     1.2 ms
      adapter:crm          unhealthy   2001.0 ms   SOURCE_UNAVAILABLE: crm: timed out
    SLA over the last 300 s
      adapter  availability  latency p95    catalog lag  api lag     breached
      crm      0.82 / 0.99   310 / 300 ms   1.2 / 60 s   1.4 / 60 s  availability, latency_p95_ms
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

__all__ = ["check_reason", "node_url", "readiness_url", "run_status", "sla_rows"]

_STYLE = {"healthy": "green", "degraded": "yellow", "unhealthy": "red"}


def readiness_url(base: str) -> str:
    """``<base>/ready`` for a node's base URL; ValidationError when it is not http(s)."""
    return node_url(base, "/ready")


def node_url(base: str, path: str) -> str:
    """``<base><path>`` for a node's base URL; ValidationError when it is not http(s)."""
    try:
        url = httpx.URL(base.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValidationError(f"--url {base!r} is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValidationError(f"--url must be http(s)://host[:port], not {base!r}")
    return str(url.copy_with(path=url.path.rstrip("/") + path, query=None, fragment=None))


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


#: the SLA columns: objective and its unit
_SLA_COLUMNS = {
    "availability": "",
    "latency_p95_ms": " ms",
    "freshness_catalog": " s",
    "freshness_api": " s",
}


def _number(value: float) -> str:
    return f"{value:.4g}"


def sla_rows(body: Mapping[str, Any]) -> list[tuple[str, list[str], list[str]]]:
    """``(adapter, [cell per objective], [breached objectives])`` from a
    ``/api/v1/adapters`` answer; cells are rich markup (breached red, met green, not judged
    for want of samples dim)."""
    rows = []
    for adapter in body.get("adapters") or []:
        window = adapter.get("sla_window") if isinstance(adapter, Mapping) else None
        if not isinstance(window, Mapping):
            continue
        objectives = window.get("objectives") or {}
        cells, breached = [], []
        for objective, unit in _SLA_COLUMNS.items():
            found = objectives.get(objective) or {}
            target, measured = found.get("target"), found.get("measured")
            shown = "-" if not isinstance(measured, int | float) else _number(measured)
            text = escape(f"{shown} / {_number(target) if target is not None else '?'}{unit}")
            if found.get("state") == "breached":
                breached.append(objective)
                cells.append(f"[red]{text}[/]")
            elif found.get("met") is True:
                cells.append(f"[green]{text}[/]")
            else:
                cells.append(f"[dim]{text}[/]")
        rows.append((escape(str(adapter.get("name", "?"))), cells, breached))
    return rows


def _sla(base: str, *, timeout: float, headers: Mapping[str, str]) -> Mapping[str, Any] | str:
    """The ``/api/v1/adapters`` answer, or why there is none (one line)."""
    url = node_url(base, "/api/v1/adapters")
    try:
        asked = {**headers, "Accept": "application/json"}
        response = httpx.get(url, timeout=timeout, headers=asked)
    except httpx.HTTPError as exc:
        return str(exc) or type(exc).__name__
    if response.status_code in (401, 403):
        return f"HTTP {response.status_code} (pass --token or --api-key)"
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return "not JSON"
    return body if isinstance(body, Mapping) else "unexpected answer"


def _render_sla(out: Console, found: Mapping[str, Any] | str) -> None:
    if isinstance(found, str):
        out.print(f"[dim]SLA: not shown: {escape(found)}[/]")
        return
    rows = sla_rows(found)
    if not rows:
        out.print("[dim]SLA: no adapter measured on this node[/]")
        return
    windows = {
        a["sla_window"].get("window_seconds")
        for a in found.get("adapters") or []
        if isinstance(a, Mapping) and isinstance(a.get("sla_window"), Mapping)
    }
    span = f" over the last {_number(next(iter(windows)))} s" if len(windows) == 1 else ""
    out.print(f"SLA{span}", highlight=False)
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("adapter", "availability", "latency p95", "catalog lag", "api lag", "breached"):
        table.add_column(column)
    for name, cells, breached in rows:
        table.add_row(name, *cells, f"[bold red]{', '.join(breached)}[/]" if breached else "")
    out.print(table)


def run_status(
    base: str,
    *,
    timeout: float,
    out: Console,
    err: Console,
    as_json: bool = False,
    token: str | None = None,
    api_key: str | None = None,
) -> int:
    """Query ``<base>/ready`` and print it; the exit code (see the module docstring).

    ``token`` / ``api_key``: credentials for the SLA part (``/api/v1/adapters``); the
    readiness probe needs none. Raises :class:`~dictamesh.core.errors.ValidationError`
    for bad input.
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
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if api_key:
        headers["X-API-Key"] = api_key
    sla = _sla(base, timeout=timeout, headers=headers)
    if as_json:
        # the readiness answer as is; the SLA windows beside it when the node served them
        shown = dict(body)
        if not isinstance(sla, str):
            shown["sla"] = {
                str(a.get("name")): a.get("sla_window")
                for a in sla.get("adapters") or []
                if isinstance(a, Mapping)
            }
        out.print_json(json.dumps(shown))
        ready = response.status_code == 200 and body.get("status") == "ready"
    else:
        ready = _render(out, base.rstrip("/"), response.status_code, body)
        _render_sla(out, sla)
    return 0 if ready else 1
