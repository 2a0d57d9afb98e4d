"""The ``dictamesh`` command line.

Bad input (a missing or invalid config file, an unknown option value) ends with a one-line
message and exit code 2; a failed ``demo --check`` step ends with exit code 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from rich.console import Console

from dictamesh.cli.bus import bus_app
from dictamesh.cli.checks import register as register_checks
from dictamesh.cli.codegen import codegen
from dictamesh.cli.governance import governance_app, policy_app
from dictamesh.cli.notify import notify_app
from dictamesh.cli.saga import saga_app
from dictamesh.cli.scaffold import init, new_app
from dictamesh.cli.schema import schema_app
from dictamesh.core.errors import DictaMeshError

__all__ = ["app", "main"]

app = typer.Typer(
    name="dictamesh",
    help="DictaMesh: a data mesh framework — adapters, event bus, catalog, GraphQL.",
    no_args_is_help=True,
    add_completion=False,
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

console = Console()
err = Console(stderr=True)


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


BackendOpt = Annotated[
    str,
    typer.Option("--backend", help="embedded (no servers) or production (Kafka+PostgreSQL+Redis)"),
]


def _backend(value: str) -> Literal["embedded", "production"]:
    if value not in ("embedded", "production"):
        _fail(f"--backend must be 'embedded' or 'production', not {value!r}")
    return "production" if value == "production" else "embedded"


@app.command()
def demo(
    check: Annotated[bool, typer.Option("--check", help="run the scenario headless")] = False,
    backend: BackendOpt = "embedded",
    port: Annotated[int, typer.Option(help="API port (0 = any free port)")] = 8000,
    timeout: Annotated[float, typer.Option(help="seconds to wait for each change")] = 30.0,
) -> None:
    """Start four sample sources and a mesh node; with --check, prove the flow end to end."""
    chosen = _backend(backend)
    if check:
        raise typer.Exit(asyncio.run(_demo_check(chosen, timeout)))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_demo_forever(chosen, port))


async def _demo_check(backend: Literal["embedded", "production"], timeout: float) -> int:
    from rich.markup import escape

    from dictamesh.demo import StepResult, run_check

    console.print(f"[bold]DictaMesh demo check[/] on the {backend} backend")

    def report(step: StepResult) -> None:
        mark = "[green]✓[/]" if step.ok else "[red]✗[/]"
        console.print(f" {mark} {step.name} [dim]({step.seconds * 1000:,.0f} ms)[/]")
        if step.detail:
            # escaped: details quote data ("[normal] customer 1 updated" is no style)
            console.print(f"     [dim]{escape(step.detail)}[/]", highlight=False)

    results = await run_check(report, backend=backend, timeout=timeout)
    failed = [r for r in results if not r.ok]
    if failed or not results:
        err.print(f"[bold red]demo check failed[/] at step: {failed[0].name if failed else '?'}")
        return 1
    total = sum(r.seconds for r in results)
    console.print(f"[bold green]demo check passed[/]: {len(results)} steps in {total:.2f}s")
    return 0


async def _demo_forever(backend: Literal["embedded", "production"], port: int) -> None:
    from dictamesh.demo import run_demo_mesh

    state = Path(".dictamesh/demo")
    try:
        mesh_cm = run_demo_mesh(state, backend=backend, port=port, traces=True)
        async with mesh_cm as mesh:
            console.print("[bold green]DictaMesh demo mesh is running[/] (Ctrl+C stops it)")
            for label, url in (
                ("GraphQL (GraphiQL)", mesh.graphql_url),
                ("REST catalog", f"{mesh.api_url}/api/v1/entities/customer/1"),
                ("Relationship graph", f"{mesh.api_url}/api/v1/entities/customer/1/graph?depth=3"),
                ("Readiness", f"{mesh.api_url}/ready"),
                ("Prometheus metrics", f"{mesh.api_url}/metrics"),
                (
                    "Recent traces (OpenTelemetry)",
                    f"{mesh.api_url}/debug/traces?root=graphql&limit=5",
                ),
                ("Customers CMS (Directus-style)", f"{mesh.sources.customers_url}/items/customers"),
                ("Products API", f"{mesh.sources.products_url}/v1/products"),
                ("Invoices API", f"{mesh.sources.invoices_url}/api/invoices"),
                ("Payments API", f"{mesh.sources.payments_url}/v1/charges"),
                ("Sagas (POST create-invoice)", f"{mesh.api_url}/api/v1/sagas"),
            ):
                console.print(f"  {label:<32} {url}")
            await asyncio.Event().wait()
    except OSError as exc:
        _fail(f"cannot start the demo: {exc} (is port {port} free? try --port 0)")


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
            " default port: api.port + 1 + its place in `dictamesh supergraph`",
        ),
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            help="what this node runs: all (default: everything, plus the router when"
            " router.enabled) or router (only the event router, /health, /ready, /metrics);"
            " repeat or comma-separate",
        ),
    ] = None,
) -> None:
    """Start a mesh node from a YAML config naming adapters and backends."""
    from dictamesh.node import NodeRole, parse_roles

    try:
        roles = parse_roles(role or [])
    except DictaMeshError as exc:
        _fail(exc.message)
    settings = _checked_settings(config, roles)
    if roles == {NodeRole.ROUTER}:
        if subgraph is not None:
            _fail("--subgraph serves GraphQL: not with --role router")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve_router(settings, host, port))
        return
    if subgraph is not None:
        from dictamesh.gateway.federation import default_subgraph_port

        names = _subgraph_names(settings)
        if subgraph not in names:
            _fail(f"unknown subgraph {subgraph!r}; this mesh has: {', '.join(names)}")
        if port is None:
            port = default_subgraph_port(names, subgraph, settings.api.port)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            _serve(settings, host or settings.api.host, port or settings.api.port, subgraph)
        )


@app.command("router")
def router_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML node config")],
    host: Annotated[str | None, typer.Option(help="override api.host")] = None,
    port: Annotated[int | None, typer.Option(help="override api.port")] = None,
) -> None:
    """Run the event router (``serve --role router``): rules from router.rules or
    router.rules_file, /health, /ready and /metrics on api.host:api.port."""
    from dictamesh.node import NodeRole

    settings = _checked_settings(config, frozenset({NodeRole.ROUTER}))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_router(settings, host, port))


def _checked_settings(config: Path, roles: frozenset[Any]) -> Any:
    """Settings whose notification and router rules compile (exit 2 naming the line)."""
    from dictamesh.core.settings import DictaMeshSettings
    from dictamesh.node import NodeRole
    from dictamesh.notifications.runtime import NodeNotifications
    from dictamesh.router.runtime import NodeRouter

    router_only = roles == {NodeRole.ROUTER}
    try:
        settings = DictaMeshSettings.from_yaml(config)
        # rules and templates fail now, not at 3 a.m.
        if settings.notifications.enabled and not router_only:
            NodeNotifications.check(settings)
        if settings.router.enabled or router_only:
            NodeRouter.check(settings)
    except DictaMeshError as exc:
        _fail(exc.message)
    return settings


async def _serve_router(settings: Any, host: str | None, port: int | None) -> None:
    import uvicorn

    from dictamesh.node import MeshNode, NodeRole

    host = host or settings.api.host
    port = port or settings.api.port
    try:
        async with MeshNode(settings, roles=[NodeRole.ROUTER]) as node:
            server = uvicorn.Server(
                uvicorn.Config(node.asgi_app(), host=host, port=port, lifespan="off")
            )
            assert node.router is not None
            console.print(
                f"DictaMesh router {settings.node_name!r}: {len(node.router.rules.rules)} rules,"
                f" reading {', '.join(node.router.topics) or 'no topics'};"
                f" health on http://{host}:{port}"
            )
            await server.serve()
    except DictaMeshError as exc:
        _fail(exc.message)


async def _serve(settings: object, host: str, port: int, subgraph: str | None = None) -> None:
    import uvicorn

    from dictamesh.core.settings import DictaMeshSettings
    from dictamesh.gateway.federation import build_subgraph
    from dictamesh.node import MeshNode

    assert isinstance(settings, DictaMeshSettings)
    try:
        async with MeshNode(settings) as node:
            if subgraph is None:
                asgi_app = node.asgi_app()
                what = ""
            else:
                schema = build_subgraph(node.registry.schemas(), subgraph, catalog=node.catalog)
                asgi_app = node.asgi_app(graphql_schema=schema)
                what = f", federation subgraph {subgraph!r} at /graphql"
            server = uvicorn.Server(uvicorn.Config(asgi_app, host=host, port=port, lifespan="off"))
            console.print(f"DictaMesh node {settings.node_name!r} on http://{host}:{port}{what}")
            await server.serve()
    except DictaMeshError as exc:
        _fail(exc.message)


def _mesh_schemas(settings: object) -> dict[str, Any]:
    """Entity schemas of the configured adapters, read without connecting to any source."""
    from dictamesh.adapters.registry import AdapterRegistry
    from dictamesh.core.settings import DictaMeshSettings

    assert isinstance(settings, DictaMeshSettings)
    registry = AdapterRegistry()
    try:
        for adapter_config in settings.adapters:
            registry.register(registry.build(adapter_config))
    except DictaMeshError as exc:
        _fail(exc.message)
    return dict(registry.schemas())


def _subgraph_names(settings: object) -> list[str]:
    from dictamesh.gateway.federation import subgraph_names

    try:
        return subgraph_names(_mesh_schemas(settings))
    except DictaMeshError as exc:
        _fail(exc.message)


@app.command()
def supergraph(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML node config (default: DICTAMESH_* env)"),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="yaml: Apollo supergraph.yaml for rover; json: name/url/sdl list"
            " (@apollo/gateway IntrospectAndCompose, tests/federation/gateway.mjs --config)",
        ),
    ] = "yaml",
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
    from dictamesh.core.settings import DictaMeshSettings
    from dictamesh.gateway.federation import (
        default_subgraph_urls,
        mesh_subgraphs,
        supergraph_config,
    )

    if fmt not in ("yaml", "json"):
        _fail(f"--format must be 'yaml' or 'json', not {fmt!r}")
    try:
        settings = DictaMeshSettings.from_yaml(config) if config else DictaMeshSettings()
    except DictaMeshError as exc:
        _fail(exc.message)
    if not settings.adapters:
        _fail("no adapters configured: pass --config with an `adapters` list")
    names = _subgraph_names(settings)
    chosen = default_subgraph_urls(names, settings.api.host, settings.api.port)
    for item in urls or []:
        name, sep, url = item.partition("=")
        if not sep or not url.startswith(("http://", "https://")):
            _fail(f"--url must be NAME=http(s)://..., not {item!r}")
        if name not in names:
            _fail(f"--url names unknown subgraph {name!r}; this mesh has: {', '.join(names)}")
        chosen[name] = url
    try:
        subgraphs = mesh_subgraphs(_mesh_schemas(settings), chosen)
    except DictaMeshError as exc:
        _fail(exc.message)
    typer.echo(supergraph_config(subgraphs, "json" if fmt == "json" else "yaml"), nl=False)


def _migration(action: Literal["up", "down", "status"], url: str | None, revision: str) -> None:
    from dictamesh.catalog import migrate
    from dictamesh.core.settings import DictaMeshSettings

    catalog = DictaMeshSettings().catalog
    # migrations run as the tables' owner (docs/tenancy.md), not as the application
    target = url or (catalog.migration_url or catalog.url).get_secret_value()
    try:
        if action == "up":
            asyncio.run(migrate.upgrade(target, revision))
            console.print(f"catalog migrated up to {revision}")
        elif action == "down":
            asyncio.run(migrate.downgrade(target, revision))
            console.print(f"catalog migrated down to {revision}")
        else:
            status = asyncio.run(migrate.status(target))
            console.print(f"current: {status.current}  head: {status.head}")
            for rev in status.pending:
                console.print(f"  pending: {rev}")
    except DictaMeshError as exc:
        _fail(exc.message)


UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="catalog database URL, as the role owning the tables"
        " (default: catalog.migration_url, else catalog.url)",
    ),
]


@migrate_app.command("up")
def migrate_up(url: UrlOpt = None, revision: str = "head") -> None:
    """Apply migrations up to REVISION (default head)."""
    _migration("up", url, revision)


@migrate_app.command("down")
def migrate_down(url: UrlOpt = None, revision: str = "-1") -> None:
    """Revert migrations down to REVISION (default one step)."""
    _migration("down", url, revision)


@migrate_app.command("status")
def migrate_status(url: UrlOpt = None) -> None:
    """Show the current and pending revisions."""
    _migration("status", url, "head")


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
        _fail(exc.message)
    key = secret or (auth.jwt_secret.get_secret_value() if auth.jwt_secret else None)
    if not key or len(key.encode()) < 32:
        _fail("an HS256 secret of at least 32 bytes is needed: --secret, --config or the env")
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
    as_json: Annotated[bool, typer.Option("--json", help="print /ready's JSON as is")] = False,
) -> None:
    """Ask a running node whether it is ready: every dependency and adapter, with why.

    Exit code 0 when ready, 1 when not ready or unreachable, 2 for bad input.
    """
    from dictamesh.observability.status import run_status

    if url is None:
        from dictamesh.core.settings import DictaMeshSettings

        api = DictaMeshSettings().api
        url = f"http://{'127.0.0.1' if api.host in ('0.0.0.0', '::') else api.host}:{api.port}"
    try:
        code = run_status(url, timeout=timeout, out=console, err=err, as_json=as_json)
    except DictaMeshError as exc:
        _fail(exc.message)
    raise typer.Exit(code)


def main() -> None:
    try:
        app()
    except DictaMeshError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        sys.exit(2)
