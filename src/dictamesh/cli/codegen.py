"""``dictamesh codegen TARGET -o DIR``: code and schemas from the mesh's entity schemas.

Targets: ``graphql`` (``schema.graphql``, the SDL the node serves), ``avro`` (one ``.avsc``
per entity type), ``jsonschema`` (JSON Schema 2020-12 per entity type and ``index.json``),
``openapi`` (``openapi.json``), ``typescript`` (``.ts`` per type and ``index.ts``),
``python`` (a package of pydantic models and an async client). The adapters are built from
the config but never connected. Everything is generated in memory first: bad input (an
unknown target, an invalid config, an output that cannot be written) is exit 2 with
nothing written. Output is deterministic, so CI can regenerate and ``git diff --exit-code``.

Example::

    dictamesh codegen avro -c mesh.yaml -o schemas/avro
    dictamesh codegen python -c mesh.yaml -o clients --package shop_client
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from dictamesh.cli._catalog_commands import ConfigOpt, fail, load_settings
from dictamesh.cli._output import FormatOpt, OutputFormat, emit
from dictamesh.codegen import CodegenTarget, GeneratedFile, generate
from dictamesh.codegen.files import check_output_dir, write_files
from dictamesh.codegen.python import DEFAULT_PACKAGE
from dictamesh.core.errors import DictaMeshError

__all__ = ["codegen"]

# progress and notes go to stderr: stdout stays the command's result (table or JSON)
progress_console = Console(stderr=True)


def _write(out: Path, files: list[GeneratedFile]) -> None:
    if progress_console.is_terminal:
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=progress_console,
            transient=True,
        ) as progress:
            task = progress.add_task(f"writing {out}", total=len(files))
            write_files(out, files, on_written=lambda _: progress.advance(task))
        return
    # not a terminal (CI, a pipe): one plain line per file, no redrawn bars
    write_files(
        out,
        files,
        on_written=lambda f: progress_console.print(f"wrote {out / f.path}", highlight=False),
    )


def codegen(
    target: Annotated[
        CodegenTarget,
        typer.Argument(
            case_sensitive=False,
            metavar="TARGET",
            help="what to generate",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="output directory (created if missing)")],
    config: ConfigOpt = None,
    package: Annotated[
        str, typer.Option("--package", help="python: the generated package's name")
    ] = DEFAULT_PACKAGE,
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Generate code or schemas for the configured adapters' entity types.

    Exit code 0 written, 1 writing failed, 2 bad input (nothing written).
    """
    settings = load_settings(config)
    try:
        check_output_dir(out)
        if progress_console.is_terminal:
            with progress_console.status(f"generating {target.value}"):
                files = generate(target, settings, package=package)
        else:
            files = generate(target, settings, package=package)
    except DictaMeshError as exc:
        fail(exc.message)
    try:
        _write(out, files)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}", 1)
    emit(
        [{"file": str(out / f.path), "bytes": len(f.content.encode())} for f in files],
        fmt,
        columns=["file", "bytes"],
    )
