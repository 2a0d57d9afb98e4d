"""``dictamesh check``, ``adapters list``, ``adapter sample``, ``plugins list``, ``config schema``:
what is installed, whether a config works, and what a source returns, before starting a node.

Nothing here starts a node, and nothing writes to a source or creates a file (``check`` in an
empty directory leaves it empty). Exit codes: 0 all good, 1 a check failed, 2 bad input or an
invalid config.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from dictamesh.cli._catalog_commands import ConfigOpt, console, fail, load_settings
from dictamesh.cli._output import FormatOpt, OutputFormat, emit, print_json
from dictamesh.core.checks import CheckResult, CheckStatus
from dictamesh.core.errors import ConfigurationError, DictaMeshError

if TYPE_CHECKING:
    from dictamesh.adapters.base import AdapterBase
    from dictamesh.core.models import Entity
    from dictamesh.core.plugins import PluginRegistry
    from dictamesh.core.settings import DictaMeshSettings

__all__ = [
    "adapters_app",
    "check",
    "config_app",
    "plugin_rows",
    "plugins_app",
    "register",
    "run_checks",
]

adapters_app = typer.Typer(
    help="Installed adapter kinds, and a sample read from a configured adapter.",
    no_args_is_help=True,
)
plugins_app = typer.Typer(
    help="Installed plugins: adapters, buses, caches, notification channels.",
    no_args_is_help=True,
)
config_app = typer.Typer(help="The mesh.yaml configuration: its JSON Schema.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add these commands to the ``dictamesh`` app (one line in ``cli/main.py``)."""
    app.add_typer(adapters_app, name="adapters")
    # ``dictamesh adapter sample crm`` reads as one adapter: the same group, singular
    app.add_typer(adapters_app, name="adapter", hidden=True)
    app.add_typer(plugins_app, name="plugins")
    app.add_typer(config_app, name="config")
    app.command("check")(check)


# --- plugins ---------------------------------------------------------------------------------


class PluginGroup(StrEnum):
    ADAPTERS = "adapters"
    BUSES = "buses"
    CACHES = "caches"
    NOTIFICATION_CHANNELS = "notification_channels"


def _registry(group: PluginGroup) -> PluginRegistry[Any]:
    if group is PluginGroup.ADAPTERS:
        from dictamesh.adapters.registry import AdapterRegistry

        return AdapterRegistry().kinds
    if group is PluginGroup.BUSES:
        from dictamesh.events.registry import bus_backends

        return bus_backends()
    if group is PluginGroup.CACHES:
        from dictamesh.cache.registry import cache_layers

        return cache_layers()
    from dictamesh.notifications.channels.registry import channel_kinds

    return channel_kinds()


def _users(group: PluginGroup, settings: DictaMeshSettings) -> Callable[[str], list[str]]:
    """Which settings use the plugin called ``name`` (adapter names, ``bus.backend``, ...)."""
    if group is PluginGroup.ADAPTERS:
        return lambda name: [a.name for a in settings.adapters if a.kind == name]
    if group is PluginGroup.BUSES:
        return lambda name: ["bus.backend"] if settings.bus.backend == name else []
    if group is PluginGroup.CACHES:
        return lambda name: ["cache.layers"] if name in settings.cache.layer_names else []
    channels = settings.notifications.channels
    return lambda name: [n for n, c in channels.items() if c.kind == name]


def plugin_rows(groups: Sequence[PluginGroup], settings: DictaMeshSettings) -> list[dict[str, Any]]:
    """One row per installed plugin: loaded (a broken one is disabled, with why) and the
    settings that use it."""
    rows = []
    for group in groups:
        used = _users(group, settings)
        for name, plugin in _registry(group).available().items():
            rows.append(
                {
                    "group": group.value,
                    "name": name,
                    "target": plugin.target,
                    "state": "enabled" if plugin.enabled else "disabled",
                    "reason": plugin.error,
                    "used_by": used(name),
                }
            )
    return rows


def _for(fmt: OutputFormat, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as printed: in a table ``used_by`` is a comma-separated list (``-``: unused)."""
    if fmt is OutputFormat.JSON:
        return rows
    return [{**r, "used_by": ", ".join(r["used_by"]) or None} for r in rows]


@adapters_app.command("list")
def adapters_list(config: ConfigOpt = None, fmt: FormatOpt = OutputFormat.TABLE) -> None:
    """Installed adapter kinds: enabled, or disabled and why, and who uses each.

    Kinds come from the entry-point group dictamesh.adapters; used_by names the adapters of
    the config (-c, else the environment) of that kind.
    """
    rows = plugin_rows([PluginGroup.ADAPTERS], load_settings(config))
    shown = [{"kind": r["name"], **{k: v for k, v in r.items() if k != "name"}} for r in rows]
    for row in shown:
        del row["group"]
    emit(_for(fmt, shown), fmt, columns=["kind", "state", "used_by", "target", "reason"])


GroupOpt = Annotated[
    list[PluginGroup] | None,
    typer.Option("--group", "-g", case_sensitive=False, help="only this group (repeatable)"),
]


@plugins_app.command("list")
def plugins_list(
    config: ConfigOpt = None, group: GroupOpt = None, fmt: FormatOpt = OutputFormat.TABLE
) -> None:
    """Installed plugins of every group: enabled, or disabled and why, and who uses each."""
    rows = plugin_rows(group or list(PluginGroup), load_settings(config))
    emit(_for(fmt, rows), fmt, columns=["group", "name", "state", "used_by", "target", "reason"])


# --- check -----------------------------------------------------------------------------------


def _config_problems(exc: DictaMeshError) -> list[str]:
    problems = exc.details.get("problems")
    if isinstance(problems, list) and problems:
        return [str(p) for p in problems]
    return [exc.message]


def _validate(settings: DictaMeshSettings) -> None:
    """The checks a node makes before it starts, beyond the settings model (rules compile,
    templates render, the policy file loads); none opens a connection."""
    from dictamesh.governance.policy import PolicyEngine
    from dictamesh.notifications.runtime import NodeNotifications
    from dictamesh.router.runtime import NodeRouter

    if settings.notifications.enabled:
        NodeNotifications.check(settings)
    if settings.router.enabled:
        NodeRouter.check(settings)
    if settings.governance.policy_file is not None:
        PolicyEngine.from_file(settings.governance.policy_file)


def _build_adapters(
    settings: DictaMeshSettings,
) -> tuple[list[CheckResult], list[AdapterBase]]:
    """``adapter:<name>`` results (kind installed, adapter built) and the adapters built."""
    from dictamesh.adapters.registry import AdapterRegistry

    registry = AdapterRegistry()
    results, built = [], []
    for config in settings.adapters:
        name = f"adapter:{config.name}"
        try:
            adapter = registry.build(config)
            registry.register(adapter)
        except DictaMeshError as exc:
            results.append(CheckResult(name, CheckStatus.FAIL, exc.message))
            continue
        target = registry.kinds.available()[config.kind].target
        results.append(CheckResult(name, CheckStatus.OK, f"kind {config.kind} ({target})"))
        built.append(adapter)
    return results, built


def _cache_results(settings: DictaMeshSettings) -> list[CheckResult]:
    from dictamesh.cache.registry import cache_layers

    layers = cache_layers()
    results = []
    for name in settings.cache.layer_names:
        try:
            layers.load(name, setting="cache.layers")
        except DictaMeshError as exc:
            results.append(CheckResult(f"cache:{name}", CheckStatus.FAIL, exc.message))
    if "redis" in settings.cache.layer_names and settings.cache.redis_url is None:
        results.append(
            CheckResult("redis", CheckStatus.FAIL, "cache layer 'redis' needs cache.redis_url")
        )
    return results


async def _probe_source(adapter: AdapterBase, timeout: float) -> CheckResult:
    from dictamesh.adapters.probe import probe_adapter

    try:
        async with adapter:
            return await probe_adapter(adapter, timeout=timeout)
    except Exception as exc:  # connect/aclose of a third-party adapter: a line, not a crash
        problem = f"{type(exc).__name__}: {exc}"
        return CheckResult(f"source:{adapter.name}", CheckStatus.FAIL, problem)


async def run_checks(settings: DictaMeshSettings, *, timeout: float) -> list[CheckResult]:
    """Every check after the config's: adapters built, sources, catalog, bus, Redis, schema
    registry; the network ones concurrently, each within ``timeout`` seconds."""
    from dictamesh.cache.probe import probe_redis
    from dictamesh.catalog.probe import probe_catalog
    from dictamesh.events.probe import probe_bus, probe_schema_registry

    built_results, adapters = _build_adapters(settings)
    probes = [_probe_source(a, timeout) for a in adapters]
    probes.append(probe_catalog(settings.catalog, timeout=timeout))
    probes.append(probe_bus(settings.bus, timeout=timeout))
    if settings.cache.redis_url is not None and "redis" in settings.cache.layer_names:
        probes.append(probe_redis(settings.cache.redis_url.get_secret_value(), timeout=timeout))
    if settings.bus.schema_registry_url is not None:
        url = settings.bus.schema_registry_url.get_secret_value()
        probes.append(probe_schema_registry(url, timeout=timeout))
    probed = await asyncio.gather(*probes)
    return [*built_results, *probed, *_cache_results(settings)]


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """Warnings off for the block: the clients log a refused connection, the masker its
    missing key, and a check's line already says so (levels restored: tests share them)."""
    loggers = [logging.getLogger(name) for name in ("aiokafka", "redis", "dictamesh")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _governance_result(settings: DictaMeshSettings) -> CheckResult:
    gs = settings.governance
    policy = str(gs.policy_file) if gs.policy_file else "the built-in default policy"
    if gs.masking_key is None:
        return CheckResult(
            "governance",
            CheckStatus.WARN,
            f"{policy}; governance.masking_key is not set: hashed and tokenized values"
            " differ between nodes and restarts",
        )
    return CheckResult("governance", CheckStatus.OK, f"{policy}; masking key set")


_COUNTED = {CheckStatus.FAIL: "failed", CheckStatus.WARN: "to look at", CheckStatus.SKIP: "skipped"}
_STYLE = {
    CheckStatus.OK: "green",
    CheckStatus.WARN: "yellow",
    CheckStatus.FAIL: "bold red",
    CheckStatus.SKIP: "dim",
}


def _report(results: Sequence[CheckResult], fmt: OutputFormat, code: int) -> None:
    """JSON, or one line per check (never wrapped or cut: a detail is read whole in a CI log)."""
    if fmt is OutputFormat.JSON:
        print_json({"ok": code == 0, "exit_code": code, "checks": [r.to_dict() for r in results]})
        return
    width = max(len(r.check) for r in results)
    for r in results:
        took = "" if r.ms is None else f" [dim]({r.ms:,.0f} ms)[/]"
        console.print(
            f"[{_STYLE[r.status]}]{r.status.value:<4}[/] {escape(r.check):<{width}}"
            f"  {escape(r.detail)}{took}",
            highlight=False,
            soft_wrap=True,
        )
    counts = {status: sum(r.status is status for r in results) for status in CheckStatus}
    parts = [f"{counts[s]} {w}" for s, w in _COUNTED.items() if counts[s]]
    console.print(f"{len(results)} checks: {', '.join(parts) or 'all ok'}", highlight=False)


TimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", min=0.1, max=300, help="seconds each network check may take"),
]


def check(
    config: ConfigOpt = None, fmt: FormatOpt = OutputFormat.TABLE, timeout: TimeoutOpt = 5.0
) -> None:
    """Validate a config and reach its sources, catalog, bus, Redis: one line per check.

    Everything is read-only: nothing is created or written. Exit code 0 when every check
    passed, 1 when one failed, 2 when the config is invalid.
    """
    from dictamesh.core.settings import DictaMeshSettings

    where = str(config) if config else "the environment"
    try:
        settings = DictaMeshSettings.from_yaml(config) if config else DictaMeshSettings()
        with _quiet_logs():
            _validate(settings)
    except DictaMeshError as exc:
        problems = [CheckResult("config", CheckStatus.FAIL, p) for p in _config_problems(exc)]
        _report(problems, fmt, 2)
        raise typer.Exit(2) from None
    except ValueError as exc:  # pydantic: a malformed DICTAMESH_* variable
        _report([CheckResult("config", CheckStatus.FAIL, str(exc).splitlines()[0])], fmt, 2)
        raise typer.Exit(2) from None
    summary = (
        f"{where}: valid; {len(settings.adapters)} adapter(s), bus {settings.bus.backend},"
        f" cache {'+'.join(settings.cache.layer_names)}"
    )
    results = [CheckResult("config", CheckStatus.OK, summary), _governance_result(settings)]
    with _quiet_logs():
        results += asyncio.run(run_checks(settings, timeout=timeout))
    code = 1 if any(r.failed for r in results) else 0
    _report(results, fmt, code)
    raise typer.Exit(code)


# --- adapter sample --------------------------------------------------------------------------

_WITHHELD = "[withheld]"


async def _sample(
    settings: DictaMeshSettings, name: str, limit: int, roles: list[str]
) -> dict[str, Any]:
    from dictamesh.adapters.registry import AdapterRegistry
    from dictamesh.core.models import MAX_QUERY_LIMIT, Query
    from dictamesh.core.principal import Principal
    from dictamesh.governance.enforce import CHANNEL_CLI, Governance, default_policy
    from dictamesh.governance.policy import PolicyEngine
    from dictamesh.governance.runtime import masker_from_settings

    config = next(a for a in settings.adapters if a.name == name)
    gs = settings.governance
    policy = (
        PolicyEngine.from_file(gs.policy_file)
        if gs.policy_file is not None
        else default_policy(settings.auth.admin_role)
    )
    governance = Governance(policy, masker=masker_from_settings(settings))
    principal = Principal("dictamesh-cli", frozenset(roles)) if roles else None
    items: list[Entity] = []
    async with AdapterRegistry().build(config) as adapter:
        cursor = None
        while len(items) < limit:  # a page holds at most MAX_QUERY_LIMIT
            size = min(limit - len(items), MAX_QUERY_LIMIT)
            page = await adapter.query_entities(Query(limit=size, cursor=cursor))
            items += page.items[:size]
            cursor = page.next_cursor
            if cursor is None or not page.items:
                break
        schema = adapter.get_schema()
    redactor = governance.redactor(principal, channel=CHANNEL_CLI)
    entities = [
        {"id": e.id, "attributes": redactor.attributes(schema, e.attributes, entity_id=e.id)}
        for e in items
    ]
    return {
        "adapter": name,
        "entity_type": schema.entity_type,
        "count": len(entities),
        "withheld": redactor.denied,
        "entities": entities,
    }


@adapters_app.command("sample")
def adapter_sample(
    name: Annotated[str, typer.Argument(help="a configured adapter's name")],
    config: ConfigOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=1000, help="entities to read (1..1000)")
    ] = 5,
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            help="read as a caller with this role (repeatable); governance decides what is"
            " masked or withheld (default: an anonymous caller)",
        ),
    ] = None,
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Read a few entities from one configured adapter, masked as governance masks them.

    The caller is anonymous unless --role is given, so classified fields (pii_*,
    confidential) are masked or withheld as the policy says. Only the source is contacted:
    no bus, no catalog, nothing written.
    """
    settings = load_settings(config)
    names = [a.name for a in settings.adapters]
    if name not in names:
        fail(f"no adapter named {name!r} in {config or 'the settings'}; configured: "
             f"{', '.join(names) or 'none'}")  # fmt: skip
    roles = [r.strip() for item in role or [] for r in item.split(",") if r.strip()]
    try:
        with _quiet_logs():
            sample = asyncio.run(_sample(settings, name, limit, roles))
    except ConfigurationError as exc:  # the adapter's options, the policy file
        fail(exc.message)
    except DictaMeshError as exc:  # the source failed
        fail(exc.message, 1)
    if fmt is OutputFormat.JSON:
        print_json(sample)
        return
    withheld = set(sample["withheld"])
    # one field/value table per entity: a row per entity would not fit a terminal's width
    for entity in sample["entities"]:
        console.print(f"[bold]{sample['entity_type']} {escape(entity['id'])}[/]", highlight=False)
        attributes = entity["attributes"]
        emit(
            {k: _WITHHELD if v is None and k in withheld else v for k, v in attributes.items()},
            fmt,
        )
    console.print(
        f"{sample['count']} {sample['entity_type']} entit{'y' if sample['count'] == 1 else 'ies'}"
        f" from {name}" + (f"; withheld: {', '.join(sample['withheld'])}" if withheld else ""),
        highlight=False,
        soft_wrap=True,
    )


# --- config schema ---------------------------------------------------------------------------


@config_app.command("schema")
def config_schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to this file (default: stdout)")
    ] = None,
) -> None:
    """Print the JSON Schema (2020-12) of mesh.yaml, for editor completion.

    Save it (-o mesh.schema.json) and put `# yaml-language-server:
    $schema=./mesh.schema.json` on the first line of mesh.yaml.
    """
    from dictamesh.core.config_schema import settings_json_schema

    text = json.dumps(settings_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    if output.is_dir():
        fail(f"{output} is a directory: give a file name (e.g. {output / 'mesh.schema.json'})")
    if not output.parent.is_dir():
        fail(f"cannot write {output}: the directory {output.parent} does not exist")
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    console.print(f"wrote {output}", highlight=False, soft_wrap=True)
