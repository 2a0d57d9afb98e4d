"""Scaffolding: ``dictamesh init [DIR]`` (a starter node) and ``dictamesh new adapter NAME``
(an installable adapter package that passes its own tests out of the box).

Bad input — an invalid or reserved name, a directory in the way — ends with exit code 2 and
nothing written. Example::

    dictamesh init my-mesh && cd my-mesh
    dictamesh new adapter crm --template rest
    pip install -e './dictamesh-adapter-crm[test]' && pytest dictamesh-adapter-crm
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from dictamesh.cli._catalog_commands import console, fail
from dictamesh.cli._scaffold_files import (
    AdapterTemplate,
    ScaffoldError,
    adapter_files,
    check_adapter_name,
    init_files,
    write_new_tree,
    write_over,
)

__all__ = ["init", "new_app"]

new_app = typer.Typer(help="Generate new project parts: adapters.", no_args_is_help=True)


def _node_name(directory: Path) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", directory.resolve().name.lower()).strip("-")
    return words or "dictamesh-node"


def init(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="where to write (created if missing)")
    ] = Path("."),
    force: Annotated[
        bool, typer.Option("--force", help="overwrite mesh.yaml, .env.example and README.md")
    ] = False,
) -> None:
    """Write a starter node: mesh.yaml (embedded defaults, an example of every section),
    .env.example (the DICTAMESH_* overrides) and a README with the commands to run it."""
    if directory.exists() and not directory.is_dir():
        fail(f"{directory} exists and is not a directory")
    files = init_files(_node_name(directory))
    if not force:
        present = sorted(name for name in files if (directory / name).exists())
        if present:
            fail(f"{directory} already has {', '.join(present)}: pass --force to overwrite")
    try:
        write_over(directory, files)
    except OSError as exc:
        fail(f"cannot write to {directory}: {exc.strerror or exc}", 1)
    for name in files:
        console.print(escape(f"  wrote {directory / name}"), highlight=False, soft_wrap=True)
    where = "" if directory.resolve() == Path.cwd() else f"cd {directory} && "
    console.print(
        escape(f"Next: python -m dictamesh.sources & {where}dictamesh serve -c mesh.yaml"),
        highlight=False,
        soft_wrap=True,
    )


@new_app.command("adapter")
def new_adapter(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="adapter kind, e.g. crm (lowercase, _ or -)")
    ],
    template: Annotated[
        AdapterTemplate,
        typer.Option("--template", "-t", case_sensitive=False, help="what the source speaks"),
    ] = AdapterTemplate.REST,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="directory to create the package in")
    ] = Path("."),
) -> None:
    """Generate an installable adapter package dictamesh-adapter-NAME: an AdapterBase
    subclass and its EntitySchema, a local fake of the source, the contract tests, a README."""
    try:
        names = check_adapter_name(name)
    except ScaffoldError as exc:
        fail(exc.message)
    target = output / names.dist
    if target.exists() or target.is_symlink():
        fail(f"{target} already exists: choose another NAME or -o DIR")
    if output.exists() and not output.is_dir():
        fail(f"{output} is not a directory")
    files = adapter_files(names, template)
    try:
        write_new_tree(target, files)
    except OSError as exc:
        fail(f"cannot create {target}: {exc.strerror or exc}", 1)
    console.print(
        f"wrote {escape(str(target))} ({len(files)} files): kind [bold]{names.kind}[/],"
        f" class {names.module_name}.adapter.{names.class_name}",
        highlight=False,
        soft_wrap=True,
    )
    # escaped: the [test] extra is text, not a Rich style
    console.print(
        escape(f"Next: pip install -e '{target}[test]' && pytest {target}"),
        highlight=False,
        soft_wrap=True,
    )
