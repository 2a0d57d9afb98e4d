"""The compliance report: which fields are personal, where they flow, who read them, and how
many data subjects consented to what.

* **personal fields** — every field a schema classifies ``pii_*`` or ``confidential``
  (nested lists included, ``items.card_number``), plus untagged fields the detectors
  (:mod:`dictamesh.governance.scan`) find personal values in, sampled from the catalog's
  snapshots (reported with masked examples only);
* **flows** — for each entity type carrying personal fields, the datasets upstream and
  downstream of its data product: the adapters' declared lineage and the lineage the
  catalog recorded (topics, other data products);
* **readers** — the audit log aggregated: principal, entity type, field and decision, with
  counts, over the period asked;
* **consent coverage** — per purpose: subjects for which it is in effect / subjects the
  catalog knows (entities of the subject types).

:func:`build_report` gathers it; :func:`to_markdown` renders it for people.

Example::

    report = await build_report(catalog, consent=service, since=datetime(2026, 12, 1, tzinfo=UTC))
    print(to_markdown(report))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from dictamesh.catalog.service import CatalogService
from dictamesh.core.errors import DictaMeshError
from dictamesh.core.models import EntitySchema, Lineage
from dictamesh.governance.audit import AuditLog
from dictamesh.governance.consent import ConsentService
from dictamesh.governance.enforce import is_classified
from dictamesh.governance.scan import scan_records

__all__ = ["build_report", "personal_fields", "to_markdown"]

#: catalog snapshots sampled per entity type for the detectors
DEFAULT_SAMPLE = 200


def personal_fields(schema: EntitySchema, prefix: str = "") -> list[dict[str, Any]]:
    """The fields ``schema`` classifies (nested lists as ``items.field``)."""
    out = [
        {
            "entity_type": schema.entity_type,
            "domain": schema.domain,
            "field": prefix + spec.name,
            "classification": spec.classification.value,
            "found_by": "schema",
        }
        for spec in schema.fields
        if is_classified(spec.classification)
    ]
    for name, nested in schema.nested.items():
        for row in personal_fields(nested, f"{prefix}{name}."):
            out.append({**row, "entity_type": schema.entity_type, "domain": schema.domain})
    return out


async def _catalog_schemas(catalog: CatalogService) -> dict[str, EntitySchema]:
    out: dict[str, EntitySchema] = {}
    for subject in await catalog.list_subjects(schema_types=["DICTAMESH"]):
        try:
            out[subject] = await catalog.get_schema(subject)
        except DictaMeshError:
            continue
    return out


async def _sample(catalog: CatalogService, entity_type: str, size: int) -> list[dict[str, Any]]:
    rows, _ = await catalog.list_entities(entity_type, limit=max(1, min(size, 500)))
    return [dict(r.attributes) for r in rows]


def _dataset(ref: Any) -> str:
    return f"{ref.namespace}/{ref.name}"


async def _flows(
    catalog: CatalogService, entity_type: str, declared: Sequence[Lineage]
) -> dict[str, Any]:
    upstream: dict[str, set[str]] = {}
    downstream: dict[str, set[str]] = {}
    columns: dict[str, list[str]] = {}
    for lineage in declared:
        if lineage.entity_type != entity_type:
            continue
        for edge in lineage.edges:
            upstream.setdefault(_dataset(edge.upstream), set()).add(edge.transformation)
            downstream.setdefault(_dataset(edge.downstream), set()).add(edge.transformation)
            for field, sources in edge.fields.items():
                columns[field] = sorted(sources)
    view = await catalog.get_lineage(entity_type)
    own = _dataset(view.dataset) if view.dataset is not None else None
    for record in view.upstream:
        upstream.setdefault(_dataset(record.upstream), set()).add(record.transformation)
    for record in view.downstream:
        downstream.setdefault(_dataset(record.downstream), set()).add(record.transformation)
    if own is not None:
        downstream.pop(own, None)  # the adapter's edge into the product itself
        upstream.pop(own, None)
    return {
        "dataset": own,
        "upstream": [{"dataset": d, "via": sorted(v)} for d, v in sorted(upstream.items())],
        "downstream": [{"dataset": d, "via": sorted(v)} for d, v in sorted(downstream.items())],
        "source_columns": columns,
    }


async def _coverage(
    catalog: CatalogService, consent: ConsentService | None, subject_types: Iterable[str]
) -> dict[str, Any]:
    types = sorted(set(subject_types))
    known = {t: await catalog.count_entities(t) for t in types}
    total = sum(known.values())
    purposes: dict[str, Any] = {}
    if consent is None:
        return {"subject_types": types, "known_subjects": total, "purposes": purposes}
    in_effect: dict[str, int] = dict.fromkeys(consent.settings.purposes, 0)
    withdrawn: dict[str, int] = dict.fromkeys(consent.settings.purposes, 0)
    recorded: set[str] = set()
    if consent.store is not None:
        subjects = [s for s in await consent.store.subjects() if s.partition(":")[0] in types]
        recorded = set(subjects)
        current = await consent.store.current(subjects)
        for subject in subjects:
            states = current.get(subject, {})
            for purpose in consent.settings.purposes:
                if states.get(purpose) == "withdrawn":
                    withdrawn[purpose] += 1
                elif states.get(purpose) == "given":
                    in_effect[purpose] += 1
    for name, spec in consent.settings.purposes.items():
        # an opt-out purpose is in effect for every known subject that did not opt out
        count = total - withdrawn[name] if spec.opt_out else in_effect[name]
        purposes[name] = {
            "description": spec.description,
            "opt_out": spec.opt_out,
            "subjects_in_effect": count,
            "subjects_withdrawn": withdrawn[name],
            "known_subjects": total,
            "coverage": round(count / total, 4) if total else None,
        }
    return {
        "subject_types": types,
        "known_subjects": total,
        "subjects_with_records": len(recorded),
        "purposes": purposes,
    }


async def build_report(
    catalog: CatalogService,
    *,
    consent: ConsentService | None = None,
    schemas: Mapping[str, EntitySchema] | None = None,
    lineage: Sequence[Lineage] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    sample: int = DEFAULT_SAMPLE,
    subject_types: Sequence[str] = (),
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """The report as a JSON-ready mapping. ``schemas``/``lineage``: the adapters' (a node's
    own); the catalog's registered schemas fill in the rest. ``subject_types``: whose
    entities are data subjects (default: every type with ``pii_*`` fields)."""
    found = await _catalog_schemas(catalog)
    found.update(schemas or {})
    fields: list[dict[str, Any]] = []
    for entity_type in sorted(found):
        schema = found[entity_type]
        fields.extend(personal_fields(schema))
        if sample > 0:
            scan = scan_records(schema, await _sample(catalog, entity_type, sample))
            for s in scan.suggestions:
                if s.evidence == "name":
                    continue  # a name alone is a hint, not personal data found
                fields.append({
                    "entity_type": entity_type, "domain": schema.domain, "field": s.field,
                    "classification": s.suggested.value, "found_by": f"detector:{s.evidence}",
                    "share": round(s.share, 3), "examples": list(s.examples),
                })  # fmt: skip
    carrying = sorted({f["entity_type"] for f in fields})
    flows = []
    for entity_type in carrying:
        flow = await _flows(catalog, entity_type, lineage)
        flow["entity_type"] = entity_type
        flow["personal_fields"] = [f["field"] for f in fields if f["entity_type"] == entity_type]
        flows.append(flow)
    readers = await AuditLog(catalog).readers(since=since, until=until)
    if not subject_types:
        subject_types = sorted(
            {
                f["entity_type"]
                for f in fields
                if f["classification"].startswith("pii_") and "." not in f["field"]
            }
        )
    return {
        "generated_at": (generated_at or catalog.database.now()).isoformat(),
        "tenant": catalog.database.tenant(),
        "period": {
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
        },
        "personal_fields": fields,
        "flows": flows,
        "readers": readers,
        "consent": await _coverage(catalog, consent, subject_types),
    }


def _cell(value: Any) -> str:
    text = "-" if value is None or value == "" else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def to_markdown(report: Mapping[str, Any]) -> str:
    """The report for people: one section and table per part."""
    period = report["period"]
    lines = [
        "# Compliance report",
        "",
        f"Tenant `{report['tenant']}`, generated {report['generated_at']};"
        f" reads since {period['since'] or 'the start of the audit log'}"
        f" until {period['until'] or 'now'}.",
        "",
        "## Personal fields",
        "",
        *_table(
            ("entity type", "field", "classification", "found by"),
            (
                (f["entity_type"], f["field"], f["classification"], f["found_by"])
                for f in report["personal_fields"]
            ),
        ),
        "",
        "## Where they flow",
        "",
    ]
    for flow in report["flows"]:
        lines.append(f"### {flow['entity_type']} ({flow['dataset'] or 'not yet in the catalog'})")
        lines.append("")
        lines.append("Personal fields: " + ", ".join(f"`{f}`" for f in flow["personal_fields"]))
        for side in ("upstream", "downstream"):
            found = ", ".join(f"{d['dataset']} ({', '.join(d['via'])})" for d in flow[side])
            lines.append(f"- {side}: {found or 'none recorded'}")
        lines.append("")
    lines += [
        "## Who read them",
        "",
        *_table(
            ("principal", "entity type", "field", "decision", "reads"),
            (
                (r["subject"], r["entity_type"], r["field"], r["decision"], r["reads"])
                for r in report["readers"]
            ),
        ),
        "",
        "## Consent coverage",
        "",
        f"Known subjects: {report['consent']['known_subjects']}"
        f" ({', '.join(report['consent']['subject_types']) or 'no subject types'}).",
        "",
        *_table(
            ("purpose", "kind", "in effect", "withdrawn", "coverage"),
            (
                (
                    name,
                    "opt-out" if p["opt_out"] else "consent",
                    p["subjects_in_effect"],
                    p["subjects_withdrawn"],
                    "-" if p["coverage"] is None else f"{p['coverage']:.1%}",
                )
                for name, p in report["consent"]["purposes"].items()
            ),
        ),
        "",
    ]
    return "\n".join(lines)
