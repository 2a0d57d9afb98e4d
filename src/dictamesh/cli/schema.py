"""``dictamesh schema check|diff|export``: the mesh's schemas against a baseline, for CI.

The current schemas come from the config (adapters built, not connected): the GraphQL SDL
the node serves, each adapter topic's Avro value schema, the entity schemas. The baseline
(``--against``) is a file or directory written by ``dictamesh schema export``, a single
``.graphql`` or ``<subject>.avsc`` file, or a running node's URL. Only the kinds of schema
the baseline has are compared.

GraphQL changes are classified by graphql-core's ``find_schema_changes`` (graphql-js's
``findBreakingChanges`` / ``findDangerousChanges``); Avro and entity schemas by the schema
registry's compatibility rules under ``--compatibility`` (default BACKWARD).

Exit codes: ``check`` 1 when a change is breaking, else 0; ``diff`` and ``export`` 0;
2 for bad input (a config, a baseline that cannot be read or parsed).

Example::

    dictamesh schema export -c mesh.yaml -o schemas.json     # on main, commit it
    dictamesh schema check -c mesh.yaml --against schemas.json
    dictamesh schema diff -c mesh.yaml --against http://127.0.0.1:8000 --format json
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dictamesh.cli._catalog_commands import err, fail, load_settings
from dictamesh.cli._output import FormatOpt, OutputFormat, print_json, print_table
from dictamesh.core.errors import DictaMeshError, ValidationError

if TYPE_CHECKING:
    from dictamesh.cli._schema_bundle import SchemaBundle
    from dictamesh.core.schema_changes import SchemaChange

__all__ = ["Level", "schema_app"]

schema_app = typer.Typer(
    help="Schema checks for CI: breaking changes of GraphQL and Avro against a baseline.",
    no_args_is_help=True,
)


class Level(StrEnum):
    """The registry's compatibility levels (``dictamesh.catalog.Compatibility``), here so
    the command line starts without importing the catalog."""

    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="node YAML: its adapters, bus.topics, saga and notifications (default: the env)",
    ),
]
AgainstOpt = Annotated[
    str,
    typer.Option(
        "--against",
        help="baseline: a bundle from `schema export` (.json or directory), a .graphql,"
        " a <subject>.avsc, or a running node's URL (http://host:port)",
    ),
]
LevelOpt = Annotated[
    Level,
    typer.Option(
        "--compatibility",
        case_sensitive=False,
        help="Avro and entity-schema rule (the schema registry's levels)",
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="DICTAMESH_TOKEN", help="bearer token for a node URL (prefer the env)"
    ),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="DICTAMESH_API_KEY", help="API key for a node URL (prefer the env)"
    ),
]
TimeoutOpt = Annotated[float, typer.Option("--timeout", min=0.1, help="seconds per request")]

_COLUMNS = ["severity", "area", "subject", "code", "message"]


def _current(config: Path | None) -> SchemaBundle:
    from dictamesh.cli._schema_bundle import current_bundle

    settings = load_settings(config)
    if not settings.adapters:
        fail("no adapters configured: pass --config with an `adapters` list")
    try:
        return current_bundle(settings)
    except DictaMeshError as exc:
        fail(exc.message)


def _compare(baseline: SchemaBundle, current: SchemaBundle, level: Level) -> list[SchemaChange]:
    from dictamesh.catalog.records import Compatibility
    from dictamesh.catalog.schema_diff import avro_subject_changes, entity_schema_changes
    from dictamesh.gateway.sdl_diff import diff_sdl

    compatibility = Compatibility(level.value)
    changes: list[SchemaChange] = []
    if baseline.graphql is not None and current.graphql is not None:
        changes.extend(diff_sdl(baseline.graphql, current.graphql))
    if baseline.avro is not None:
        now = current.avro or {}
        subjects = baseline.avro.keys() | now.keys()
        if baseline.only_its_subjects:
            subjects = set(baseline.avro)
            unknown = sorted(subjects - now.keys())
            if unknown:
                raise ValidationError(
                    f"no Avro subject {unknown[0]!r} in this mesh (the .avsc file's name is its"
                    f" subject); its subjects: {', '.join(sorted(now)) or 'none'}"
                )
        for subject in sorted(subjects):
            changes.extend(
                avro_subject_changes(
                    subject, baseline.avro.get(subject), now.get(subject), compatibility
                )
            )
    if baseline.entities is not None:
        now_types = current.entities or {}
        for entity_type in sorted(baseline.entities.keys() | now_types.keys()):
            changes.extend(
                entity_schema_changes(
                    entity_type,
                    baseline.entities.get(entity_type),
                    now_types.get(entity_type),
                    compatibility,
                )
            )
    return changes


def _run(
    config: Path | None,
    against: str,
    level: Level,
    credentials: tuple[str | None, str | None],
    timeout: float,
) -> list[SchemaChange]:
    from dictamesh.cli._schema_bundle import read_baseline

    current = _current(config)  # a bad config is reported before any request
    try:
        token, api_key = credentials
        baseline = read_baseline(against, token=token, api_key=api_key, timeout=timeout)
        return _compare(baseline, current, level)
    except DictaMeshError as exc:  # unreadable baseline, invalid SDL or Avro in it
        fail(exc.message)


def _report(
    changes: list[SchemaChange],
    fmt: OutputFormat,
    *,
    against: str,
    level: Level,
    shown: list[SchemaChange] | None = None,
) -> None:
    """``shown`` (default: all) listed, every change of ``changes`` counted."""
    counts = {s: sum(1 for c in changes if c.severity.value == s) for s in _SEVERITIES}
    changes = changes if shown is None else shown
    if fmt is OutputFormat.JSON:
        record: dict[str, Any] = {
            "against": against,
            "compatibility": level.value,
            **counts,
            "changes": [c.as_dict() for c in changes],
        }
        print_json(record)
        return
    if changes:
        print_table([c.as_dict() for c in changes], _COLUMNS)
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    err.print(f"{summary} against {against}", highlight=False, markup=False)


_SEVERITIES = ("breaking", "dangerous", "safe")


@schema_app.command("check")
def check(
    against: AgainstOpt,
    config: ConfigOpt = None,
    compatibility: LevelOpt = Level.BACKWARD,
    token: TokenOpt = None,
    api_key: ApiKeyOpt = None,
    timeout: TimeoutOpt = 10.0,
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Breaking and dangerous changes against the baseline; exit 1 if any is breaking."""
    changes = _run(config, against, compatibility, (token, api_key), timeout)
    shown = [c for c in changes if c.severity.value != "safe"]
    _report(changes, fmt, against=against, level=compatibility, shown=shown)
    raise typer.Exit(1 if any(c.severity.value == "breaking" for c in changes) else 0)


@schema_app.command("diff")
def diff(
    against: AgainstOpt,
    config: ConfigOpt = None,
    compatibility: LevelOpt = Level.BACKWARD,
    token: TokenOpt = None,
    api_key: ApiKeyOpt = None,
    timeout: TimeoutOpt = 10.0,
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Every change against the baseline: breaking, dangerous and safe (exit 0)."""
    changes = _run(config, against, compatibility, (token, api_key), timeout)
    _report(changes, fmt, against=against, level=compatibility)


@schema_app.command("export")
def export(
    config: ConfigOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="a .json file (overwritten), or a directory that is empty or absent;"
            " default: the JSON bundle on stdout",
        ),
    ] = None,
) -> None:
    """Write the mesh's schemas (SDL, Avro value schemas, entity schemas) as a baseline."""
    from dictamesh.cli._schema_bundle import write_bundle

    bundle = _current(config)
    if out is None:
        print_json(bundle.to_json())
        return
    if out.suffix.lower() == ".json":
        if out.is_dir() or not out.parent.is_dir():
            fail(f"cannot write {out}: {'a directory' if out.is_dir() else 'no such directory'}")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        fail(f"{out} exists and is not an empty directory: nothing written")
    try:
        written = write_bundle(bundle, out)
    except OSError as exc:
        fail(f"cannot write {out}: {exc}")
    err.print(f"wrote {len(written)} file(s) to {out}", highlight=False, markup=False)
