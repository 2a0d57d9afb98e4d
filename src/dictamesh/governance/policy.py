"""Declarative access policies over principal, resource and action, with explainable decisions.

Rules are evaluated together, not in order: any matching ``deny`` wins; otherwise a matching
``allow`` grants. What happens when nothing matches depends on what is asked:

- a *classified* field (``confidential`` or ``pii_*``): denied — classified data needs a rule;
- ``read``/``subscribe`` of an entity or of an unclassified field: allowed;
- ``admin`` and ``write`` (create, update, delete, commands at a source): denied — both need
  an allowing rule.

A principal never reaches another tenant's resources, whatever the rules say.

Rules may also depend on the request's declared *purpose* and on the *consent* of the data
subject whose field is read (:mod:`dictamesh.governance.consent`): ``purposes`` lists the
purposes a rule applies to, and ``require_consent: <purpose>`` makes a rule apply only to a
field of a subject that has *not* given consent for that purpose (or opted out of it: CCPA's
``sale``/``share``). Such a rule is usually ``deny`` or ``mask``: a ``mask`` rule grants
nothing, it only turns an allowed read of the field into a masked one (its ``mask``, else
``default_mask``); a deny still wins.

Example policy (YAML)::

    version: 1
    default_mask: redact
    rules:
      - id: support-sees-contact-masked
        effect: allow
        actions: [read]
        principal: {roles: [support]}
        resource: {entity_types: [customer], tags: ["pii_*"]}
        mask: partial
      - id: admins-see-everything
        effect: allow
        actions: [read, read_unmasked, subscribe, admin, write]
        principal: {roles: [admin]}
      - id: marketing-needs-consent
        effect: mask
        actions: [read]
        purposes: [marketing]
        require_consent: marketing
        resource: {entity_types: [customer], tags: ["pii_*"]}

    engine = PolicyEngine.from_yaml(text)
    decision = engine.decide(principal, "read", Resource("customer", "customers", "email",
                                                         Classification.PII_EMAIL, "acme"))
    decision.allowed, decision.mask, decision.explain()
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import Classification
from dictamesh.governance.masking import MaskStrategy

__all__ = [
    "Action",
    "Decision",
    "PolicyDocument",
    "PolicyEngine",
    "PolicyRule",
    "PrincipalLike",
    "Resource",
    "RuleTrace",
]

MAX_POLICY_BYTES = 1_000_000
MAX_RULES = 10_000


class Action(StrEnum):
    READ = "read"
    READ_UNMASKED = "read_unmasked"
    SUBSCRIBE = "subscribe"
    ADMIN = "admin"
    #: change data at its source (create/update/delete, commands); denied unless a rule allows
    WRITE = "write"


class PrincipalLike(Protocol):
    """What the engine needs from an authenticated caller (see :mod:`dictamesh.auth`)."""

    @property
    def subject(self) -> str: ...

    @property
    def roles(self) -> Iterable[str]: ...

    @property
    def tenant(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Resource:
    """An entity type, or one field of it (``field`` set) with its classification."""

    entity_type: str
    domain: str | None = None
    field: str | None = None
    classification: Classification = Classification.PUBLIC
    tenant: str | None = None

    @property
    def classified(self) -> bool:
        return self.field is not None and self.classification not in (
            Classification.PUBLIC,
            Classification.INTERNAL,
        )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _patterns(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    return value


class PrincipalMatch(_Strict):
    """Every key given must match; within a key any listed value matches (``*`` globs)."""

    subjects: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    tenants: list[str] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)
    authenticated: bool | None = None

    _as_list = field_validator("subjects", "roles", "tenants", "domains", mode="before")(_patterns)


class ResourceMatch(_Strict):
    entity_types: list[str] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)
    fields: list[str] = Field(default_factory=list)
    #: field classifications (``pii_*``, ``confidential``); empty = any field or the entity
    tags: list[str] = Field(default_factory=list)

    _as_list = field_validator("entity_types", "domains", "fields", "tags", mode="before")(
        _patterns
    )


class PolicyRule(_Strict):
    id: str = Field(min_length=1, max_length=200)
    description: str = ""
    #: ``mask``: masks an otherwise allowed ``read`` of a field, grants nothing
    effect: Literal["allow", "deny", "mask"]
    actions: list[Action] = Field(min_length=1)
    principal: PrincipalMatch = Field(default_factory=PrincipalMatch)
    resource: ResourceMatch = Field(default_factory=ResourceMatch)
    mask: MaskStrategy | None = None
    #: the declared purposes the rule applies to (``*`` globs); empty: any, or none
    purposes: list[str] = Field(default_factory=list)
    #: applies only to fields of a subject without consent for this purpose
    require_consent: str | None = Field(default=None, min_length=1, max_length=63)

    _as_list = field_validator("actions", "purposes", mode="before")(_patterns)

    @model_validator(mode="after")
    def _mask_reads(self) -> PolicyRule:
        if self.effect == "mask" and self.actions != [Action.READ]:
            raise ValueError("a mask rule applies to actions [read] only")
        return self


class PolicyDocument(_Strict):
    version: Literal[1] = 1
    default_mask: MaskStrategy = MaskStrategy.REDACT
    rules: list[PolicyRule] = Field(default_factory=list, max_length=MAX_RULES)

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: list[PolicyRule]) -> list[PolicyRule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
        return rules


@dataclass(frozen=True, slots=True)
class RuleTrace:
    rule_id: str
    matched: bool
    #: why it did not match (empty when it did)
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    action: Action
    resource: Resource
    #: for an allowed read of a classified field: how to mask it (``NONE`` = clear)
    mask: MaskStrategy = MaskStrategy.NONE
    reason: str = ""
    deciding_rules: tuple[str, ...] = ()
    trace: tuple[RuleTrace, ...] = field(default=(), compare=False)

    @property
    def effect(self) -> str:
        return "allow" if self.allowed else "deny"

    def explain(self) -> str:
        lines = [f"{self.effect.upper()}: {self.reason}"]
        if self.allowed and self.mask is not MaskStrategy.NONE:
            lines.append(f"  masked with: {self.mask.value}")
        for step in self.trace:
            mark = "matched" if step.matched else f"skipped ({step.reason})"
            lines.append(f"  rule {step.rule_id}: {mark}")
        return "\n".join(lines)


def _glob_any(patterns: Sequence[str], value: str | None) -> bool:
    return value is not None and any(fnmatch.fnmatchcase(value, p) for p in patterns)


class PolicyEngine:
    def __init__(self, document: PolicyDocument | None = None) -> None:
        self.document = document or PolicyDocument()

    # --- loading ----------------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, data: Any, *, source: str = "policy") -> PolicyEngine:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"{source}: a policy document must be a mapping")
        try:
            return cls(PolicyDocument.model_validate(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "document"
            raise ConfigurationError(
                f"{source}: invalid policy at {where}: {first['msg']}",
                errors=len(exc.errors()),
            ) from None

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "policy") -> PolicyEngine:
        if len(text.encode("utf-8", "replace")) > MAX_POLICY_BYTES:
            raise ConfigurationError(f"{source}: policy larger than {MAX_POLICY_BYTES} bytes")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{source}: not valid YAML: {exc}") from None
        return cls.from_mapping(data, source=source)

    @classmethod
    def from_file(cls, path: str | Path) -> PolicyEngine:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read policy file {p}: {exc}") from None
        return cls.from_yaml(text, source=str(p))

    # --- deciding ---------------------------------------------------------------------------

    @property
    def uses_consent(self) -> bool:
        """Whether some rule depends on a subject's consent (reads then look it up)."""
        return any(rule.require_consent for rule in self.document.rules)

    @property
    def uses_purpose(self) -> bool:
        return any(rule.purposes or rule.require_consent for rule in self.document.rules)

    def decide(
        self,
        principal: PrincipalLike | None,
        action: Action | str,
        resource: Resource,
        *,
        purpose: str | None = None,
        consents: frozenset[str] | None = None,
    ) -> Decision:
        """``purpose``: what the request declared it reads for; ``consents``: the purposes
        in effect for the subject whose field ``resource`` is (``None``: unknown, counted
        as no consent at all)."""
        try:
            act = Action(action)
        except ValueError:
            raise ConfigurationError(
                f"unknown action {action!r}; expected one of {[a.value for a in Action]}"
            ) from None
        tenant = principal.tenant if principal is not None else None
        if resource.tenant is not None and tenant is not None and tenant != resource.tenant:
            return Decision(False, act, resource, reason="the resource belongs to another tenant")

        trace: list[RuleTrace] = []
        matched: list[PolicyRule] = []
        for rule in self.document.rules:
            why_not = self._mismatch(rule, principal, act, resource, purpose, consents)
            trace.append(RuleTrace(rule.id, why_not is None, why_not or ""))
            if why_not is None:
                matched.append(rule)

        denies = [r.id for r in matched if r.effect == "deny"]
        if denies:
            return Decision(
                False, act, resource, reason="denied by rule", deciding_rules=tuple(denies),
                trace=tuple(trace),
            )  # fmt: skip
        allows = [r for r in matched if r.effect == "allow"]
        decision = self._granted(act, resource, allows, principal, purpose, consents, trace)
        masks = [r for r in matched if r.effect == "mask"]
        if masks and decision.allowed and act is Action.READ and resource.field is not None:
            return dataclasses.replace(
                decision,
                mask=next((r.mask for r in masks if r.mask is not None), None)
                or self.document.default_mask,
                reason="masked by rule",
                deciding_rules=tuple(r.id for r in masks),
            )
        return decision

    def _granted(
        self,
        act: Action,
        resource: Resource,
        allows: list[PolicyRule],
        principal: PrincipalLike | None,
        purpose: str | None,
        consents: frozenset[str] | None,
        trace: list[RuleTrace],
    ) -> Decision:
        if act is Action.READ and resource.classified:
            unmasked = [
                r for r in self._matching_for(
                    Action.READ_UNMASKED, principal, resource, purpose, consents
                )
                if r.effect == "allow"
            ]  # fmt: skip
            if unmasked:
                return Decision(
                    True, act, resource, reason="allowed unmasked by rule",
                    deciding_rules=tuple(r.id for r in unmasked), trace=tuple(trace),
                )  # fmt: skip
            if allows:
                mask = next((r.mask for r in allows if r.mask is not None), None)
                return Decision(
                    True, act, resource, mask=mask or self.document.default_mask,
                    reason="allowed masked by rule", deciding_rules=tuple(r.id for r in allows),
                    trace=tuple(trace),
                )  # fmt: skip
            return Decision(
                False, act, resource, trace=tuple(trace),
                reason=f"no rule allows reading {resource.classification.value} fields"
                " (classified fields are denied by default)",
            )  # fmt: skip
        if allows:
            return Decision(
                True, act, resource, reason="allowed by rule",
                deciding_rules=tuple(r.id for r in allows), trace=tuple(trace),
            )  # fmt: skip
        if act in (Action.ADMIN, Action.WRITE) or (
            act is Action.READ_UNMASKED and resource.classified
        ):
            return Decision(
                False, act, resource, trace=tuple(trace),
                reason=f"no rule allows {act.value} (denied by default)",
            )  # fmt: skip
        return Decision(
            True, act, resource, trace=tuple(trace),
            reason="unclassified data is readable unless a rule denies it",
        )  # fmt: skip

    def _matching_for(
        self,
        act: Action,
        principal: PrincipalLike | None,
        resource: Resource,
        purpose: str | None = None,
        consents: frozenset[str] | None = None,
    ) -> list[PolicyRule]:
        return [
            r
            for r in self.document.rules
            if self._mismatch(r, principal, act, resource, purpose, consents) is None
        ]

    @staticmethod
    def _mismatch(
        rule: PolicyRule,
        principal: PrincipalLike | None,
        act: Action,
        resource: Resource,
        purpose: str | None = None,
        consents: frozenset[str] | None = None,
    ) -> str | None:
        """``None`` when ``rule`` applies, else the first reason it does not."""
        if act not in rule.actions:
            return f"action {act.value} not in {[a.value for a in rule.actions]}"
        if rule.purposes and not _glob_any(rule.purposes, purpose):
            return "purpose not listed"
        if rule.require_consent is not None:
            if resource.field is None:
                return "consent rules apply to fields"
            if consents is not None and rule.require_consent in consents:
                return f"the subject consented to {rule.require_consent}"
        pm, rm = rule.principal, rule.resource
        if pm.authenticated is not None and pm.authenticated != (principal is not None):
            return "authentication state differs"
        if principal is None and (pm.subjects or pm.roles or pm.tenants or pm.domains):
            return "anonymous caller"
        if principal is not None:
            if pm.subjects and not _glob_any(pm.subjects, principal.subject):
                return "subject not listed"
            if pm.roles and not any(_glob_any(pm.roles, role) for role in principal.roles):
                return "no listed role"
            if pm.tenants and not _glob_any(pm.tenants, principal.tenant):
                return "tenant not listed"
            if pm.domains and not _glob_any(pm.domains, _principal_domain(principal)):
                return "domain not listed"
        return _resource_mismatch(rm, resource)

    def could_restrict_read(self, resource: Resource) -> bool:
        """Whether some caller could be kept from reading ``resource`` (a field) in clear:
        it is classified (denied or masked unless a rule allows it), or a rule denying
        ``read`` that names fields or tags applies to it for *some* principal. A rule
        naming neither denies the whole entity to its principals, who then see none of
        its hits, so it does not count. The search layer never embeds such a field: its
        value would steer the scores of callers who may not read it."""
        if resource.classified:
            return True
        return any(
            rule.effect in ("deny", "mask")
            and Action.READ in rule.actions
            and bool(rule.resource.fields or rule.resource.tags)
            and _resource_mismatch(rule.resource, resource) is None
            for rule in self.document.rules
        )


def _resource_mismatch(rm: ResourceMatch, resource: Resource) -> str | None:
    """``None`` when the resource part of a rule applies to ``resource``."""
    if rm.entity_types and not _glob_any(rm.entity_types, resource.entity_type):
        return "entity type not listed"
    if rm.domains and not _glob_any(rm.domains, resource.domain):
        return "resource domain not listed"
    if rm.fields and not _glob_any(rm.fields, resource.field):
        return "field not listed"
    if rm.tags and not (
        resource.field is not None and _glob_any(rm.tags, resource.classification.value)
    ):
        return "field tag not listed"
    return None


def _principal_domain(principal: PrincipalLike) -> str | None:
    domain = getattr(principal, "domain", None)
    if domain is None:
        claims = getattr(principal, "claims", None)
        if isinstance(claims, Mapping):
            domain = claims.get("domain")
    return str(domain) if domain is not None else None
