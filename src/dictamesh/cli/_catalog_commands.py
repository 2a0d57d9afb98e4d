"""What the commands working straight on the catalog database share (``dictamesh saga``,
``dictamesh notify``): options, one-line errors with exit codes, opening the database from
``--url`` or a config's ``catalog.url``, JSON and time output.

Exit codes: 2 bad input or configuration, 1 the work failed (not found, wrong state, the
database failed)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from dictamesh.cli._output import JsonOpt
from dictamesh.core.errors import DictaMeshError

if TYPE_CHECKING:
    from dictamesh.catalog.database import CatalogDatabase
    from dictamesh.core.settings import DictaMeshSettings

__all__ = [
    "ConfigOpt",
    "JsonOpt",
    "UrlOpt",
    "console",
    "fail",
    "load_settings",
    "on_catalog",
    "parse_input",
    "print_fields",
    "print_json",
    "when",
]

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


def fail(message: str, code: int = 2) -> NoReturn:
    """The one way a command ends on an error: ``error: message`` on stderr, exit ``code``."""
    # escaped: a hint like pip install 'dictamesh[otel]' must print its [otel]
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load_settings(config: Path | None) -> DictaMeshSettings:
    from dictamesh.core.settings import DictaMeshSettings

    try:
        return DictaMeshSettings.from_yaml(config) if config else DictaMeshSettings()
    except DictaMeshError as exc:
        fail(exc.message)
    except ValueError as exc:  # pydantic: the settings from the environment are invalid
        fail(str(exc).splitlines()[0])


def on_catalog(
    config: Path | None, url: str | None, work: Callable[[CatalogDatabase], Awaitable[_T]]
) -> _T:
    """Open the catalog database (``url``, else the settings' ``catalog.url``), run
    ``work(database)``, close it; a :class:`DictaMeshError` of the work is exit 1."""
    if url is not None and config is None:
        target, pool = url, None
    else:
        settings = load_settings(config)
        target, pool = url or settings.catalog.url.get_secret_value(), settings.catalog.pool

    async def main() -> _T:
        from dictamesh.catalog.database import CatalogDatabase

        database = await CatalogDatabase.open(target, migrate=False, pool=pool)
        try:
            return await work(database)
        finally:
            await database.aclose()

    try:
        return asyncio.run(main())
    except DictaMeshError as exc:  # not found, wrong state, the database failed
        fail(exc.message, 1)


def parse_input(check: Callable[[str], _T], value: str) -> _T:
    """``check(value)``; its :class:`DictaMeshError` is bad input (exit 2)."""
    try:
        return check(value)
    except DictaMeshError as exc:
        fail(exc.message)


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def print_fields(record: dict[str, Any]) -> None:
    """One ``key: value`` line per field (lists and objects as JSON, ``None`` as ``-``)."""
    for key, value in record.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
        value_text = escape("-" if shown is None else str(shown))  # data, not markup
        console.print(f"[bold]{escape(key)}[/]: {value_text}", highlight=False)


def when(iso: str | None) -> str:
    return "-" if iso is None else iso[:19].replace("T", " ")
