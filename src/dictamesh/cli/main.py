"""The ``dictamesh`` command line.

Bad input (a missing or invalid config file, an unknown option value) ends with a one-line
message and exit code 2; a failed ``demo --check`` step ends with exit code 1. Conventions
(``--format``, ``-c``, completion): ``docs/cli.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape

import dictamesh.cli._help  # noqa: F401  (flags without a "<bool>" type in help)
from dictamesh.cli._catalog_commands import ConfigOpt, fail, load_settings
from dictamesh.cli._output import FormatOpt, JsonOpt, OutputFormat, chosen_format
from dictamesh.cli._progress import Steps
from dictamesh.cli.bus import bus_app
from dictamesh.cli.checks import register as register_checks
from dictamesh.cli.codegen import codegen
from dictamesh.cli.governance import governance_app, policy_app
from dictamesh.cli.notify import notify_app
from dictamesh.cli.quality import quality_app
from dictamesh.cli.saga import saga_app
from dictamesh.cli.scaffold import init, new_app
from dictamesh.cli.schema import ApiKeyOpt, TokenOpt, schema_app
from dictamesh.core.errors import DictaMeshError

__all__ = ["app", "main"]

app = typer.Typer(
    name="dictamesh",
    help="DictaMesh: a data mesh framework — adapters, event bus, catalog, GraphQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
migrate_app = typer.Typer(help="Catalog database migrations.", no_args_is_help=True)
app.add_typer(migrate_app, name="migrate")
auth_app = typer.Typer(help="Development credentials: tokens, API keys.", no_args_is_help=True)
app.add_typer(auth_app, name="auth")
app.add_typer(governance_app, name="governance")
app.add_typer(policy_app, name="policy")
app.add_typer(saga_app, name="saga")
app.add_typer(notify_app, name="notify")
app.command("init")(init)
app.add_typer(new_app, name="new")
app.add_typer(schema_app, name="schema")
app.command("codegen")(codegen)
register_checks(app)  # adapters, adapter, plugins, config, check
app.add_typer(bus_app, name="bus")
app.add_typer(quality_app, name="quality")

console = Console()
err = Console(stderr=True)


def _show_version(value: bool) -> None:
    if value:
        from dictamesh import __version__

        typer.echo(f"dictamesh {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """DictaMesh: a data mesh framework — adapters, event bus, catalog, GraphQL."""


class Backend(StrEnum):
    EMBEDDED = "embedded"
    PRODUCTION = "production"


BackendOpt = Annotated[
    Backend,
    typer.Option(
        "--backend",
        case_sensitive=False,
        help="embedded (no servers) or production (Kafka+PostgreSQL+Redis)",
    ),
]


def _backend(value: Backend) -> Literal["embedded", "production"]:
    return "production" if value is Backend.PRODUCTION else "embedded"


@app.command()
def demo(
    check: Annotated[bool, typer.Option("--check", help="run the scenario headless")] = False,
    backend: BackendOpt = Backend.EMBEDDED,
    port: Annotated[int, typer.Option(help="API port (0 = any free port)")] = 8000,
    timeout: Annotated[float, typer.Option(help="seconds to wait for each change")] = 30.0,
) -> None:
    """Start four sample sources and a mesh node; with --check, prove the flow end to end."""
    from dictamesh.core.errors import ConfigurationError
    from dictamesh.demo import check_demo_kinds

    chosen = _backend(backend)
    try:
        check_demo_kinds()  # before .dictamesh/demo or any socket exists
    except ConfigurationError as exc:
        fail(exc.message)
    if check:
        raise typer.Exit(asyncio.run(_demo_check(chosen, timeout)))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_demo_forever(chosen, port))


async def _demo_check(backend: Literal["embedded", "production"], timeout: float) -> int:
    from dictamesh.demo import StepResult, run_check

    console.print(f"[bold]DictaMesh demo check[/] on the {backend} backend")
    # a spinner on the step running now (a terminal only: a pipe gets the result lines)
    status = console.status("") if console.is_terminal else None

    def starting(name: str) -> None:
        if status is not None:
            status.update(escape(name))
            status.start()

    def report(step: StepResult) -> None:
        if status is not None:
            status.stop()
        mark = "[green]✓[/]" if step.ok else "[red]✗[/]"
        console.print(f" {mark} {escape(step.name)} [dim]({step.seconds * 1000:,.0f} ms)[/]")
        if step.detail:
            # escaped: details quote data ("[normal] customer 1 updated" is no style)
            console.print(f"     [dim]{escape(step.detail)}[/]", highlight=False)

    try:
        results = await run_check(report, backend=backend, timeout=timeout, starting=starting)
    finally:
        if status is not None:
            status.stop()
    failed = [r for r in results if not r.ok]
    if failed or not results:
        where = escape(failed[0].name) if failed else "?"
        err.print(f"[bold red]demo check failed[/] at step: {where}")
        return 1
    total = sum(r.seconds for r in results)
    console.print(f"[bold green]demo check passed[/]: {len(results)} steps in {total:.2f}s")
    return 0


async def _demo_forever(backend: Literal["embedded", "production"], port: int) -> None:
    from dictamesh.demo import otel_sdk_installed, run_demo_mesh

    state = Path(".dictamesh/demo")
    # /debug/traces needs the OpenTelemetry SDK; without the extra the demo runs without it
    traces = otel_sdk_installed()
    try:
        async with contextlib.AsyncExitStack() as stack:
            with Steps(console) as steps:
                mesh = await stack.enter_async_context(
                    run_demo_mesh(
                        state, backend=backend, port=port, traces=traces, on_step=steps.start
                    )
                )
            _print_demo(mesh, traces)
            await asyncio.Event().wait()
    except OSError as exc:
        fail(f"cannot start the demo: {exc} (is port {port} free? try --port 0)")


def _print_demo(mesh: Any, traces: bool) -> None:
    console.print("[bold green]DictaMesh demo mesh is running[/] (Ctrl+C stops it)")
    for label, url in (
        ("Catalog browser", f"{mesh.api_url}/ui/"),
        ("GraphQL (GraphiQL)", mesh.graphql_url),
        ("REST catalog", f"{mesh.api_url}/api/v1/entities/customer/1"),
        ("Relationship graph", f"{mesh.api_url}/api/v1/entities/customer/1/graph?depth=3"),
        ("Readiness", f"{mesh.api_url}/ready"),
        ("Prometheus metrics", f"{mesh.api_url}/metrics"),
        (
            "Recent traces (OpenTelemetry)",
            f"{mesh.api_url}/debug/traces?root=graphql&limit=5"
            if traces
            else "off: pip install 'dictamesh[otel]' to see them",
        ),
        ("Customers CMS (Directus-style)", f"{mesh.sources.customers_url}/items/customers"),
        ("Products API", f"{mesh.sources.products_url}/v1/products"),
        ("Invoices API", f"{mesh.sources.invoices_url}/api/invoices"),
        ("Payments API", f"{mesh.sources.payments_url}/v1/charges"),
        ("Sagas (POST create-invoice)", f"{mesh.api_url}/api/v1/sagas"),
    ):
        # soft_wrap: a URL broken over two lines cannot be clicked or copied
        console.print(f"  {label:<32} {url}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def serve(
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML node config")],
    host: Annotated[str | None, typer.Option(help="override api.host")] = None,
    port: Annotated[int | None, typer.Option(help="override api.port")] = None,
    subgraph: Annotated[
        str | None,
        typer.Option(
            "--subgraph",
            help="serve only this federation subgraph (a domain, or 'catalog') on /graphql;"
            " only with the api role (an ingest node without it: only 'catalog');"
            " default port: api.port + 1 + its place in `dictamesh supergraph`",
        ),
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            help="what this node runs (repeat or comma-separate): all (default: everything,"
            " plus the router when router.enabled); api (REST + GraphQL, cache"
            " invalidation); capture (change capture, webhooks); ingest (catalog ingest of"
            " every configured topic, catalog REST + subgraph); saga (saga workers); notify"
            " (notification rules and delivery); router (the event router)."
            " Nodes without api or ingest serve only /health, /ready, /metrics",
        ),
    ] = None,
    workers: Annotated[
        str | None,
        typer.Option(
            "--workers",
            help="processes serving the port, each a node of these roles; 0 or auto: one"
            " per CPU core (default: api.workers, 1)",
        ),
    ] = None,
) -> None:
    """Start a mesh node from a YAML config naming adapters and backends.

    SIGTERM or SIGINT shut it down gracefully: /ready answers 503 for
    api.shutdown_delay_seconds, then requests in flight get api.timeout_graceful_shutdown
    seconds, then the consumers finish their batch (docs/scale-out.md)."""
    from dictamesh.node import NodeRole, parse_roles

    try:
        roles = parse_roles(role or [])
    except DictaMeshError as exc:
        fail(exc.message)
    settings = _checked_settings(config, roles)
    if subgraph is not None:
        port = _subgraph_port(settings, roles, subgraph, port)
    host = host or settings.api.host
    port = settings.api.port if port is None else port  # 0: any free port
    count = _worker_count(settings, workers)
    if count > 1 and roles != {NodeRole.ROUTER}:  # the router alone: one process
        from dictamesh.cli._workers import run_workers

        raise typer.Exit(
            run_workers(settings, count, roles, subgraph, host, port, _say, fail, _serve)
        )
    with contextlib.suppress(KeyboardInterrupt):
        if roles == {NodeRole.ROUTER}:
            asyncio.run(_serve_router(settings, host, port))
        else:
            asyncio.run(_serve(settings, host, port, subgraph, roles))


def _worker_count(settings: Any, workers: str | None) -> int:
    """``--workers`` (else ``api.workers``) as a number of processes (exit 2 if invalid)."""
    from pydantic import ValidationError

    api = settings.api
    if workers is not None:
        try:
            api = api.model_validate({**api.model_dump(), "workers": workers.strip().lower()})
        except ValidationError:
            fail(f"--workers {workers!r}: a number of processes (1-256), or 0 / auto: one per core")
    return int(api.worker_count())


def _subgraph_port(settings: Any, roles: frozenset[Any], subgraph: str, port: int | None) -> int:
    """The port of ``--subgraph`` (exit 2 when the roles serve no such GraphQL)."""
    from dictamesh.gateway.federation import default_subgraph_port
    from dictamesh.node import NodeRole

    api = NodeRole.ALL in roles or NodeRole.API in roles
    if not api and NodeRole.INGEST not in roles:
        fail("--subgraph serves GraphQL: only with --role api or ingest (or all)")
    names = _subgraph_names(settings)
    if subgraph not in names:
        fail(f"unknown subgraph {subgraph!r}; this mesh has: {', '.join(names)}")
    if not api and subgraph != "catalog":
        fail(f"--role ingest serves only the 'catalog' subgraph, not {subgraph!r}: add --role api")
    return default_subgraph_port(names, subgraph, settings.api.port) if port is None else port


@app.command("router")
def router_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML node config")],
    host: Annotated[str | None, typer.Option(help="override api.host")] = None,
    port: Annotated[int | None, typer.Option(help="override api.port")] = None,
) -> None:
    """Run the event router (what serve --role router runs): rules from router.rules or
    router.rules_file; /health, /ready and /metrics on api.host:api.port."""
    from dictamesh.node import NodeRole

    settings = _checked_settings(config, frozenset({NodeRole.ROUTER}))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            _serve_router(
                settings, host or settings.api.host, settings.api.port if port is None else port
            )
        )


def _checked_settings(config: Path, roles: frozenset[Any]) -> Any:
    """Settings whose notification and router rules compile (exit 2 naming the line)."""
    from dictamesh.adapters.registry import AdapterRegistry
    from dictamesh.core.settings import DictaMeshSettings
    from dictamesh.node import NodeRole
    from dictamesh.notifications.runtime import NodeNotifications
    from dictamesh.router.runtime import NodeRouter

    router_only = roles == {NodeRole.ROUTER}
    try:
        settings = DictaMeshSettings.from_yaml(config)
        # an unknown kind now, before the node creates its bus and catalog files
        if not router_only:
            registry = AdapterRegistry()
            for adapter in settings.adapters:
                registry.load_kind(adapter.kind)
        # rules and templates fail now, not at 3 a.m.
        if settings.notifications.enabled and not router_only:
            NodeNotifications.check(settings)
        if settings.router.enabled or NodeRole.ROUTER in roles:
            NodeRouter.check(settings)
    except DictaMeshError as exc:
        fail(exc.message)
    # a role whose part is switched off would run nothing
    if NodeRole.SAGA in roles and not settings.saga.enabled:
        fail("--role saga runs the saga workers, but saga.enabled is false in this config")
    if NodeRole.NOTIFY in roles and not settings.notifications.enabled:
        fail("--role notify runs notifications, but notifications.enabled is false")
    return settings


def _say(kind: str, text: str) -> None:
    """What ``serve`` prints (one process); a worker of ``serve --workers`` tells its
    supervisor instead (``kind``: listening, phase, stopped)."""
    console.print(text, markup=False, highlight=False, soft_wrap=kind == "listening")


async def _serve_node(
    node: Any,
    app: Any,
    host: str,
    port: int,
    describe: Any,
    *,
    sock: Any = None,
    say: Any = _say,
) -> None:
    """Serve ``app`` until SIGTERM/SIGINT, then shut down in phases (cli/_graceful.py);
    once listening, print ``describe(url)`` with the port really bound."""
    from dictamesh.cli._graceful import serve_gracefully

    api = node.settings.api

    def listening(url: str) -> None:
        say("listening", describe(url))

    await serve_gracefully(
        app,
        host,
        port,
        drain=node.drain,
        delay=api.shutdown_delay(production=node.settings.environment == "production"),
        timeout=api.timeout_graceful_shutdown,
        on_listening=listening,
        before_close=node.changes.close,  # live subscriptions end now, not at the timeout
        on_phase=lambda message: say("phase", message),
        sock=sock,
    )


async def _serve_router(settings: Any, host: str, port: int) -> None:
    from dictamesh.node import MeshNode, NodeRole

    try:
        async with MeshNode(settings, roles=[NodeRole.ROUTER]) as node:
            assert node.router is not None
            router = node.router
            await _serve_node(
                node,
                node.asgi_app(),
                host,
                port,
                lambda url: (
                    f"DictaMesh router {settings.node_name!r}: {len(router.rules.rules)} rules,"
                    f" reading {', '.join(router.topics) or 'no topics'}; health on {url}"
                ),
            )
    except DictaMeshError as exc:
        fail(exc.message)


async def _serve(
    settings: object,
    host: str,
    port: int,
    subgraph: str | None = None,
    roles: frozenset[Any] | None = None,
    *,
    sock: Any = None,
    say: Any = _say,
    worker: int | None = None,
) -> None:
    from dictamesh.core.settings import DictaMeshSettings
    from dictamesh.gateway.federation import build_subgraph
    from dictamesh.node import MeshNode, NodeRole

    assert isinstance(settings, DictaMeshSettings)
    try:
        async with MeshNode(settings, roles=roles or [NodeRole.ALL]) as node:
            if subgraph is None:
                asgi_app = node.asgi_app()
                what = ""
            else:
                if subgraph == "catalog":
                    schema = node.catalog_subgraph()
                else:
                    schema = build_subgraph(node.registry.schemas(), subgraph, catalog=node.catalog)
                asgi_app = node.asgi_app(graphql_schema=schema)
                what = f", federation subgraph {subgraph!r} at /graphql"
            if worker is not None:  # serve --workers: which process answered a scrape
                _worker_info(node.metrics.registry, worker)
            name = settings.node_name
            await _serve_node(
                node,
                asgi_app,
                host,
                port,
                lambda url: f"DictaMesh node {name!r} on {url}{what}\n{_runs(node)}",
                sock=sock,
                say=say,
            )
        say("stopped", "stopped")
    except DictaMeshError as exc:
        fail(exc.message)


def _worker_info(registry: Any, index: int) -> None:
    """``dictamesh_worker_info{worker, pid}`` = 1 on worker ``index``'s ``/metrics`` (a
    scrape of the shared port reaches one worker: this says which)."""
    import os

    from prometheus_client import Gauge

    info = Gauge(
        "dictamesh_worker_info",
        "1 on each serve --workers process: its index and pid",
        ["worker", "pid"],
        registry=registry,
    )
    info.labels(str(index), str(os.getpid())).set(1)


def _runs(node: Any) -> str:
    """What the node runs, for the start-up message: its roles, tasks and HTTP."""
    from dictamesh.node import NodeRole

    roles = ", ".join(f"{r.value} ({r.runs})" for r in sorted(node.roles))
    tasks = ", ".join(sorted(node.supervisor.health())) or "none"
    if node.serves_api:
        http = "REST + GraphQL" if node.runs(NodeRole.API) else "catalog REST + subgraph"
    else:
        webhooks = ", /webhooks" if node.runs(NodeRole.CAPTURE) else ""
        http = f"/health, /ready, /metrics{webhooks} only"
    return f"  roles: {roles}\n  background tasks: {tasks}\n  HTTP: {http}"


def _mesh_schemas(settings: object) -> dict[str, Any]:
    """Entity schemas of the configured adapters, read without connecting to any source."""
    from dictamesh.adapters.registry import AdapterRegistry
    from dictamesh.core.settings import DictaMeshSettings

    assert isinstance(settings, DictaMeshSettings)
    try:
        registry = AdapterRegistry.configured(settings.adapters)
    except DictaMeshError as exc:
        fail(exc.message)
    return dict(registry.schemas())


def _subgraph_names(settings: object) -> list[str]:
    from dictamesh.gateway.federation import subgraph_names

    try:
        return subgraph_names(_mesh_schemas(settings))
    except DictaMeshError as exc:
        fail(exc.message)


class SupergraphFormat(StrEnum):
    YAML = "yaml"
    JSON = "json"


@app.command()
def supergraph(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML node config (default: DICTAMESH_* env)"),
    ] = None,
    fmt: Annotated[
        SupergraphFormat,
        typer.Option(
            "--format",
            "-f",
            case_sensitive=False,
            help="yaml: Apollo supergraph.yaml for rover; json: name/url/sdl list"
            " (@apollo/gateway IntrospectAndCompose, tests/federation/gateway.mjs --config)",
        ),
    ] = SupergraphFormat.YAML,
    urls: Annotated[
        list[str] | None,
        typer.Option(
            "--url",
            help="NAME=URL of a subgraph (repeatable); default:"
            " http://api.host:<api.port + 1 + i>/graphql, as `serve --subgraph` listens",
        ),
    ] = None,
) -> None:
    """Print the federation subgraphs of a mesh (URL and SDL) as a router's composition config."""
    from dictamesh.gateway.federation import (
        default_subgraph_urls,
        mesh_subgraphs,
        supergraph_config,
    )

    settings = load_settings(config)
    if not settings.adapters:
        fail("no adapters configured: pass --config with an `adapters` list")
    names = _subgraph_names(settings)
    chosen = default_subgraph_urls(names, settings.api.host, settings.api.port)
    for item in urls or []:
        name, sep, url = item.partition("=")
        if not sep or not url.startswith(("http://", "https://")):
            fail(f"--url must be NAME=http(s)://..., not {item!r}")
        if name not in names:
            fail(f"--url names unknown subgraph {name!r}; this mesh has: {', '.join(names)}")
        chosen[name] = url
    try:
        subgraphs = mesh_subgraphs(_mesh_schemas(settings), chosen)
    except DictaMeshError as exc:
        fail(exc.message)
    chosen_fmt: Literal["json", "yaml"] = "json" if fmt is SupergraphFormat.JSON else "yaml"
    typer.echo(supergraph_config(subgraphs, chosen_fmt), nl=False)


def _migration(
    action: Literal["up", "down", "status"], config: Path | None, url: str | None, revision: str
) -> None:
    from dictamesh.catalog import migrate

    catalog = load_settings(config).catalog
    # migrations run as the tables' owner (docs/tenancy.md), not as the application
    target = url or (catalog.migration_url or catalog.url).get_secret_value()
    versions = catalog.migrations_dir
    try:
        if action == "up":
            asyncio.run(migrate.upgrade(target, revision, versions=versions))
            console.print(f"catalog migrated up to {revision}", markup=False)
        elif action == "down":
            asyncio.run(migrate.downgrade(target, revision, versions=versions))
            console.print(f"catalog migrated down to {revision}", markup=False)
        else:
            status = asyncio.run(migrate.status(target, versions=versions))
            console.print(f"current: {status.current}  head: {status.head}", markup=False)
            for rev in status.pending:
                console.print(f"  pending: {rev}", markup=False)
    except DictaMeshError as exc:
        fail(exc.message)


UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="catalog database URL, as the role owning the tables"
        " (default: catalog.migration_url, else catalog.url)",
    ),
]


@migrate_app.command("up")
def migrate_up(config: ConfigOpt = None, url: UrlOpt = None, revision: str = "head") -> None:
    """Apply migrations up to REVISION (default head): the catalog's, then the project's
    (catalog.migrations_dir)."""
    _migration("up", config, url, revision)


@migrate_app.command("down")
def migrate_down(config: ConfigOpt = None, url: UrlOpt = None, revision: str = "-1") -> None:
    """Revert migrations down to REVISION (default one step)."""
    _migration("down", config, url, revision)


@migrate_app.command("status")
def migrate_status(config: ConfigOpt = None, url: UrlOpt = None) -> None:
    """Show the current and pending revisions."""
    _migration("status", config, url, "head")


@migrate_app.command("new")
def migrate_new(
    message: Annotated[str, typer.Argument(help="what the migration does, e.g. 'add loyalty'")],
    config: ConfigOpt = None,
    versions: Annotated[
        Path | None,
        typer.Option(
            "--versions-dir",
            file_okay=False,
            help="the project's revisions directory (default: catalog.migrations_dir)",
        ),
    ] = None,
    metadata: Annotated[
        str | None,
        typer.Option(
            "--metadata",
            help="module:attribute of the project's SQLAlchemy MetaData"
            " (default: catalog.migrations_metadata)",
        ),
    ] = None,
) -> None:
    """Autogenerate the project's next migration (its own tables, chained after the
    catalog's) from its SQLAlchemy MetaData; no database needed."""
    from dictamesh.catalog import migrate

    catalog = load_settings(config).catalog
    versions = versions or catalog.migrations_dir
    metadata = metadata or catalog.migrations_metadata
    if versions is None:
        fail("where do the project's migrations go? set catalog.migrations_dir or --versions-dir")
    if metadata is None:
        fail("which tables? set catalog.migrations_metadata or --metadata module:attribute")
    if not versions.is_dir():
        fail(f"{versions} is not a directory (create it: mkdir -p {versions})")
    if "." not in sys.path and "" not in sys.path:
        sys.path.insert(0, "")  # the project's own package, from where the command runs
    try:
        written = migrate.new_revision(message, versions, metadata)
    except DictaMeshError as exc:
        fail(exc.message)
    with contextlib.suppress(ValueError):  # shown relative to here when it is below
        written = written.relative_to(Path.cwd())
    console.print(f"wrote {written}", markup=False, highlight=False)


@auth_app.command("token")
def auth_token(
    sub: Annotated[str, typer.Option("--sub", help="subject: the user or client id")],
    roles: Annotated[
        list[str] | None, typer.Option("--roles", help="roles (repeat, or comma-separate)")
    ] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="tenant claim")] = None,
    ttl: Annotated[int, typer.Option("--ttl", min=1, help="lifetime in seconds")] = 3600,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="node YAML: secret, issuer, claims")
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option(envvar="DICTAMESH_AUTH__JWT_SECRET", help="HS256 secret (prefer the env)"),
    ] = None,
) -> None:
    """Print a development HS256 token signed with auth.jwt_secret (not for production)."""
    from dictamesh.auth import mint_dev_token
    from dictamesh.core.settings import AuthSettings, DictaMeshSettings

    try:
        auth = DictaMeshSettings.from_yaml(config).auth if config else AuthSettings()
    except DictaMeshError as exc:
        fail(exc.message)
    key = secret or (auth.jwt_secret.get_secret_value() if auth.jwt_secret else None)
    if not key or len(key.encode()) < 32:
        fail("an HS256 secret of at least 32 bytes is needed: --secret, --config or the env")
    token = mint_dev_token(
        key,
        sub,
        roles=[r.strip() for item in roles or [] for r in item.split(",") if r.strip()],
        tenant=tenant,
        issuer=auth.issuer,
        audience=auth.audience[0] if auth.audience else None,
        ttl_seconds=ttl,
        roles_claim=auth.roles_claim,
        tenant_claim=auth.tenant_claim,
    )
    typer.echo(token)  # plain stdout, never wrapped: TOKEN=$(dictamesh auth token ...)


@auth_app.command("api-key")
def auth_api_key() -> None:
    """Print a new API key and the SHA-256 to put in auth.api_keys (the key is shown once)."""
    from dictamesh.auth import generate_api_key, hash_api_key

    key = generate_api_key()
    typer.echo(f"key:    {key}")
    typer.echo(f"sha256: {hash_api_key(key)}")


@app.command()
def status(
    url: Annotated[
        str | None, typer.Option("--url", help="node base URL (default: api.host/api.port)")
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the answer")] = 5.0,
    fmt: FormatOpt = OutputFormat.TABLE,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    token: TokenOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Ask a running node whether it is ready: every dependency and adapter, with why, and
    each adapter's SLA over the node's window (``docs/sla.md``).

    Exit code 0 when ready, 1 when not ready or unreachable, 2 for bad input.
    """
    from dictamesh.observability.status import run_status

    json_out = chosen_format(fmt, as_json) is OutputFormat.JSON
    if url is None:
        api = load_settings(config).api
        url = f"http://{'127.0.0.1' if api.host in ('0.0.0.0', '::') else api.host}:{api.port}"
    try:
        code = run_status(
            url,
            timeout=timeout,
            out=console,
            err=err,
            as_json=json_out,
            token=token,
            api_key=api_key,
        )
    except DictaMeshError as exc:
        fail(exc.message)
    raise typer.Exit(code)


def main() -> None:
    try:
        app()
    except DictaMeshError as exc:
        try:
            fail(exc.message)
        except typer.Exit as done:
            sys.exit(done.exit_code)
    except Exception as exc:
        from dictamesh.cli._crash import report_crash

        report_crash(app, exc, sys.argv[1:])  # observability.sentry, when configured
        raise
