"""``dictamesh quality run``: evaluate the data-quality rules over the catalog, for CI.

Reads the rules from the settings (``-c mesh.yaml``, else the environment), evaluates them
(all, or those named by ``--rule``) over the catalog database (``--url`` or the settings'
``catalog.url``) for every tenant with data (or ``--tenant``), stores the run (trigger
``cli``) and prints each rule's result — counts and failing entity ids, never values.

Exit codes: 0 every rule passed (failing ``warn`` rules included); 1 a rule of severity
``error`` failed, or the database failed; 2 bad input (an unknown rule id, a bad config, no
rule configured).

Example::

    dictamesh quality run -c mesh.yaml
    dictamesh quality run --rule invoice-customer-exists --format json
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from dictamesh.cli._catalog_commands import ConfigOpt, UrlOpt, fail, load_settings, on_catalog
from dictamesh.cli._output import FormatOpt, OutputFormat, emit, print_json

if TYPE_CHECKING:
    from dictamesh.catalog.database import CatalogDatabase
    from dictamesh.quality.store import Run

__all__ = ["quality_app"]

quality_app = typer.Typer(
    help="Data quality: evaluate the rules of quality.rules over the catalog.",
    no_args_is_help=True,
)

RuleOpt = Annotated[
    list[str] | None,
    typer.Option("--rule", "-r", help="a rule id to evaluate (repeatable; default: all)"),
]
TenantOpt = Annotated[
    str | None,
    typer.Option("--tenant", help="one tenant (default: every tenant with data)"),
]
_COLUMNS = [
    "tenant",
    "rule_id",
    "entity_type",
    "severity",
    "passed",
    "checked",
    "failing",
    "sample",
    "message",
]


@quality_app.command("run")
def run(
    rule: RuleOpt = None,
    config: ConfigOpt = None,
    url: UrlOpt = None,
    tenant: TenantOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Evaluate the rules now; exit 1 when a rule of severity error failed."""
    from dictamesh.core.errors import ValidationError
    from dictamesh.quality.evaluator import QualityEvaluator, select_rules

    settings = load_settings(config)
    if not settings.quality.all_rules():
        fail("no quality rules configured (quality.rules in the settings)")
    try:
        select_rules(settings.quality, rule)  # unknown ids: exit 2 before the database
    except ValidationError as exc:
        fail(exc.message)

    async def work(database: CatalogDatabase) -> list[Run]:
        evaluator = QualityEvaluator(database, settings.quality, node="cli")
        if tenant is not None:
            return [await evaluator.run(tenant, trigger="cli", rule_ids=rule)]
        return await evaluator.run_all(trigger="cli", rule_ids=rule)

    runs = on_catalog(config, url, work)
    rows: list[dict[str, Any]] = [
        {"tenant": r.tenant, **result.as_dict()} for r in runs for result in r.results
    ]
    if fmt is OutputFormat.JSON:
        print_json({"passed": not _errors(rows), "results": rows})
    else:
        emit(rows, fmt, columns=_COLUMNS)
    if _errors(rows):
        raise typer.Exit(1)


def _errors(rows: list[dict[str, Any]]) -> list[str]:
    return [r["rule_id"] for r in rows if not r["passed"] and r["severity"] == "error"]
