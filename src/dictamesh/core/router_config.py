"""Event router configuration: rules, transforms, targets (pure models, no I/O).

The ``router:`` section of ``mesh.yaml`` (``docs/router.md``), and the rules file it may
name (``router.rules_file``, a mapping with a ``rules:`` list, reloaded on change). The
models check shapes; what needs the router package (predicates compile, mask strategies
exist, target topics are valid and no loop) is checked by
:func:`dictamesh.router.rules.compile_rules`, still before the rules run, naming the YAML
line.

Example (``mesh.yaml``)::

    router:
      enabled: true
      rules:
        - name: eu-customers
          match: {topics: ["customers.*.entity_changed"], event_types: [created, updated],
                  predicate: "after.country in ['DE', 'FR']"}
          transform:
            - project: [id, email, country]
            - mask: {email: hash}
            - envelope: {cloudevents: true}
          to: [analytics.crm.customers_eu]
        - name: no-test-tenant
          match: {topics: ["*"], tenants: [test]}
          drop: true
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dictamesh.core.models import Classification

__all__ = [
    "EnvelopeStep",
    "MaskField",
    "RouteMatch",
    "RouteRule",
    "RouterRulesFile",
    "RouterSettings",
    "TransformStep",
]

_NAME = r"^[a-z][a-z0-9_-]{0,62}$"
#: a Kafka header name: printable ASCII without spaces, not the router's own namespaces
_HEADER = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_RESERVED_HEADER_PREFIXES = ("dlq-", "ce_", "router-")
_FIELD = re.compile(r"^[^\x00-\x1f]{1,256}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _fields(value: list[str]) -> list[str]:
    for name in value:
        if not _FIELD.match(name):
            raise ValueError(f"invalid field name {name!r}")
    if len(set(value)) != len(value):
        raise ValueError("field names must be unique")
    return value


class RouteMatch(_Model):
    """Which events a rule takes: every given condition must hold. ``topics`` and
    ``entity_types`` are globs (``*``, ``?``); event types compare without case; an update
    matches ``changed_fields`` when one of them changed (a create or delete changes every
    field it has); ``tenants``: the event's tenant (``default`` for none)."""

    #: globs over the source topic; none: every topic the router reads
    topics: list[str] = Field(default_factory=list, max_length=100)
    entity_types: list[str] = Field(default_factory=list, max_length=100)
    event_types: list[str] = Field(default_factory=list, max_length=3)
    changed_fields: list[str] = Field(default_factory=list, max_length=100)
    tenants: list[str] = Field(default_factory=list, max_length=1000)
    #: a sandboxed Jinja2 expression over the event (``after.amount > 100``), true to match
    predicate: str | None = Field(default=None, min_length=1, max_length=2000)

    @field_validator("event_types")
    @classmethod
    def _event_types(cls, value: list[str]) -> list[str]:
        lowered = [v.lower() for v in value]
        unknown = [v for v in lowered if v not in ("created", "updated", "deleted")]
        if unknown:
            raise ValueError(
                f"unknown event type(s) {', '.join(unknown)}: created, updated or deleted"
            )
        return lowered

    @field_validator("changed_fields")
    @classmethod
    def _changed(cls, value: list[str]) -> list[str]:
        return _fields(value)


class MaskField(_Model):
    """How one field is masked: a governance strategy (``redact``, ``partial``, ``last4``,
    ``hash``, ``tokenize``) and the classification ``partial`` words its mask by."""

    strategy: str = Field(min_length=1, max_length=32)
    classification: Classification = Classification.CONFIDENTIAL


class EnvelopeStep(_Model):
    """Convert the value: ``debezium`` writes Debezium's change-event envelope (``op``,
    ``before``, ``after``, ``source``, ``ts_ms``); ``cloudevents`` adds the CloudEvents 1.0
    ``ce_*`` headers (Kafka binding, binary mode). At least one of them."""

    debezium: bool = False
    cloudevents: bool = False

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not (self.debezium or self.cloudevents):
            raise ValueError("envelope needs debezium: true and/or cloudevents: true")
        return self


class TransformStep(_Model):
    """One step of a rule's ``transform`` list: exactly one of its keys.

    * ``project: [a, b]`` keeps only these fields of ``before``/``after``;
    * ``rename: {old: new}`` renames fields of ``before``/``after`` and ``changed_fields``;
    * ``mask: {field: strategy}`` (or ``{field: {strategy, classification}}``) masks them
      with the governance masker, keyed with ``governance.masking_key``;
    * ``headers: {name: value}`` adds record headers;
    * ``envelope: {debezium: true, cloudevents: true}`` converts the value (the last step).
    """

    project: list[str] | None = Field(default=None, min_length=1, max_length=1000)
    rename: dict[str, str] | None = Field(default=None, min_length=1, max_length=1000)
    mask: dict[str, MaskField] | None = Field(default=None, min_length=1, max_length=1000)
    headers: dict[str, str] | None = Field(default=None, min_length=1, max_length=100)
    envelope: EnvelopeStep | None = None

    # the JSON Schema of mesh.yaml (``dictamesh config schema``) must accept the shorthand too
    @field_validator(
        "mask", mode="before", json_schema_input_type=dict[str, str | MaskField] | None
    )
    @classmethod
    def _mask_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"strategy": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("project")
    @classmethod
    def _project(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _fields(value)

    @field_validator("rename")
    @classmethod
    def _rename(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        _fields([*value])
        _fields([*value.values()])
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, text in (value or {}).items():
            if not _HEADER.match(name):
                raise ValueError(f"header {name!r}: letters, digits, '.', '_', '-' only")
            if name.lower().startswith(_RESERVED_HEADER_PREFIXES):
                raise ValueError(
                    f"header {name!r}: the prefixes dlq-, ce_ and router- are the mesh's own"
                )
            if len(text) > 4096:
                raise ValueError(f"header {name!r}: value longer than 4096 characters")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [
            k for k in ("project", "rename", "mask", "headers", "envelope") if getattr(self, k)
        ]
        if len(given) != 1:
            raise ValueError(
                "each transform step has exactly one of project, rename, mask, headers,"
                f" envelope (this one has {', '.join(given) or 'none'})"
            )
        return self

    @property
    def kind(self) -> str:
        for name in ("project", "rename", "mask", "headers", "envelope"):
            if getattr(self, name):
                return name
        raise AssertionError("validated: one kind")  # pragma: no cover


class RouteRule(_Model):
    """One routing rule: which events (``match``), how they change (``transform``), where
    they go (``to``), or ``drop: true``. Rules run in order and every matching rule fires
    (fan-out across rules) until one with ``stop: true`` (or a ``drop``) matched."""

    name: str = Field(pattern=_NAME)
    match: RouteMatch = Field(default_factory=RouteMatch)
    transform: list[TransformStep] = Field(default_factory=list, max_length=50)
    #: target topics (``<domain>.<source>.<event_type>``), each written in the batch's
    #: order, keyed by the entity id; created with ``bus.topics``' settings for them
    to: list[str] = Field(default_factory=list, max_length=20)
    #: write nothing and end evaluation: later rules do not see the event
    drop: bool = False
    #: end evaluation after this rule fired
    stop: bool = False

    @field_validator("to", mode="before")
    @classmethod
    def _one_target(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _target_or_drop(self) -> Self:
        if self.drop and (self.to or self.transform):
            raise ValueError("a drop rule has no 'to' and no 'transform'")
        if not self.drop and not self.to:
            raise ValueError("needs 'to' (one or more target topics) or 'drop: true'")
        if len(set(self.to)) != len(self.to):
            raise ValueError("target topics must be unique")
        kinds = [step.kind for step in self.transform]
        if "envelope" in kinds and kinds.index("envelope") != len(kinds) - 1:
            raise ValueError("the envelope step comes last (after it there is no event to edit)")
        return self


def _unique_names(rules: list[RouteRule]) -> list[RouteRule]:
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.name in seen:
            raise ValueError(f"rules[{i}] ({rule.name}): rule names must be unique")
        seen.add(rule.name)
    return rules


class RouterRulesFile(_Model):
    """The rules file (``router.rules_file``): ``rules:`` as in ``mesh.yaml``."""

    rules: list[RouteRule] = Field(default_factory=list, max_length=1000)

    _names = field_validator("rules")(classmethod(lambda cls, v: _unique_names(v)))


class RouterSettings(_Model):
    """The event router (``docs/router.md``).

    Env example: ``DICTAMESH_ROUTER__ENABLED=true``."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    #: run the router on this node (``dictamesh serve``); ``dictamesh router`` and
    #: ``serve --role router`` run it whatever this says
    enabled: bool = False
    #: the consumer group (nodes sharing it share the work: each event is routed once)
    group: str = Field(default="dictamesh-router", pattern=r"^[A-Za-z0-9._-]{1,200}$")
    #: topics to read; none: the entity topics of the configured adapters
    sources: list[str] = Field(default_factory=list, max_length=1000)
    rules: list[RouteRule] = Field(default_factory=list, max_length=1000)
    #: a YAML file holding ``rules:``, watched and reloaded on change (instead of ``rules``)
    rules_file: Path | None = None
    #: how often the rules file is checked for changes (modification time, then content)
    reload_interval_seconds: float = Field(default=2.0, gt=0, le=3600)
    #: where events a transform fails on go; none: ``<source topic>.dlq``
    dead_letter_topic: str | None = Field(default=None, min_length=1, max_length=249)
    batch_size: int = Field(default=500, ge=1, le=10_000)
    #: tries of a batch whose writes fail before it is retried message by message (and
    #: those before they are dead-lettered); none: ``bus.max_delivery_attempts``
    max_attempts: int | None = Field(default=None, ge=1, le=100)

    _names = field_validator("rules")(classmethod(lambda cls, v: _unique_names(v)))

    @model_validator(mode="after")
    def _one_source_of_rules(self) -> Self:
        if self.rules and self.rules_file is not None:
            raise ValueError("give rules inline or in rules_file, not both")
        return self
