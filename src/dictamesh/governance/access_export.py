"""Right of access: everything the mesh holds about one data subject, as one bundle.

The subject is an entity reference ``<type>:<id>`` (``customer:42``), as for erasure. The
bundle gathers the mesh's own copies — the source system, the controller's record of
truth, answers its own access requests:

* ``entities``: the catalog snapshot of the subject and of every record *about* them;
* ``events``: the event-log rows of those entities (their change history);
* ``relationships``: the relationship rows among them (history included);
* ``lineage``: where each of those data products comes from (source system → data product,
  parent → nested item);
* ``audit``: who read or changed those entities (the governance audit log).

Which records are *about* the subject (:func:`about_subject`): those that reference it
(an invoice ``billed_to`` the customer, a payment ``paid_by`` them), transitively (a payment
that ``pays`` their invoice), and the nested items of any of these (``has_item``). Records
the subject merely references (the product on their invoice line) are not about them and
stay out. A record that also references *another* entity of the subject's type (a
transfer between two customers) is about someone else too, and so is a record of the
subject's type (a customer ``referred_by`` ours): it is withheld, and listed by reference
only under ``manifest.withheld`` for a person to review.

The bundle is bounded (:data:`MAX_RECORDS` entities, :data:`MAX_ROWS` rows per section;
a larger one is a :class:`~dictamesh.core.errors.ValidationError` naming the limit, never
a truncated answer that would look complete), read in pages of :data:`PAGE_SIZE`,
tenant-scoped (the catalog reads the bound tenant only). The caller audits the export.

Sections are built by :class:`SectionBuilder` callables; a later section (consent
records) is one more builder in the list passed to :func:`export_subject`.

Example::

    bundle = await export_subject(catalog, EntityRef.parse("customer:42"))
    bundle["manifest"]["counts"]      # {"entities": 5, "events": 9, ...}
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select

from dictamesh.catalog.service import CatalogService
from dictamesh.catalog.tables import AUDIT, EVENTS
from dictamesh.core.errors import EntityNotFound, ValidationError
from dictamesh.core.models import EntityRef
from dictamesh.governance.consent_store import ConsentStore

__all__ = [
    "DEFAULT_SECTIONS",
    "EXPORT_FORMAT",
    "MAX_RECORDS",
    "MAX_ROWS",
    "ExportScope",
    "Section",
    "SectionBuilder",
    "about_subject",
    "audit_reason",
    "consent_section",
    "export_subject",
]

EXPORT_FORMAT = "dictamesh-access-export/1"
"""The bundle's format and version (``manifest.format``)."""
MAX_RECORDS = 5000
"""Most entities one bundle holds (the subject and the records about them)."""
MAX_ROWS = 100_000
"""Most rows one section holds (events, audit entries...)."""
PAGE_SIZE = 500
"""Rows (or entities) per catalog read."""
MAX_DEPTH = 4
"""Reference hops followed from the subject (invoice → payment → refund...)."""

NESTED = "has_item"
"""The relationship the catalog ingest gives a parent and each of its nested items."""


@dataclass(slots=True)
class ExportScope:
    """What the section builders share: the catalog, the subject and the records found."""

    catalog: CatalogService
    subject: EntityRef
    tenant: str
    #: the subject first, then the records about them (breadth-first)
    refs: list[EntityRef]
    #: records about the subject *and* someone else: left out (references only)
    withheld: list[EntityRef] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    rows: list[dict[str, Any]]
    #: why a section is empty or partial, when it is not obvious (``None``: complete)
    note: str | None = None


SectionBuilder = Callable[[ExportScope], Awaitable[Section]]
"""Builds one section of the bundle (name, rows) from the scope."""


def _key(ref: EntityRef) -> tuple[str, str]:
    return ref.type, ref.id


async def about_subject(
    catalog: CatalogService, subject: EntityRef, *, max_records: int = MAX_RECORDS
) -> tuple[list[EntityRef], list[EntityRef]]:
    """``(records about the subject, withheld)``: the subject first (see the module doc
    for the rule). More than ``max_records`` is a :class:`ValidationError`."""
    found: dict[tuple[str, str], EntityRef] = {_key(subject): subject}
    withheld: dict[tuple[str, str], EntityRef] = {}
    frontier = [subject]
    for _depth in range(MAX_DEPTH):
        candidates: dict[tuple[str, str], EntityRef] = {}
        for ref in frontier:
            for rel in await catalog.list_relationships(ref, direction="both"):
                if rel.object == ref and rel.relationship_type != NESTED:
                    other = rel.subject  # it references ``ref``: about the subject
                elif rel.subject == ref and rel.relationship_type == NESTED:
                    other = rel.object  # a nested item of a record about them
                else:
                    continue  # something ``ref`` merely references (a product)
                if _key(other) not in found and _key(other) not in withheld:
                    candidates[_key(other)] = other
        frontier = []
        for key, ref in sorted(candidates.items()):
            if await _about_someone_else(catalog, ref, subject):
                withheld[key] = ref
                continue
            found[key] = ref
            frontier.append(ref)
            if len(found) > max_records:
                raise ValidationError(
                    f"the access export holds at most {max_records} records; this subject"
                    " has more (export_subject's max_records raises the bound)"
                )
        if not frontier:
            break
    return list(found.values()), list(withheld.values())


async def _about_someone_else(catalog: CatalogService, ref: EntityRef, subject: EntityRef) -> bool:
    """Is ``ref`` another data subject (of the subject's type: a customer ``referred_by``
    ours), or does it reference one?"""
    if ref.type == subject.type:
        return True
    for rel in await catalog.list_relationships(ref, direction="out"):
        if rel.relationship_type == NESTED:
            continue
        if rel.object.type == subject.type and rel.object != subject:
            return True
    return False


# --- section builders ---------------------------------------------------------------------


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return value


def _pairs(refs: Sequence[EntityRef], type_col: Any, id_col: Any) -> Any:
    return or_(*(and_(type_col == r.type, id_col == r.id) for r in refs))


def _chunks(refs: Sequence[EntityRef], size: int = 100) -> list[Sequence[EntityRef]]:
    return [refs[i : i + size] for i in range(0, len(refs), size)]


def _bounded(section: str, rows: list[dict[str, Any]]) -> None:
    if len(rows) > MAX_ROWS:
        raise ValidationError(
            f"the access export's {section} section holds at most {MAX_ROWS} rows;"
            " this subject has more"
        )


async def entities_section(scope: ExportScope) -> Section:
    rows = []
    for ref in scope.refs:
        try:
            loc = await scope.catalog.get_entity_location(ref.type, ref.id)
        except EntityNotFound:
            continue  # a relationship to an entity the catalog never registered
        rows.append(
            {
                "entity_type": loc.entity_type,
                "entity_id": loc.entity_id,
                "domain": loc.domain,
                "source_system": loc.source_system,
                "source_entity_id": loc.source_entity_id,
                "status": loc.status,
                "version": loc.version,
                "attributes": loc.attributes,
                "created_at": _iso(loc.created_at),
                "updated_at": _iso(loc.updated_at),
            }
        )
    return Section("entities", rows)


async def _paged(
    scope: ExportScope, table: Any, type_col: Any, id_col: Any, section: str
) -> list[dict[str, Any]]:
    """Every row of ``table`` about the scope's entities, read in keyset pages by id."""
    database = scope.catalog.database
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(scope.refs):
        after = 0
        while True:
            query = (
                select(table)
                .where(
                    table.c.tenant_id == scope.tenant,
                    _pairs(chunk, type_col, id_col),
                    table.c.id > after,
                )
                .order_by(table.c.id)
                .limit(PAGE_SIZE)
            )
            async with database.read() as conn:
                page = [dict(r) for r in (await conn.execute(query)).mappings().all()]
            rows.extend({k: _iso(v) for k, v in r.items() if k != "tenant_id"} for r in page)
            _bounded(section, rows)
            if len(page) < PAGE_SIZE:
                break
            after = int(page[-1]["id"])
    rows.sort(key=lambda r: (str(r.get("occurred_at") or r.get("recorded_at")), r["id"]))
    return rows


async def events_section(scope: ExportScope) -> Section:
    rows = await _paged(scope, EVENTS, EVENTS.c.entity_type, EVENTS.c.entity_id, "events")
    return Section("events", rows)


async def audit_section(scope: ExportScope) -> Section:
    rows = await _paged(scope, AUDIT, AUDIT.c.entity_type, AUDIT.c.entity_id, "audit")
    return Section("audit", rows)


async def relationships_section(scope: ExportScope) -> Section:
    """Relationship rows (history included) between records of the bundle, and from
    them to what they reference (the product id of an invoice line is in its snapshot
    anyway); rows touching a withheld record or another subject are left out."""
    inside = {_key(r) for r in scope.refs}
    withheld = {_key(r) for r in scope.withheld}
    rows: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for ref in scope.refs:
        for rel in await scope.catalog.list_relationships(
            ref, direction="out", include_history=True
        ):
            obj = rel.object
            if _key(obj) in withheld or (
                obj.type == scope.subject.type and _key(obj) not in inside
            ):
                continue  # another data subject, or a record about them too
            row = (str(rel.subject), rel.relationship_type, str(obj), _iso(rel.valid_from))
            if row in seen:
                continue
            seen.add(row)
            rows.append(
                {
                    "subject": str(rel.subject),
                    "relationship_type": rel.relationship_type,
                    "object": str(obj),
                    "valid_from": _iso(rel.valid_from),
                    "valid_to": _iso(rel.valid_to),
                }
            )
    _bounded("relationships", rows)
    return Section("relationships", rows)


async def lineage_section(scope: ExportScope) -> Section:
    """Where the data came from: the flows into each record (entity level: parent →
    nested item) and into its data product (source system → data product)."""
    inside = {_key(r) for r in scope.refs}
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()
    product_types: set[str] = set()
    for ref in scope.refs:
        views = []
        if ref.type not in product_types:
            product_types.add(ref.type)
            views.append(await scope.catalog.get_lineage(ref.type))
        views.append(await scope.catalog.get_lineage(ref.type, ref.id))
        for view in views:
            for record in view.upstream:
                ends = (record.upstream_entity, record.downstream_entity)
                if any(e is not None and _key(e) not in inside for e in ends):
                    continue  # an entity-level flow touching someone else's record
                key = (
                    str(record.upstream),
                    str(record.downstream),
                    record.transformation,
                    str(record.upstream_entity),
                    str(record.downstream_entity),
                )
                if key in seen:
                    continue
                seen.add(key)
                rows.append(
                    {
                        "upstream": record.upstream.model_dump(mode="json"),
                        "downstream": record.downstream.model_dump(mode="json"),
                        "transformation": record.transformation,
                        "upstream_entity": str(record.upstream_entity)
                        if record.upstream_entity
                        else None,
                        "downstream_entity": str(record.downstream_entity)
                        if record.downstream_entity
                        else None,
                        "first_seen_at": _iso(record.first_seen_at),
                        "last_seen_at": _iso(record.last_seen_at),
                    }
                )
    _bounded("lineage", rows)
    return Section("lineage", rows)


async def consent_section(scope: ExportScope) -> Section:
    """The subject's consent records (given, withdrawn: when, from where, by whom), the
    whole append-only history (docs/governance.md, "Consent and purpose")."""
    records = await ConsentStore(scope.catalog.database).history(
        str(scope.subject), tenant=scope.tenant
    )
    return Section("consent", [record.to_dict() for record in records])


DEFAULT_SECTIONS: tuple[SectionBuilder, ...] = (
    entities_section,
    events_section,
    relationships_section,
    lineage_section,
    audit_section,
    consent_section,
)
"""The sections every bundle has, in order; pass ``(*DEFAULT_SECTIONS, more)`` to add one."""


def audit_reason(bundle: dict[str, Any]) -> str:
    """What the audit log says of an export (the route and the CLI): the bundle's counts."""
    counts = bundle["manifest"]["counts"]
    return "access export: " + ", ".join(f"{n} {name}" for name, n in counts.items())


async def export_subject(
    catalog: CatalogService,
    subject: EntityRef,
    *,
    sections: Sequence[SectionBuilder] = DEFAULT_SECTIONS,
    max_records: int = MAX_RECORDS,
) -> dict[str, Any]:
    """The bundle (see the module doc): ``{"manifest": ..., "<section>": [rows]...}``.

    :class:`EntityNotFound` when the catalog has no such subject (a 404)."""
    # raises EntityNotFound first: nothing else is read for an unknown subject
    await catalog.get_entity_location(subject.type, subject.id)
    refs, withheld = await about_subject(catalog, subject, max_records=max_records)
    scope = ExportScope(
        catalog=catalog,
        subject=subject,
        tenant=catalog.database.tenant(),
        refs=refs,
        withheld=withheld,
    )
    built = [await builder(scope) for builder in sections]
    bundle: dict[str, Any] = {
        "manifest": {
            "format": EXPORT_FORMAT,
            "generated_at": datetime.now(UTC).isoformat(),
            "tenant": scope.tenant,
            "subject": str(subject),
            "rule": "the subject, records referencing it (transitively) and their nested"
            " items; records also referencing another subject are withheld",
            "sections": [s.name for s in built],
            "counts": {s.name: len(s.rows) for s in built},
            "notes": {s.name: s.note for s in built if s.note},
            "withheld": [str(r) for r in withheld],
        }
    }
    for section in built:
        bundle[section.name] = section.rows
    return bundle
