"""Suggest classification tags for untagged fields from sample data.

A field is suggested a tag when enough of its sampled values are confirmed by one detector
(see :mod:`dictamesh.governance.detectors`); field names alone only add a hint, since a
column called ``phone`` that holds ``"n/a"`` is not personal data. Fields that already carry a
non-public tag are reported as ``tagged`` and never overruled.

Example::

    report = await scan_adapter(adapter, sample_size=200)
    for s in report.suggestions:
        print(s.field, s.suggested.value, f"{s.share:.0%}", s.examples)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dictamesh.adapters.contract import DataProductAdapter
from dictamesh.core.models import Classification, EntitySchema, Query
from dictamesh.governance.detectors import detect
from dictamesh.governance.masking import Masker, MaskStrategy

__all__ = ["FieldSuggestion", "ScanReport", "scan_adapter", "scan_records"]

#: share of non-empty sampled values a detector must confirm before a tag is suggested
DEFAULT_THRESHOLD = 0.6

_NAME_HINTS: tuple[tuple[re.Pattern[str], Classification], ...] = (
    (re.compile(r"e-?mail", re.I), Classification.PII_EMAIL),
    (re.compile(r"phone|mobile|fax", re.I), Classification.PII_PHONE),
    (re.compile(r"(first|last|full|given|family|sur)_?name", re.I), Classification.PII_NAME),
    (re.compile(r"address|street|postcode|zip", re.I), Classification.PII_ADDRESS),
    (re.compile(r"iban|card|account_?number", re.I), Classification.PII_PAYMENT),
    (re.compile(r"ssn|national_?id|passport|tax_?id", re.I), Classification.PII_NATIONAL_ID),
)


@dataclass(frozen=True, slots=True)
class FieldSuggestion:
    entity_type: str
    field: str
    current: Classification
    suggested: Classification
    #: detector kind that confirmed the values, or ``name`` for a name-only hint
    evidence: str
    share: float
    sampled: int
    #: masked examples (never raw values: the report itself must not leak what it found)
    examples: tuple[str, ...] = ()


@dataclass
class ScanReport:
    entity_type: str
    sampled_entities: int
    suggestions: list[FieldSuggestion] = field(default_factory=list)
    tagged: dict[str, Classification] = field(default_factory=dict)


def _texts(value: Any) -> Iterable[str]:
    if value is None:
        return
    if isinstance(value, Mapping):
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _texts(v)
    elif not isinstance(value, bool):
        yield str(value)


def _name_hint(name: str) -> Classification | None:
    for pattern, tag in _NAME_HINTS:
        if pattern.search(name):
            return tag
    return None


def scan_records(
    schema: EntitySchema,
    records: Iterable[Mapping[str, Any]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    masker: Masker | None = None,
) -> ScanReport:
    """Suggestions for the untagged fields of ``schema`` from ``records`` (attribute maps)."""
    masker = masker or Masker()
    rows = list(records)
    report = ScanReport(schema.entity_type, len(rows))
    for spec in schema.fields:
        if spec.classification not in (Classification.PUBLIC, Classification.INTERNAL):
            report.tagged[spec.name] = spec.classification
            continue
        non_empty = 0
        hits: Counter[tuple[str, Classification]] = Counter()
        examples: dict[tuple[str, Classification], list[str]] = {}
        for row in rows:
            texts = [t for t in _texts(row.get(spec.name)) if t.strip()]
            if not texts:
                continue
            non_empty += 1
            seen: set[tuple[str, Classification]] = set()
            for text in texts:
                for d in detect(text):
                    key = (d.kind, d.classification)
                    if key not in seen:
                        seen.add(key)
                        hits[key] += 1
                        bucket = examples.setdefault(key, [])
                        if len(bucket) < 3:
                            bucket.append(masker.mask(d.match, MaskStrategy.PARTIAL, key[1]))
        hint = _name_hint(spec.name)
        best = hits.most_common(1)
        if best and non_empty and best[0][1] / non_empty >= threshold:
            (kind, tag), count = best[0]
            report.suggestions.append(
                FieldSuggestion(
                    schema.entity_type, spec.name, spec.classification, tag, kind,
                    count / non_empty, non_empty, tuple(examples[(kind, tag)]),
                )
            )  # fmt: skip
        elif hint is not None and non_empty:
            # names like first_name carry no checkable pattern; the name is the evidence
            report.suggestions.append(
                FieldSuggestion(
                    schema.entity_type, spec.name, spec.classification, hint, "name",
                    0.0, non_empty,
                )
            )  # fmt: skip
    return report


async def scan_adapter(
    adapter: DataProductAdapter,
    *,
    sample_size: int = 200,
    threshold: float = DEFAULT_THRESHOLD,
    masker: Masker | None = None,
) -> ScanReport:
    """Sample up to ``sample_size`` entities from ``adapter`` and scan them."""
    records: list[Mapping[str, Any]] = []
    cursor: str | None = None
    while len(records) < sample_size:
        page = await adapter.query_entities(
            Query(limit=min(500, sample_size - len(records)), cursor=cursor)
        )
        records.extend(e.attributes for e in page.items)
        cursor = page.next_cursor
        if cursor is None or not page.items:
            break
    return scan_records(adapter.get_schema(), records, threshold=threshold, masker=masker)
