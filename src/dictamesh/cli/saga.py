"""``dictamesh saga …``: list, show, retry and abort sagas, straight on the catalog database.

No running node is needed: the commands read and write the saga tables through
:class:`~dictamesh.saga.store.SagaStore` and :class:`~dictamesh.saga.engine.SagaEngine`. A
retried saga is ``compensating`` again and queued: a node's claim loop picks it up within its
poll interval.

Exit codes: 0 done; 1 no such saga, or the saga is not ``failed`` (retry, abort), or the
database failed; 2 bad input (not a UUID, an unknown status, a bad config).

Example::

    dictamesh saga list --status failed
    dictamesh saga show 0b6f…  --format json
    dictamesh saga retry 0b6f…
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from dictamesh.cli._catalog_commands import (
    ConfigOpt,
    JsonOpt,
    UrlOpt,
    console,
    on_catalog,
    parse_input,
    print_fields,
    print_json,
    when,
)
from dictamesh.cli._output import FormatOpt, OutputFormat, add_plain_row, chosen_format
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.principal import Principal

__all__ = ["saga_app"]

saga_app = typer.Typer(
    help="Sagas: list and inspect them; retry or abort those needing attention.",
    no_args_is_help=True,
)

_T = TypeVar("_T")

TenantOpt = Annotated[
    str | None, typer.Option("--tenant", help="the sagas' tenant (default: the default tenant)")
]


class _NoWrites:
    """The engine's writer factory when only the saga tables are touched (retry, abort)."""

    def writer(self, principal: Principal | None) -> Any:
        raise ConfigurationError("the command line runs no saga steps")

    async def check(self, principal: Principal | None, entity_types: Sequence[str]) -> None:
        raise ConfigurationError("the command line starts no sagas")


def _run(config: Path | None, url: str | None, work: Callable[[Any], Awaitable[_T]]) -> _T:
    """``work(engine)`` on the catalog database; errors as exit codes."""

    async def with_engine(database: Any) -> _T:
        from dictamesh.saga.engine import SagaEngine
        from dictamesh.saga.store import SagaStore

        return await work(SagaEngine(SagaStore(database), [], _NoWrites(), node="cli"))

    return on_catalog(config, url, with_engine)


@saga_app.command("list")
def list_sagas(
    status: Annotated[
        str | None, typer.Option("--status", help="running, compensating, completed, ...")
    ] = None,
    saga: Annotated[str | None, typer.Option("--saga", help="e.g. create_invoice")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200, help="newest N")] = 50,
    tenant: TenantOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    url: UrlOpt = None,
) -> None:
    """The newest sagas, optionally of one status or saga name."""
    from dictamesh.saga.inputs import parse_status, saga_name

    wanted = parse_input(parse_status, status) if status is not None else None
    saga_type = saga_name(saga) if saga is not None else None

    async def work(engine: Any) -> list[dict[str, Any]]:
        records = await engine.store.list_sagas(
            engine.store.database.tenant(tenant), status=wanted, saga_type=saga_type, limit=limit
        )
        return [r.to_dict() for r in records]

    rows = _run(config, url, work)
    if chosen_format(fmt, as_json) is OutputFormat.JSON:
        print_json(rows)
        return
    if not rows:
        console.print("no sagas", highlight=False)
        return
    table = Table(title=f"sagas ({len(rows)})")
    for column in ("id", "saga", "status", "failed step", "started by", "created", "finished"):
        table.add_column(column)
    for r in rows:
        add_plain_row(table,
            r["id"], r["saga"], r["status"], r["failed_step"] or "-", r["started_by"] or "-",
            when(r["created_at"]), when(r["finished_at"]),
        )  # fmt: skip
    console.print(table)


@saga_app.command("show")
def show(
    saga_id: Annotated[str, typer.Argument(metavar="ID", help="the saga's id (a UUID)")],
    tenant: TenantOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    url: UrlOpt = None,
) -> None:
    """One saga: its state, input, outputs, error, and every line of its step log."""
    from dictamesh.saga.inputs import check_saga_id

    checked = parse_input(check_saga_id, saga_id)

    async def work(engine: Any) -> dict[str, Any]:
        record = await engine.get(checked, tenant)
        steps = await engine.steps(checked, tenant)
        return {**record.to_dict(), "steps": [s.to_dict() for s in steps]}

    detail = _run(config, url, work)
    if chosen_format(fmt, as_json) is OutputFormat.JSON:
        print_json(detail)
        return
    steps = detail.pop("steps")
    print_fields(detail)
    table = Table(title=f"step log ({len(steps)})")
    for column in ("at", "step", "phase", "status", "try", "node", "ms", "error / output"):
        table.add_column(column)
    for s in steps:
        detail_value = s["error"] if s["error"] is not None else s["output"]
        add_plain_row(table,
            when(s["at"]), s["step"], s["phase"], s["status"], str(s["attempt"]),
            s["node"] or "-", "-" if s["duration_ms"] is None else f"{s['duration_ms']:.0f}",
            "-" if detail_value is None else json.dumps(detail_value, ensure_ascii=False),
        )  # fmt: skip
    console.print(table)


def _operate(action: str, saga_id: str, tenant: str | None, fmt: OutputFormat,
             config: Path | None, url: str | None) -> None:  # fmt: skip
    from dictamesh.saga.inputs import check_saga_id

    checked = parse_input(check_saga_id, saga_id)

    async def work(engine: Any) -> dict[str, Any]:
        operation = engine.retry if action == "retry" else engine.abort
        record = await operation(checked, tenant)
        return dict(record.to_dict())

    record = _run(config, url, work)
    if fmt is OutputFormat.JSON:
        print_json(record)
        return
    then = (
        "a node resumes its compensation within its poll interval"
        if action == "retry"
        else "no more automatic work on it"
    )
    typer.echo(f"saga {record['id']} is {record['status']}: {then}")


@saga_app.command("retry")
def retry(
    saga_id: Annotated[str, typer.Argument(metavar="ID", help="a failed saga's id")],
    tenant: TenantOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    url: UrlOpt = None,
) -> None:
    """Compensate a failed saga again (after the cause was fixed)."""
    _operate("retry", saga_id, tenant, chosen_format(fmt, as_json), config, url)


@saga_app.command("abort")
def abort(
    saga_id: Annotated[str, typer.Argument(metavar="ID", help="a failed saga's id")],
    tenant: TenantOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    url: UrlOpt = None,
) -> None:
    """Give up on a failed saga (settled by hand): aborted, no more automatic work."""
    _operate("abort", saga_id, tenant, chosen_format(fmt, as_json), config, url)
