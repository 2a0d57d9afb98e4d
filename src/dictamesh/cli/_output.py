"""How every command prints results: ``--format table|json`` (one option, one meaning).

Tables go to the terminal through Rich (plain text when stdout is not a TTY); JSON is indented,
UTF-8 and stable (keys in the order given), for scripts and ``jq``. Example::

    @app.command("list")
    def list_things(fmt: FormatOpt = OutputFormat.TABLE) -> None:
        rows = [{"name": "a", "state": "ok"}]
        emit(rows, fmt, columns=["name", "state"])
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = [
    "FormatOpt",
    "JsonOpt",
    "OutputFormat",
    "add_plain_row",
    "chosen_format",
    "emit",
    "print_json",
    "print_table",
]

console = Console()
err = Console(stderr=True)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


FormatOpt = Annotated[
    OutputFormat,
    typer.Option("--format", "-f", case_sensitive=False, help="table (default) or json"),
]


#: the old spelling of ``--format json``: still accepted, not shown in help
JsonOpt = Annotated[bool, typer.Option("--json", hidden=True, help="deprecated: use --format json")]


def chosen_format(fmt: OutputFormat, as_json: bool = False) -> OutputFormat:
    """``fmt``, or JSON when the deprecated ``--json`` was given (noted on stderr, so
    stdout stays parseable)."""
    if not as_json:
        return fmt
    err.print("note: --json is deprecated; use --format json", markup=False, highlight=False)
    return OutputFormat.JSON


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """One row per mapping; values escaped, so a ``[tag]`` in data is printed, not styled."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:  # folded, never cut: a script piping a table loses no value
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape(_cell(row.get(c))) for c in columns))
    console.print(table, highlight=False)


def add_plain_row(table: Table, *cells: str) -> None:
    """A row of data cells: escaped, so ``[normal] …`` in a value is printed as it is."""
    table.add_row(*(escape(c) for c in cells))


def emit(
    data: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    fmt: OutputFormat,
    *,
    columns: Sequence[str] | None = None,
) -> None:
    """``data`` (rows, or one record) as a table or as JSON."""
    if fmt is OutputFormat.JSON:
        print_json(data)
        return
    if isinstance(data, Mapping):
        print_table([{"field": k, "value": v} for k, v in data.items()], ["field", "value"])
        return
    print_table(data, columns or (list(data[0]) if data else []))
