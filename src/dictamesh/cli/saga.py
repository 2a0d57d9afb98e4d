"""``dictamesh saga …``: list, show, retry and abort sagas, straight on the catalog database.

No running node is needed: the commands read and write the saga tables through
:class:`~dictamesh.saga.store.SagaStore` and :class:`~dictamesh.saga.engine.SagaEngine`. A
retried saga is ``compensating`` again and queued: a node's claim loop picks it up within its
poll interval.

Exit codes: 0 done; 1 no such saga, or the saga is not ``failed`` (retry, abort), or the
database failed; 2 bad input (not a UUID, an unknown status, a bad config).

Example::

    dictamesh saga list --status failed
    dictamesh saga show 0b6f…  --json
    dictamesh saga retry 0b6f…
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from dictamesh.core.errors import ConfigurationError, DictaMeshError
from dictamesh.core.principal import Principal

__all__ = ["saga_app"]

saga_app = typer.Typer(
    help="Sagas: list and inspect them; retry or abort those needing attention.",
    no_args_is_help=True,
)

console = Console()
err = Console(stderr=True)

_T = TypeVar("_T")

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="node YAML (its catalog.url); default: the environment"),
]
UrlOpt = Annotated[
    str | None, typer.Option("--url", help="catalog database URL (instead of the settings')")
]
TenantOpt = Annotated[
    str | None, typer.Option("--tenant", help="the sagas' tenant (default: the default tenant)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON (for scripts)")]


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)  # one line
    raise typer.Exit(code)


class _NoWrites:
    """The engine's writer factory when only the saga tables are touched (retry, abort)."""

    def writer(self, principal: Principal | None) -> Any:
        raise ConfigurationError("the command line runs no saga steps")

    async def check(self, principal: Principal | None, entity_types: Sequence[str]) -> None:
        raise ConfigurationError("the command line starts no sagas")


def _catalog_url(config: Path | None, url: str | None) -> tuple[str, Any]:
    from dictamesh.core.settings import DictaMeshSettings

    try:
        settings = DictaMeshSettings.from_yaml(config) if config else DictaMeshSettings()
    except DictaMeshError as exc:
        _fail(exc.message)
    except ValueError as exc:  # pydantic: the settings from the environment are invalid
        _fail(str(exc).splitlines()[0])
    return url or settings.catalog.url.get_secret_value(), settings.catalog.pool


def _run(config: Path | None, url: str | None, work: Callable[[Any], Awaitable[_T]]) -> _T:
    """Open the catalog database, ``work(engine)``, close it; errors as exit codes."""
    target, pool = _catalog_url(config, url)

    async def main() -> _T:
        from dictamesh.catalog.database import CatalogDatabase
        from dictamesh.saga.engine import SagaEngine
        from dictamesh.saga.store import SagaStore

        database = await CatalogDatabase.open(target, migrate=False, pool=pool)
        try:
            engine = SagaEngine(SagaStore(database), [], _NoWrites(), node="cli")
            return await work(engine)
        finally:
            await database.aclose()

    try:
        return asyncio.run(main())
    except DictaMeshError as exc:  # no such saga, not failed, the database failed
        _fail(exc.message, 1)


def _checked(check: Callable[[str], _T], value: str) -> _T:
    try:
        return check(value)
    except DictaMeshError as exc:
        _fail(exc.message)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _when(iso: str | None) -> str:
    return "-" if iso is None else iso[:19].replace("T", " ")


@saga_app.command("list")
def list_sagas(
    status: Annotated[
        str | None, typer.Option("--status", help="running, compensating, completed, ...")
    ] = None,
    saga: Annotated[str | None, typer.Option("--saga", help="e.g. create_invoice")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200, help="newest N")] = 50,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    url: UrlOpt = None,
) -> None:
    """The newest sagas, optionally of one status or saga name."""
    from dictamesh.saga.inputs import parse_status, saga_name

    wanted = _checked(parse_status, status) if status is not None else None
    saga_type = saga_name(saga) if saga is not None else None

    async def work(engine: Any) -> list[dict[str, Any]]:
        records = await engine.store.list_sagas(
            engine.store.database.tenant(tenant), status=wanted, saga_type=saga_type, limit=limit
        )
        return [r.to_dict() for r in records]

    rows = _run(config, url, work)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        console.print("no sagas", highlight=False)
        return
    table = Table(title=f"sagas ({len(rows)})")
    for column in ("id", "saga", "status", "failed step", "started by", "created", "finished"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["id"], r["saga"], r["status"], r["failed_step"] or "-", r["started_by"] or "-",
            _when(r["created_at"]), _when(r["finished_at"]),
        )  # fmt: skip
    console.print(table)


@saga_app.command("show")
def show(
    saga_id: Annotated[str, typer.Argument(metavar="ID", help="the saga's id (a UUID)")],
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    url: UrlOpt = None,
) -> None:
    """One saga: its state, input, outputs, error, and every line of its step log."""
    from dictamesh.saga.inputs import check_saga_id

    checked = _checked(check_saga_id, saga_id)

    async def work(engine: Any) -> dict[str, Any]:
        record = await engine.get(checked, tenant)
        steps = await engine.steps(checked, tenant)
        return {**record.to_dict(), "steps": [s.to_dict() for s in steps]}

    detail = _run(config, url, work)
    if as_json:
        _print_json(detail)
        return
    steps = detail.pop("steps")
    for key, value in detail.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
        console.print(f"[bold]{key}[/]: {'-' if shown is None else shown}", highlight=False)
    table = Table(title=f"step log ({len(steps)})")
    for column in ("at", "step", "phase", "status", "try", "node", "ms", "error / output"):
        table.add_column(column)
    for s in steps:
        detail_value = s["error"] if s["error"] is not None else s["output"]
        table.add_row(
            _when(s["at"]), s["step"], s["phase"], s["status"], str(s["attempt"]),
            s["node"] or "-", "-" if s["duration_ms"] is None else f"{s['duration_ms']:.0f}",
            "-" if detail_value is None else json.dumps(detail_value, ensure_ascii=False),
        )  # fmt: skip
    console.print(table)


def _operate(action: str, saga_id: str, tenant: str | None, as_json: bool, config: Path | None,
             url: str | None) -> None:  # fmt: skip
    from dictamesh.saga.inputs import check_saga_id

    checked = _checked(check_saga_id, saga_id)

    async def work(engine: Any) -> dict[str, Any]:
        operation = engine.retry if action == "retry" else engine.abort
        record = await operation(checked, tenant)
        return dict(record.to_dict())

    record = _run(config, url, work)
    if as_json:
        _print_json(record)
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
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    url: UrlOpt = None,
) -> None:
    """Compensate a failed saga again (after the cause was fixed)."""
    _operate("retry", saga_id, tenant, as_json, config, url)


@saga_app.command("abort")
def abort(
    saga_id: Annotated[str, typer.Argument(metavar="ID", help="a failed saga's id")],
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    url: UrlOpt = None,
) -> None:
    """Give up on a failed saga (settled by hand): aborted, no more automatic work."""
    _operate("abort", saga_id, tenant, as_json, config, url)
