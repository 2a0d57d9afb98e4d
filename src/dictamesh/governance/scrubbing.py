"""Scrubbing what leaves the process in error reports, with the governance masker.

:class:`PersonalDataScrubber` is the
:class:`~dictamesh.observability.error_tracking.EventScrubber` a node gives its error
tracking (observability sits below governance and cannot reach the masker itself):

* free text (exception messages, source lines, breadcrumbs): every value the PII detectors
  find (emails, phone numbers, card numbers, IBANs, national ids, IP addresses) is replaced
  by its keyed hash — the same value gives the same ``sha256:…`` in every event of the
  nodes sharing ``governance.masking_key``, so one person's errors can be grouped, and
  nobody without the key can confirm a guess;
* values under the name of a classified field of any served schema (``email``,
  ``first_name``, ``address``…), and of a few names personal whatever the schema, are
  masked whole (local variables, extra data).

Names inside free text are not something a detector can find: the error tracking keeps
only vetted (DictaMesh) exception messages by default for that reason.

Example::

    scrubber = PersonalDataScrubber.for_schemas(masker, registry.schemas().values())
    scrubber.text("no invoice for jane@example.com")   # 'no invoice for sha256:…'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from dictamesh.core.models import Classification, EntitySchema
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.governance.detectors import DETECTORS, Detector, detect
from dictamesh.governance.masking import Masker, MaskStrategy
from dictamesh.observability.error_tracking import SCRUBBED, init_error_tracking

__all__ = [
    "PERSONAL_NAMES",
    "PersonalDataScrubber",
    "classified_fields",
    "start_error_tracking",
]

PERSONAL_NAMES: Mapping[str, Classification] = {
    "email": Classification.PII_EMAIL,
    "phone": Classification.PII_PHONE,
    "first_name": Classification.PII_NAME,
    "last_name": Classification.PII_NAME,
    "full_name": Classification.PII_NAME,
    "address": Classification.PII_ADDRESS,
    "password": Classification.CONFIDENTIAL,
    "authorization": Classification.CONFIDENTIAL,
    "cookie": Classification.CONFIDENTIAL,
    "token": Classification.CONFIDENTIAL,
    "api_key": Classification.CONFIDENTIAL,
    "secret": Classification.CONFIDENTIAL,
}
"""Names masked whatever the schemas say (credentials and the usual personal fields)."""

#: credentials in text (a request's headers in a frame's locals): bearer tokens, JWTs
_CREDENTIALS = re.compile(
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]+|eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
)


def classified_fields(schemas: Iterable[EntitySchema]) -> dict[str, Classification]:
    """Field name → classification, for every non-public field of ``schemas`` (nested
    schemas included); a name classified differently in two schemas keeps the first."""
    found: dict[str, Classification] = {}
    pending = list(schemas)
    while pending:
        schema = pending.pop()
        for spec in schema.fields:
            if spec.classification not in (Classification.PUBLIC, Classification.INTERNAL):
                found.setdefault(spec.name, spec.classification)
        pending.extend(schema.nested.values())
    return found


class PersonalDataScrubber:
    def __init__(
        self,
        masker: Masker,
        fields: Mapping[str, Classification] | None = None,
        *,
        detectors: tuple[Detector, ...] = DETECTORS,
    ) -> None:
        self.masker = masker
        self.fields = {**PERSONAL_NAMES, **(fields or {})}
        self.detectors = detectors

    @classmethod
    def for_schemas(cls, masker: Masker, schemas: Iterable[EntitySchema]) -> PersonalDataScrubber:
        return cls(masker, classified_fields(schemas))

    def text(self, value: str) -> str:
        if not value:
            return value
        value = _CREDENTIALS.sub(SCRUBBED, value)
        # longest first: a card number is replaced before a phone number inside it
        found = sorted(detect(value, self.detectors), key=lambda d: -len(d.match))
        for detection in found:
            hashed = self.masker.mask(detection.match, MaskStrategy.HASH, detection.classification)
            value = value.replace(detection.match, str(hashed))
        return value

    def field(self, name: str, value: Any) -> tuple[bool, Any]:
        classification = self.fields.get(name.lower())
        if classification is None or value is None:
            return False, value
        if isinstance(value, str):
            value = value.strip("'\"")  # the SDK sends a variable's repr: 'jane@…'
        return True, self.masker.mask(value, MaskStrategy.HASH, classification)


def start_error_tracking(
    settings: DictaMeshSettings,
    masker: Masker,
    schemas: Iterable[EntitySchema],
    *,
    role: str,
) -> bool:
    """Start error tracking (when ``observability.sentry.dsn`` is set) with every event
    scrubbed by ``masker`` and the classified fields of ``schemas``; tagged with the node
    name and ``role``. What the node and the CLI call."""
    if settings.observability.sentry.dsn is None:
        return False
    return init_error_tracking(
        settings.observability.sentry,
        PersonalDataScrubber.for_schemas(masker, schemas),
        tags={"node": settings.node_name, "node_role": role},
    )
