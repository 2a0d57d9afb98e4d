"""One change between two versions of a schema, as ``dictamesh schema check|diff`` reports it.

The GraphQL differ (:mod:`dictamesh.gateway.sdl_diff`) and the Avro and entity-schema
differ (:mod:`dictamesh.catalog.schema_diff`) both return these, so one report covers all.

Example::

    SchemaChange("graphql", "Query.customer", Severity.BREAKING, "FIELD_REMOVED",
                 "Query.customer was removed.")
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

__all__ = ["SchemaChange", "Severity"]


class Severity(StrEnum):
    """BREAKING: existing clients or readers fail; DANGEROUS: they may behave differently
    (graphql-js's ``findDangerousChanges``); SAFE: an addition nothing existing notices."""

    BREAKING = "breaking"
    DANGEROUS = "dangerous"
    SAFE = "safe"


@dataclass(frozen=True, slots=True)
class SchemaChange:
    #: ``graphql``, ``avro`` or ``entity``
    area: str
    #: what changed: a GraphQL coordinate, an Avro subject, an entity type
    subject: str
    severity: Severity
    #: a stable code (graphql-core's change types, the registry's error types, ...)
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "severity": self.severity.value}
