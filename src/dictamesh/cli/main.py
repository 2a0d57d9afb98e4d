"""The ``dictamesh`` command line.

Bad input (a missing or invalid config file, an unknown option value) ends with a one-line
message and exit code 2; a failed ``demo --check`` step ends with exit code 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import typer
from rich.console import Console

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
    """Start three sample sources and a mesh node; with --check, prove the flow end to end."""
    chosen = _backend(backend)
    if check:
        raise typer.Exit(asyncio.run(_demo_check(chosen, timeout)))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_demo_forever(chosen, port))


async def _demo_check(backend: Literal["embedded", "production"], timeout: float) -> int:
    from dictamesh.demo import StepResult, run_check

    console.print(f"[bold]DictaMesh demo check[/] on the {backend} backend")

    def report(step: StepResult) -> None:
        mark = "[green]✓[/]" if step.ok else "[red]✗[/]"
        console.print(f" {mark} {step.name} [dim]({step.seconds * 1000:,.0f} ms)[/]")
        if step.detail:
            console.print(f"     [dim]{step.detail}[/]", highlight=False)

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
        mesh_cm = run_demo_mesh(state, backend=backend, port=port)
        async with mesh_cm as mesh:
            console.print("[bold green]DictaMesh demo mesh is running[/] (Ctrl+C stops it)")
            for label, url in (
                ("GraphQL (GraphiQL)", mesh.graphql_url),
                ("REST catalog", f"{mesh.api_url}/api/v1/entities/customer/1"),
                ("Relationship graph", f"{mesh.api_url}/api/v1/entities/customer/1/graph?depth=3"),
                ("Readiness", f"{mesh.api_url}/ready"),
                ("Customers CMS (Directus-style)", f"{mesh.sources.customers_url}/items/customers"),
                ("Products API", f"{mesh.sources.products_url}/v1/products"),
                ("Invoices API", f"{mesh.sources.invoices_url}/api/invoices"),
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
) -> None:
    """Start a mesh node from a YAML config naming adapters and backends."""
    from dictamesh.core.settings import DictaMeshSettings

    try:
        settings = DictaMeshSettings.from_yaml(config)
    except DictaMeshError as exc:
        _fail(exc.message)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(settings, host or settings.api.host, port or settings.api.port))


async def _serve(settings: object, host: str, port: int) -> None:
    import uvicorn

    from dictamesh.core.settings import DictaMeshSettings
    from dictamesh.node import MeshNode

    assert isinstance(settings, DictaMeshSettings)
    try:
        async with MeshNode(settings) as node:
            server = uvicorn.Server(
                uvicorn.Config(node.asgi_app(), host=host, port=port, lifespan="off")
            )
            console.print(f"DictaMesh node {settings.node_name!r} on http://{host}:{port}")
            await server.serve()
    except DictaMeshError as exc:
        _fail(exc.message)


def _migration(action: Literal["up", "down", "status"], url: str | None, revision: str) -> None:
    from dictamesh.catalog import migrate
    from dictamesh.core.settings import DictaMeshSettings

    target = url or DictaMeshSettings().catalog.url
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


UrlOpt = Annotated[str | None, typer.Option("--url", help="catalog database URL")]


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


def main() -> None:
    try:
        app()
    except DictaMeshError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        sys.exit(2)
