"""``dictamesh governance …`` and ``dictamesh policy …``: classification scans and policy
decisions from the command line.

``policy explain`` exits 0 when the access is allowed and 1 when it is denied, so scripts can
assert a policy (``dictamesh policy explain … || exit 1``); bad input exits 2.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dictamesh.cli._catalog_commands import fail
from dictamesh.cli._output import FormatOpt, OutputFormat, add_plain_row
from dictamesh.cli._progress import Steps
from dictamesh.core.errors import DictaMeshError
from dictamesh.core.models import Classification

__all__ = ["governance_app", "policy_app"]

governance_app = typer.Typer(help="Classification and data-governance tools.", no_args_is_help=True)
policy_app = typer.Typer(help="Access policies: check and explain decisions.", no_args_is_help=True)

console = Console()


class PolicyAction(StrEnum):
    """``governance.policy.Action``, spelled here: importing the policy engine would load the
    whole governance layer on every ``dictamesh`` call (a test keeps the two equal)."""

    READ = "read"
    READ_UNMASKED = "read_unmasked"
    SUBSCRIBE = "subscribe"
    ADMIN = "admin"
    WRITE = "write"


@dataclass(frozen=True)
class _Principal:
    subject: str
    roles: tuple[str, ...]
    tenant: str | None
    claims: dict[str, Any]


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v.strip() for item in values or [] for v in item.split(",") if v.strip())


@policy_app.command("explain")
def explain(
    policy: Annotated[Path, typer.Option("--policy", "-p", help="policy YAML file")],
    action: Annotated[PolicyAction, typer.Option(case_sensitive=False, help="what is asked")],
    entity_type: Annotated[str, typer.Option("--entity-type", help="e.g. customer")],
    field: Annotated[str | None, typer.Option(help="a field of the entity type")] = None,
    tag: Annotated[
        Classification, typer.Option(case_sensitive=False, help="the field's classification")
    ] = Classification.PUBLIC,
    domain: Annotated[str | None, typer.Option(help="the resource's domain")] = None,
    resource_tenant: Annotated[str | None, typer.Option(help="the resource's tenant")] = None,
    sub: Annotated[str | None, typer.Option("--sub", help="subject (omit: anonymous)")] = None,
    roles: Annotated[
        list[str] | None, typer.Option(help="roles (repeat or comma-separate)")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="the principal's tenant")] = None,
    principal_domain: Annotated[
        str | None, typer.Option("--principal-domain", help="the principal's domain (team)")
    ] = None,
    purpose: Annotated[str | None, typer.Option(help="the purpose the request declares")] = None,
    consent: Annotated[
        list[str] | None,
        typer.Option(help="purposes in effect for the data subject (repeat or comma-separate)"),
    ] = None,
) -> None:
    """Decide one access and print why: every rule, matched or skipped with its reason."""
    from dictamesh.governance.policy import PolicyEngine, Resource

    try:
        engine = PolicyEngine.from_file(policy)
    except DictaMeshError as exc:
        fail(exc.message)
    try:
        classification = Classification(tag)
    except ValueError:
        fail(f"unknown tag {tag!r}; one of {', '.join(c.value for c in Classification)}")
    who = None
    if sub is not None:
        claims = {"domain": principal_domain} if principal_domain else {}
        who = _Principal(sub, _split(roles), tenant, claims)
    resource = Resource(entity_type, domain, field, classification, resource_tenant)
    try:
        decision = engine.decide(
            who, action.value, resource, purpose=purpose, consents=frozenset(_split(consent))
        )
    except DictaMeshError as exc:
        fail(exc.message)
    typer.echo(decision.explain())
    raise typer.Exit(0 if decision.allowed else 1)


@governance_app.command("scan")
def scan(
    config: Annotated[Path, typer.Option("--config", "-c", help="node YAML naming adapters")],
    adapter: Annotated[
        list[str] | None, typer.Option(help="only these adapters (repeat); default all")
    ] = None,
    sample: Annotated[
        int, typer.Option(min=1, max=5000, help="entities sampled per adapter")
    ] = 200,
    threshold: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="share of values a detector must confirm")
    ] = 0.6,
    output: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Sample each adapter's data and suggest classification tags for untagged fields."""
    from dictamesh.core.settings import DictaMeshSettings

    try:
        settings = DictaMeshSettings.from_yaml(config)
    except DictaMeshError as exc:
        fail(exc.message)
    names = set(adapter or [])
    configs = [c for c in settings.adapters if not names or c.name in names]
    missing = names - {c.name for c in configs}
    if missing:
        fail(f"no adapter named {', '.join(sorted(missing))} in {config}")
    try:
        # progress on stderr: stdout stays the report (a pipe into jq)
        with Steps(Console(stderr=True)) as steps:
            reports = asyncio.run(_scan(configs, sample, threshold, steps))
    except DictaMeshError as exc:
        fail(exc.message, 1)
    if output is OutputFormat.JSON:
        typer.echo(json.dumps([_report_json(r) for r in reports], indent=2, default=str))
        return
    for report in reports:
        table = Table(title=f"{report.entity_type}: {report.sampled_entities} entities sampled")
        for column in ("field", "current", "suggested", "evidence", "share", "examples"):
            table.add_column(column)
        for s in report.suggestions:
            add_plain_row(table,
                s.field, s.current.value, s.suggested.value, s.evidence,
                f"{s.share:.0%}" if s.evidence != "name" else "-", ", ".join(s.examples),
            )  # fmt: skip
        console.print(table)
        if report.tagged:
            tagged = ", ".join(f"{k}={v.value}" for k, v in report.tagged.items())
            console.print(f"  already tagged: {tagged}", markup=False, highlight=False)


@governance_app.command("erase")
def erase(
    config: Annotated[Path, typer.Option("--config", "-c", help="node YAML (catalog and bus)")],
    entity_type: Annotated[str, typer.Option("--type", help="entity type, e.g. customer")],
    entity_id: Annotated[str, typer.Option("--id", help="the entity's id")],
    tenant: Annotated[str | None, typer.Option(help="the entity's tenant")] = None,
    by: Annotated[
        str | None, typer.Option(help="who asks, for the audit log (default: cli:<OS user>)")
    ] = None,
) -> None:
    """Erase an entity's personal data from the mesh (right to erasure), tell every node
    through a DELETED event, and record the erasure in the audit log."""
    from dictamesh.core.models import EntityRef, validate_entity_id
    from dictamesh.core.settings import DictaMeshSettings

    try:
        settings = DictaMeshSettings.from_yaml(config)
        ref = EntityRef(type=entity_type, id=validate_entity_id(entity_id))
    except DictaMeshError as exc:
        fail(exc.message)
    except ValueError as exc:
        fail(str(exc).splitlines()[0])
    try:
        report = asyncio.run(_erase(settings, ref, tenant, by or f"cli:{_os_user()}"))
    except DictaMeshError as exc:
        fail(exc.message, 1)
    typer.echo(
        f"erased {ref.type} {ref.id} (tenant {report.tenant}): snapshot emptied,"
        f" {report.event_log_rows_scrubbed} event payloads scrubbed, DELETED event"
        f" {report.event_id} published (version {report.version})"
    )


@governance_app.command("export")
def export(
    subject: Annotated[str, typer.Argument(help="the data subject: <type>:<id>, e.g. customer:42")],
    config: Annotated[Path, typer.Option("--config", "-c", help="node YAML (its catalog)")],
    tenant: Annotated[str | None, typer.Option(help="the subject's tenant")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write the bundle here (default: stdout)")
    ] = None,
    by: Annotated[
        str | None, typer.Option(help="who asks, for the audit log (default: cli:<OS user>)")
    ] = None,
) -> None:
    """Everything the mesh holds about a data subject (right of access) as a JSON bundle;
    the export is recorded in the audit log. Exit 2: bad subject; 1: unknown subject."""
    from dictamesh.core.models import EntityRef
    from dictamesh.core.settings import DictaMeshSettings

    try:
        settings = DictaMeshSettings.from_yaml(config)
        ref = EntityRef.parse(subject)
    except DictaMeshError as exc:
        fail(exc.message)
    try:
        bundle = asyncio.run(_export(settings, ref, tenant, by or f"cli:{_os_user()}"))
    except DictaMeshError as exc:
        fail(exc.message, 1)
    text = json.dumps(bundle, indent=2, default=str)
    if output is None:
        typer.echo(text)
        return
    output.write_text(text + "\n", encoding="utf-8")
    counts = ", ".join(f"{n} {name}" for name, n in bundle["manifest"]["counts"].items())
    typer.echo(f"exported {ref} to {output}: {counts}", err=True)


async def _export(settings: Any, ref: Any, tenant: str | None, by: str) -> dict[str, Any]:
    from dictamesh.catalog.service import CatalogService
    from dictamesh.core.context import bind
    from dictamesh.governance.access_export import audit_reason, export_subject
    from dictamesh.governance.audit import AuditEntry, AuditLog

    migration_url = settings.catalog.migration_url
    catalog = await CatalogService.open(
        settings.catalog.url.get_secret_value(),
        migrate=False,  # a database never migrated holds nobody
        pool=settings.catalog.pool,
        migration_url=migration_url.get_secret_value() if migration_url else None,
    )
    try:
        with bind(None, tenant):
            bundle = await export_subject(catalog, ref)
            manifest = bundle["manifest"]
            await AuditLog(catalog).record(
                [
                    AuditEntry(
                        subject=by, roles=(), auth_method="cli", channel="cli",
                        action="admin", entity_type=ref.type, entity_id=ref.id, field=None,
                        classification=None, decision="allow", mask=None, rules=(),
                        reason=audit_reason(bundle), tenant=manifest["tenant"],
                    )
                ]
            )  # fmt: skip
        return bundle
    finally:
        await catalog.aclose()


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (containers)
        return "unknown"


async def _erase(settings: Any, ref: Any, tenant: str | None, by: str) -> Any:
    from dictamesh.catalog.service import CatalogService
    from dictamesh.core.context import bind
    from dictamesh.events.publisher import EventPublisher
    from dictamesh.events.serde import JsonEventSerializer
    from dictamesh.governance.audit import AuditEntry, AuditLog
    from dictamesh.governance.erasure import erase_entity
    from dictamesh.node import build_bus
    from dictamesh.search.store import erase_vectors

    migration_url = settings.catalog.migration_url
    catalog = await CatalogService.open(
        settings.catalog.url.get_secret_value(),
        migrate=False,  # nothing to erase in a database that was never migrated
        pool=settings.catalog.pool,
        migration_url=migration_url.get_secret_value() if migration_url else None,
    )
    bus = build_bus(settings)
    try:
        await bus.connect()
        publisher = EventPublisher(
            bus, JsonEventSerializer(), tenant_topics=settings.tenancy.topic_prefix_per_tenant
        )
        with bind(None, tenant):
            report = await erase_entity(catalog, publisher, ref, steps=[erase_vectors])
            if settings.governance.audit:
                await AuditLog(catalog).record(
                    [
                        AuditEntry(
                            subject=by, roles=(), auth_method="cli", channel="cli",
                            action="admin", entity_type=ref.type, entity_id=ref.id, field=None,
                            classification=None, decision="allow", mask=None, rules=(),
                            reason=f"erasure: snapshot emptied, {report.event_log_rows_scrubbed}"
                            " event payloads scrubbed, DELETED event published",
                            tenant=report.tenant,
                        )
                    ]
                )  # fmt: skip
        return report
    finally:
        await bus.aclose()
        await catalog.aclose()


async def _scan(configs: list[Any], sample: int, threshold: float, steps: Steps) -> list[Any]:
    from dictamesh.adapters.registry import AdapterRegistry
    from dictamesh.governance.scan import scan_adapter

    registry = AdapterRegistry()
    reports = []
    for config in configs:
        steps.start(f"sampling {config.name} ({sample} entities)")
        async with registry.build(config) as built:
            reports.append(await scan_adapter(built, sample_size=sample, threshold=threshold))
    return reports


def _report_json(report: Any) -> dict[str, Any]:
    return {
        "entity_type": report.entity_type,
        "sampled_entities": report.sampled_entities,
        "suggestions": [asdict(s) for s in report.suggestions],
        "tagged": {k: v.value for k, v in report.tagged.items()},
    }


# --- consent and the compliance report ------------------------------------------------------

consent_app = typer.Typer(
    help="Consent records of data subjects (customer:c-1): give, withdraw, show.",
    no_args_is_help=True,
)
governance_app.add_typer(consent_app, name="consent")

_ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="node YAML (the catalog)")]
_TenantOpt = Annotated[str | None, typer.Option(help="the subject's tenant")]


async def _with_consent(settings: Any, tenant: str | None, work: Any) -> Any:
    """Run ``work(catalog, consent)`` against the node's catalog, as ``tenant``."""
    from dictamesh.catalog.service import CatalogService
    from dictamesh.core.context import bind
    from dictamesh.governance.audit import AuditLog
    from dictamesh.governance.consent import ConsentService
    from dictamesh.governance.consent_store import ConsentStore

    migration_url = settings.catalog.migration_url
    catalog = await CatalogService.open(
        settings.catalog.url.get_secret_value(),
        migrate=False,  # a database that was never migrated holds no consent records
        pool=settings.catalog.pool,
        migration_url=migration_url.get_secret_value() if migration_url else None,
    )
    try:
        gs = settings.governance
        consent = ConsentService(
            gs.consent,
            ConsentStore(catalog.database),
            audit=AuditLog(catalog) if gs.audit else None,
        )
        with bind(None, tenant):
            return await work(catalog, consent)
    finally:
        await catalog.aclose()


def _load(config: Path) -> Any:
    from dictamesh.core.settings import DictaMeshSettings

    try:
        return DictaMeshSettings.from_yaml(config)
    except DictaMeshError as exc:
        fail(exc.message)
    except ValueError as exc:
        fail(str(exc).splitlines()[0])


def _change(
    config: Path, subject: str, purpose: str, state: str, evidence: str, source: str,
    by: str | None, tenant: str | None,
) -> None:  # fmt: skip
    from dictamesh.core.models import EntityRef

    settings = _load(config)
    try:
        EntityRef.parse(subject)
        purposes = settings.governance.consent.purposes
        if purpose not in purposes:
            fail(f"unknown purpose {purpose!r}; declared: {', '.join(sorted(purposes))}")
    except DictaMeshError as exc:
        fail(exc.message)
    actor = by or f"cli:{_os_user()}"

    async def work(_catalog: Any, consent: Any) -> Any:
        return await consent.record(
            subject, purpose, state, source=source, actor=actor, evidence=evidence,
            auth_method="cli",
        )  # fmt: skip

    try:
        record = asyncio.run(_with_consent(settings, tenant, work))
    except DictaMeshError as exc:
        fail(exc.message, 2 if exc.http_status == 400 else 1)
    typer.echo(f"consent {record.state}: {record.subject} purpose {record.purpose} (#{record.id})")


_EvidenceOpt = Annotated[str, typer.Option(help="evidence or notes (a form id, a ticket)")]
_ByOpt = Annotated[str | None, typer.Option(help="who records it (default: cli:<OS user>)")]
_SourceOpt = Annotated[str, typer.Option(help="cli, or import for a bulk load")]


@consent_app.command("give")
def consent_give(
    subject: Annotated[str, typer.Argument(help="data subject, e.g. customer:c-1")],
    purpose: Annotated[str, typer.Argument(help="a purpose of governance.consent.purposes")],
    config: _ConfigOpt,
    evidence: _EvidenceOpt = "",
    source: _SourceOpt = "cli",
    by: _ByOpt = None,
    tenant: _TenantOpt = None,
) -> None:
    """Record that SUBJECT gave consent for PURPOSE (audited)."""
    _change(config, subject, purpose, "given", evidence, source, by, tenant)


@consent_app.command("withdraw")
def consent_withdraw(
    subject: Annotated[str, typer.Argument(help="data subject, e.g. customer:c-1")],
    purpose: Annotated[str, typer.Argument(help="a purpose (sale/share: the CCPA opt-outs)")],
    config: _ConfigOpt,
    evidence: _EvidenceOpt = "",
    source: _SourceOpt = "cli",
    by: _ByOpt = None,
    tenant: _TenantOpt = None,
) -> None:
    """Record that SUBJECT withdrew consent for PURPOSE: the next read on every node is
    masked or denied as the policy says (audited)."""
    _change(config, subject, purpose, "withdrawn", evidence, source, by, tenant)


@consent_app.command("show")
def consent_show(
    subject: Annotated[str, typer.Argument(help="data subject, e.g. customer:c-1")],
    config: _ConfigOpt,
    tenant: _TenantOpt = None,
) -> None:
    """SUBJECT's consents as JSON: state per purpose, CCPA flags, history."""
    from dictamesh.core.models import EntityRef

    settings = _load(config)
    try:
        EntityRef.parse(subject)
    except DictaMeshError as exc:
        fail(exc.message)

    async def work(_catalog: Any, consent: Any) -> Any:
        return await consent.state(subject)

    try:
        state = asyncio.run(_with_consent(settings, tenant, work))
    except DictaMeshError as exc:
        fail(exc.message, 1)
    typer.echo(json.dumps(state, indent=2))


class ReportFormat(StrEnum):
    JSON = "json"
    MARKDOWN = "markdown"


def _when(value: str | None, name: str) -> Any:
    from datetime import UTC, datetime

    if value is None:
        return None
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--{name} must be an ISO 8601 date or time, e.g. 2026-12-01")
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


@governance_app.command("compliance-report")
def compliance_report(
    config: _ConfigOpt,
    format: Annotated[ReportFormat, typer.Option("--format", "-f")] = ReportFormat.JSON,
    since: Annotated[str | None, typer.Option(help="reads from (ISO 8601)")] = None,
    until: Annotated[str | None, typer.Option(help="reads until (ISO 8601, exclusive)")] = None,
    sample: Annotated[
        int, typer.Option(min=0, max=1000, help="catalog snapshots per type for the detectors")
    ] = 200,
    tenant: _TenantOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to a file")] = None,
) -> None:
    """Personal fields, where they flow by lineage, who read them, consent coverage."""
    settings = _load(config)
    start, end = _when(since, "since"), _when(until, "until")

    async def work(catalog: Any, consent: Any) -> Any:
        from dictamesh.governance.compliance import build_report

        return await build_report(
            catalog, consent=consent, since=start, until=end, sample=sample,
            subject_types=consent.settings.subject_types,
        )  # fmt: skip

    try:
        report = asyncio.run(_with_consent(settings, tenant, work))
    except DictaMeshError as exc:
        fail(exc.message, 1)
    if format is ReportFormat.MARKDOWN:
        from dictamesh.governance.compliance import to_markdown

        text = to_markdown(report)
    else:
        text = json.dumps(report, indent=2, default=str)
    if output is not None:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {output}")
    else:
        typer.echo(text)
