"""Policy enforcement where data leaves the node: one decision, mask and audit entry per
classified field, the same for GraphQL, REST and the catalog.

A :class:`Governance` holds the node's :class:`~dictamesh.governance.policy.PolicyEngine`,
its :class:`~dictamesh.governance.masking.Masker` and where audit entries go (an
:class:`~dictamesh.governance.audit_writer.AuditWriter`). The API activates it per request
(:data:`current_governance`); the transports ask it:

* :meth:`Governance.field_decision` — may the caller read this field, clear or masked? Only
  *classified* fields (``confidential``, ``pii_*``) need a rule; an unclassified field is
  decided only when the policy has deny rules that could name it;
* :meth:`Governance.check_entity` — entity-level ``read``/``subscribe`` (a denial is
  :class:`~dictamesh.core.errors.PermissionDenied`, ``FORBIDDEN``);
* :class:`Redactor` — one request's masking of whole attribute maps (REST bodies, catalog
  snapshots, event payloads, search hits), collecting audit entries and the denied fields.

Nested object lists (``EntitySchema.nested``) are governed as fields of the top-level entity:
``invoice.items.card_number`` is ``Resource("invoice", field="items.card_number")``.

Example::

    governance = Governance(PolicyEngine.from_file("policy.yaml"), audit=writer)
    redactor = governance.redactor(principal, channel="rest")
    body = redactor.attributes(schema, entity.attributes, entity_id=entity.id)
    await redactor.commit()          # audit entries queued; withholds if that failed
    redactor.denied                  # ['email'] → header X-DictaMesh-Redacted
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Literal, Protocol

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncConnection

from dictamesh.core.context import current_purpose, tenant_id
from dictamesh.core.errors import PermissionDenied
from dictamesh.core.models import Classification, EntitySchema, FieldSpec
from dictamesh.governance.audit import AuditEntry, AuditLog
from dictamesh.governance.consent import ConsentService
from dictamesh.governance.masking import Masker, MaskStrategy
from dictamesh.governance.policy import Action, Decision, PolicyEngine, PrincipalLike, Resource

__all__ = [
    "CHANNEL_CLI",
    "CHANNEL_EXPORT",
    "CHANNEL_GRAPHQL",
    "CHANNEL_NOTIFICATION",
    "CHANNEL_REST",
    "CHANNEL_SUBSCRIPTION",
    "AuditSink",
    "ErasureStep",
    "Governance",
    "Redactor",
    "SchemaLookup",
    "active_governance",
    "current_channel",
    "current_governance",
    "current_trace_id",
    "default_policy",
    "field_at",
    "is_classified",
]

CHANNEL_GRAPHQL = "graphql"
CHANNEL_SUBSCRIPTION = "subscription"
CHANNEL_REST = "rest"
#: a notification rendered for a recipient (masked for the recipient's roles)
CHANNEL_NOTIFICATION = "notification"
CHANNEL_EXPORT = "export"
CHANNEL_CLI = "cli"

_UNCLASSIFIED = frozenset({Classification.PUBLIC, Classification.INTERNAL})

#: the governance of the current request (set by the API's middleware, or ``Governance.use``)
current_governance: ContextVar[Governance | None] = ContextVar("dictamesh_governance", default=None)
#: the channel entity-level checks report: ``subscription`` on a WebSocket, else ``graphql``
current_channel: ContextVar[str] = ContextVar("dictamesh_channel", default=CHANNEL_GRAPHQL)

SchemaLookup = Callable[[str], Awaitable[EntitySchema | None]]
"""The current schema of an entity type (``None``: unknown, so nothing is classified)."""


def active_governance() -> Governance | None:
    return current_governance.get()


def is_classified(classification: Classification) -> bool:
    """``confidential`` and every ``pii_*`` tag: data that needs a rule to be read."""
    return classification not in _UNCLASSIFIED


def current_trace_id() -> str | None:
    """The active OpenTelemetry trace id (32 hex digits), if a span is recording one."""
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


def default_policy(admin_role: str = "admin") -> PolicyEngine:
    """The built-in policy used when ``governance.policy_file`` is unset: ``admin_role``
    reads everything unmasked, may administer and may write (``write``: change data at its
    source); classified fields are denied to everyone else (the engine's default),
    unclassified data stays readable, and nobody else writes."""
    return PolicyEngine.from_mapping(
        {
            "version": 1,
            "rules": [
                {
                    "id": "builtin-admin-reads-everything",
                    "description": "built-in default policy (governance.policy_file unset)",
                    "effect": "allow",
                    "actions": ["read", "read_unmasked", "subscribe", "admin", "write"],
                    "principal": {"roles": [admin_role]},
                }
            ],
        },
        source="built-in default policy",
    )


def field_at(schema: EntitySchema, path: str) -> tuple[FieldSpec, EntitySchema] | None:
    """The field ``path`` names (``items.sku`` walks into nested lists) and its schema."""
    head, dot, rest = path.partition(".")
    if dot:
        nested = schema.nested.get(head)
        return None if nested is None else field_at(nested, rest)
    spec = schema.field(head)
    return None if spec is None else (spec, schema)


class ErasureStep(Protocol):
    """Removes what a higher layer holds of an entity, on the erasure's transaction (so
    :func:`~dictamesh.governance.erasure.erase_entity` commits whole or not at all);
    returns the rows removed."""

    async def __call__(
        self, conn: AsyncConnection, tenant: str, entity_type: str, entity_id: str
    ) -> int: ...


class AuditSink(Protocol):
    """Where audit entries go (:class:`~dictamesh.governance.audit_writer.AuditWriter`)."""

    async def submit(self, entries: Sequence[AuditEntry]) -> bool: ...

    def submit_nowait(self, entries: Sequence[AuditEntry]) -> bool: ...


def _who(principal: PrincipalLike | None) -> Any:
    """What a decision depends on in a principal (the decision cache key)."""
    if principal is None:
        return None
    domain = getattr(principal, "domain", None)
    if domain is None:
        claims = getattr(principal, "claims", None)
        if isinstance(claims, Mapping):
            domain = claims.get("domain")
    return (principal.subject, frozenset(principal.roles), principal.tenant, domain)


def _restricts_unclassified(engine: PolicyEngine) -> bool:
    """Could a deny rule apply to an unclassified field? (Else those are never decided.)"""
    for rule in engine.document.rules:
        if rule.effect == "allow" or Action.READ not in rule.actions:
            continue
        tags = rule.resource.tags
        if tags and any(fnmatch.fnmatchcase(c.value, t) for t in tags for c in _UNCLASSIFIED):
            return True
        if rule.resource.fields and not tags:
            return True
    return False


class Governance:
    """Decisions (cached), masking and auditing for one node.

    ``on_audit_overflow``: what happens to a classified value whose audit entry could not be
    queued (the audit writer stayed full): ``deny`` withholds it, ``drop`` serves it
    unaudited. Either way the entry is counted as dropped.
    """

    def __init__(
        self,
        policy: PolicyEngine | None = None,
        *,
        masker: Masker | None = None,
        audit: AuditSink | None = None,
        audit_log: AuditLog | None = None,
        publisher: Any = None,
        on_audit_overflow: Literal["deny", "drop"] = "deny",
        cache_size: int = 4096,
        consent: ConsentService | None = None,
    ) -> None:
        self.policy = policy if policy is not None else default_policy()
        #: consent records and declared purposes (``None``: no subject has consented to
        #: anything, opt-out purposes stay in effect, purposes come from the header only)
        self.consent = consent
        self._consent_types = [
            (rule.resource.entity_types, rule.purposes) for rule in self.policy.document.rules
            if rule.require_consent
        ]  # fmt: skip
        self.uses_purpose = self.policy.uses_purpose
        #: whether any rule requires consent (else :meth:`consents` is always empty)
        self.uses_consent = bool(self._consent_types)
        self.masker = masker if masker is not None else Masker()
        self.audit_sink = audit
        #: read side of the audit trail (audit API); writes go through ``audit_sink``
        self.audit_log = audit_log
        #: the node's :class:`~dictamesh.events.publisher.EventPublisher` (erasure events)
        self.publisher = publisher
        self.on_audit_overflow = on_audit_overflow
        #: classified values withheld because their audit entry was dropped
        self.withheld = 0
        self.restricts_unclassified = _restricts_unclassified(self.policy)
        self._cache_size = cache_size
        self._decisions: OrderedDict[Any, Decision] = OrderedDict()
        #: what else :func:`~dictamesh.governance.erasure.erase_entity` removes, in its
        #: transaction (higher layers' copies of an entity: the search vectors)
        self.erasure_steps: list[ErasureStep] = []

    @contextlib.contextmanager
    def use(self) -> Iterator[Governance]:
        """Activate for the block (the API's middleware does this per request)."""
        token = current_governance.set(self)
        try:
            yield self
        finally:
            current_governance.reset(token)

    # --- decisions --------------------------------------------------------------------------

    def decide(
        self,
        principal: PrincipalLike | None,
        action: Action | str,
        resource: Resource,
        *,
        purpose: str | None = None,
        consents: frozenset[str] | None = None,
    ) -> Decision:
        """:meth:`PolicyEngine.decide`, remembered per (principal, action, resource,
        purpose, consents in effect): a consent change yields another key, so no
        remembered decision outlives it."""
        act = Action(action)
        key = (_who(principal), act, resource, purpose, consents)
        found = self._decisions.get(key)
        if found is not None:
            self._decisions.move_to_end(key)
            return found
        decision = dataclasses.replace(
            self.policy.decide(principal, act, resource, purpose=purpose, consents=consents),
            trace=(),
        )
        self._decisions[key] = decision
        if len(self._decisions) > self._cache_size:
            self._decisions.popitem(last=False)
        return decision

    def entity_decision(
        self,
        principal: PrincipalLike | None,
        entity_type: str,
        domain: str | None,
        action: Action = Action.READ,
    ) -> Decision:
        return self.decide(principal, action, Resource(entity_type, domain, tenant=tenant_id()))

    # --- purpose and consent ----------------------------------------------------------------

    def purpose(self, principal: PrincipalLike | None) -> str | None:
        """The purpose the current request declared (header, JWT claim, third-party role)."""
        if self.consent is not None:
            return self.consent.declared_purpose(principal)
        return current_purpose.get()

    def needs_consent(self, entity_type: str, purpose: str | None) -> bool:
        """Whether reading ``entity_type``'s fields for ``purpose`` may depend on its
        subject's consent (a rule requiring consent could apply)."""

        def matches(patterns: list[str], value: str | None) -> bool:
            return not patterns or (
                value is not None and any(fnmatch.fnmatchcase(value, p) for p in patterns)
            )

        return any(
            matches(types, entity_type) and matches(purposes, purpose)
            for types, purposes in self._consent_types
        )

    async def consents(
        self,
        entity_type: str,
        entity_ids: Iterable[str | None],
        principal: PrincipalLike | None = None,
    ) -> dict[str, frozenset[str]]:
        """subject (``type:id``) → purposes in effect, for the entities a read by
        ``principal`` is about to show: read once per request from the shared consent store
        (the next read after a withdrawal, on any node, sees it). Empty when no rule
        requiring consent applies to this type and the request's purpose."""
        if not self._consent_types or not self.needs_consent(entity_type, self.purpose(principal)):
            return {}
        subjects = [f"{entity_type}:{i}" for i in entity_ids if i is not None]
        if self.consent is None:
            return dict.fromkeys(subjects, frozenset())
        return await self.consent.in_effect(subjects)

    def field_decision(
        self,
        principal: PrincipalLike | None,
        entity_type: str,
        domain: str | None,
        path: str,
        classification: Classification,
        *,
        entity_id: str | None = None,
        consents: Mapping[str, frozenset[str]] | None = None,
    ) -> Decision | None:
        """The decision on one field, or ``None`` when it is unrestricted (unclassified and
        no rule denies or masks it): nothing to mask, nothing to audit.

        ``consents``: what :meth:`consents` read for the entities shown; a subject not in
        it counts as having consented to nothing (a read that did not look is masked)."""
        classified = is_classified(classification)
        if not classified and not self.restricts_unclassified:
            return None
        resource = Resource(entity_type, domain, path, classification, tenant_id())
        purpose = self.purpose(principal) if self.uses_purpose else None
        subject_consents: frozenset[str] | None = None
        if entity_id is not None and self._consent_types:
            subject = f"{entity_type}:{entity_id}"
            if consents is not None:
                subject_consents = consents.get(subject)
            if subject_consents is None and self.consent is not None:
                subject_consents = self.consent.cached(subject)
        decision = self.decide(
            principal, Action.READ, resource, purpose=purpose, consents=subject_consents
        )
        if decision.allowed and not classified and decision.mask is MaskStrategy.NONE:
            return None
        return decision

    def clear_access(
        self,
        principal: PrincipalLike | None,
        schema: EntitySchema,
        path: str,
    ) -> Decision | None:
        """``None`` when the caller reads ``path`` in clear, else the decision that says why
        not (denied, or only masked). Filters, sorts and search matches on a field need
        clear access: comparing against a hidden value would reveal it."""
        found = field_at(schema, path)
        if found is None:
            return None
        spec, declaring = found
        decision = self.field_decision(
            principal, schema.entity_type, declaring.domain, path, spec.classification
        )
        if decision is None or (decision.allowed and decision.mask is MaskStrategy.NONE):
            return None
        return decision

    # --- masking ----------------------------------------------------------------------------

    def mask_value(self, value: Any, spec: FieldSpec, strategy: MaskStrategy) -> Any:
        if value is None or strategy is MaskStrategy.NONE:
            return value
        if spec.many and isinstance(value, list):
            return [self.masker.mask(v, strategy, spec.classification) for v in value]
        return self.masker.mask(value, strategy, spec.classification)

    # --- auditing ---------------------------------------------------------------------------

    def entry(
        self,
        decision: Decision,
        principal: PrincipalLike | None,
        *,
        channel: str,
        entity_id: str | None = None,
    ) -> AuditEntry:
        return AuditEntry.of(
            decision, principal, channel=channel, entity_id=entity_id, trace_id=current_trace_id()
        )

    async def record(self, entries: Sequence[AuditEntry]) -> bool:
        """Queue ``entries``; False when the values they cover must be withheld."""
        if not entries or self.audit_sink is None:
            return True
        if await self.audit_sink.submit(entries):
            return True
        return self.on_audit_overflow == "drop"

    def record_now(self, entries: Sequence[AuditEntry]) -> bool | None:
        """:meth:`record` without awaiting when the sink has room now (a sink without
        ``has_room`` never does); ``None``: it would have to wait, call :meth:`record`."""
        sink = self.audit_sink
        if not entries or sink is None:
            return True
        has_room = getattr(sink, "has_room", None)
        if has_room is None or not has_room(len(entries)):
            return None
        return self.record_nowait(entries)

    def record_nowait(self, entries: Sequence[AuditEntry]) -> bool:
        if not entries or self.audit_sink is None:
            return True
        if self.audit_sink.submit_nowait(entries):
            return True
        return self.on_audit_overflow == "drop"

    # --- entity-level checks ------------------------------------------------------------------

    def _entity_denial(
        self,
        principal: PrincipalLike | None,
        entity_type: str,
        domain: str | None,
        actions: Iterable[Action],
    ) -> Decision | None:
        for action in actions:
            decision = self.entity_decision(principal, entity_type, domain, action)
            if not decision.allowed:
                return decision
        return None

    @staticmethod
    def _forbidden(decision: Decision) -> PermissionDenied:
        res = decision.resource
        return PermissionDenied(
            f"not allowed to {decision.action.value} {res.entity_type} entities",
            entity_type=res.entity_type,
            action=decision.action.value,
        )

    async def check_entity(
        self,
        principal: PrincipalLike | None,
        entity_type: str,
        domain: str | None,
        *,
        channel: str,
        entity_id: str | None = None,
        actions: Iterable[Action] = (Action.READ,),
    ) -> None:
        """Raise :class:`PermissionDenied` (audited) when an entity-level rule denies."""
        denial = self._entity_denial(principal, entity_type, domain, actions)
        if denial is not None:
            await self.record([self.entry(denial, principal, channel=channel, entity_id=entity_id)])
            raise self._forbidden(denial)

    def check_entity_nowait(
        self,
        principal: PrincipalLike | None,
        entity_type: str,
        domain: str | None,
        *,
        channel: str,
        entity_id: str | None = None,
        actions: Iterable[Action] = (Action.READ,),
    ) -> None:
        denial = self._entity_denial(principal, entity_type, domain, actions)
        if denial is not None:
            self.record_nowait(
                [self.entry(denial, principal, channel=channel, entity_id=entity_id)]
            )
            raise self._forbidden(denial)

    def redactor(self, principal: PrincipalLike | None, *, channel: str) -> Redactor:
        return Redactor(self, principal, channel)


class Redactor:
    """One request's masking of attribute maps: collects the audit entries (one per entity
    and classified field, however often the request shows it) and the denied field paths.

    Call :meth:`commit` before answering: it queues the audit entries and, when that fails
    under ``on_audit_overflow: deny``, withholds (nulls) the classified values it served.
    """

    def __init__(
        self, governance: Governance, principal: PrincipalLike | None, channel: str
    ) -> None:
        self.governance = governance
        self.principal = principal
        self.channel = channel
        self._denied: dict[str, None] = {}
        self._masked: dict[str, None] = {}
        self._entries: dict[tuple[str, str | None, str], AuditEntry] = {}
        self._served: list[tuple[dict[str, Any], str, str]] = []
        self._hidden: dict[str, frozenset[str]] = {}
        self._consents: dict[str, frozenset[str]] = {}

    async def prepare(self, entity_type: str, entity_ids: Iterable[str | None]) -> None:
        """Read the consents of the entities about to be shown (call before
        :meth:`attributes` when the policy may require consent; a subject not prepared
        counts as having consented to nothing)."""
        self._consents.update(
            await self.governance.consents(entity_type, entity_ids, self.principal)
        )

    @property
    def denied(self) -> list[str]:
        """Paths of the fields withheld from the caller, in the order first met."""
        return list(self._denied)

    @property
    def masked(self) -> list[str]:
        """Paths of the fields served masked (not in clear), in the order first met."""
        return list(self._masked)

    async def check_entity(
        self, entity_type: str, domain: str | None, entity_id: str | None = None
    ) -> None:
        await self.governance.check_entity(
            self.principal, entity_type, domain, channel=self.channel, entity_id=entity_id
        )

    def attributes(
        self, schema: EntitySchema, attributes: Mapping[str, Any] | None, *, entity_id: str | None
    ) -> dict[str, Any] | None:
        """A masked copy of one entity's ``attributes`` (denied fields are ``None``)."""
        if attributes is None:
            return None
        out = dict(attributes)
        self._walk(schema.entity_type, schema, out, "", entity_id)
        return out

    def _walk(
        self,
        entity_type: str,
        schema: EntitySchema,
        out: dict[str, Any],
        prefix: str,
        entity_id: str | None,
    ) -> None:
        gov = self.governance
        for spec in schema.fields:
            if spec.name not in out:
                continue
            path = prefix + spec.name
            decision = gov.field_decision(
                self.principal, entity_type, schema.domain, path, spec.classification,
                entity_id=entity_id, consents=self._consents,
            )  # fmt: skip
            if decision is None:
                continue
            key = (entity_type, entity_id, path)
            if key not in self._entries:
                self._entries[key] = gov.entry(
                    decision, self.principal, channel=self.channel, entity_id=entity_id
                )
            if not decision.allowed:
                out[spec.name] = None
                self._denied[path] = None
                continue
            out[spec.name] = gov.mask_value(out[spec.name], spec, decision.mask)
            if decision.mask is not MaskStrategy.NONE:
                self._masked[path] = None
            self._served.append((out, spec.name, path))
        for name, nested in schema.nested.items():
            items = out.get(name)
            if not isinstance(items, list):
                continue
            copies: list[Any] = []
            for item in items:
                if isinstance(item, Mapping):
                    copy = dict(item)
                    self._walk(entity_type, nested, copy, f"{prefix}{name}.", entity_id)
                    copies.append(copy)
                else:
                    copies.append(item)
            out[name] = copies

    def event_payload(
        self, schema: EntitySchema, payload: Mapping[str, Any], *, entity_id: str | None
    ) -> dict[str, Any]:
        """A change event's JSON with its ``before``/``after`` attributes masked."""
        out = dict(payload)
        for key in ("before", "after"):
            value = out.get(key)
            if isinstance(value, Mapping):
                out[key] = self.attributes(schema, value, entity_id=entity_id)
        return out

    def hidden_names(self, schema: EntitySchema) -> frozenset[str]:
        """Top-level attribute names whose values (or a nested value) the caller cannot
        read in clear: a search match on them would confirm what they hold."""
        found = self._hidden.get(schema.entity_type)
        if found is None:
            names = {
                spec.name
                for spec in schema.fields
                if self.governance.clear_access(self.principal, schema, spec.name) is not None
            }
            names |= {
                name
                for name, nested in schema.nested.items()
                if _any_hidden(self.governance, self.principal, schema, nested, f"{name}.")
            }
            found = self._hidden[schema.entity_type] = frozenset(names)
        return found

    async def search_hits(
        self, text: str, hits: Iterable[Any], lookup: SchemaLookup
    ) -> list[tuple[Any, list[str]]]:
        """``(hit, visible matched names)`` for the hits of a search for ``text`` the
        caller may see.

        A hit of an entity type the caller may not read is dropped; names of fields it
        cannot read in clear leave ``matched``; a hit found only through such fields (and
        not by its id) is dropped. Search is not audited: it returns no values.
        """
        exact_id = text.strip()
        out: list[tuple[Any, list[str]]] = []
        schemas: dict[str, EntitySchema | None] = {}
        for hit in hits:
            entity_type = hit.entity_type
            if entity_type not in schemas:
                schemas[entity_type] = await lookup(entity_type)
            schema = schemas[entity_type]
            matched = list(hit.matched)
            if schema is None:
                out.append((hit, matched))
                continue
            if not self.governance.entity_decision(
                self.principal, entity_type, schema.domain
            ).allowed:
                continue
            hidden = self.hidden_names(schema)
            visible = [m for m in matched if m not in hidden]
            if matched and not visible and hit.entity_id != exact_id:
                continue
            out.append((hit, visible))
        return out

    async def commit(self) -> None:
        """Queue the audit entries; withhold the served classified values if that failed."""
        entries = list(self._entries.values())
        self._entries.clear()
        if await self.governance.record(entries):
            self._served.clear()
            return
        for container, name, path in self._served:
            container[name] = None
            self._denied[path] = None
        self.governance.withheld += len(self._served)
        self._served.clear()


def _any_hidden(
    governance: Governance,
    principal: PrincipalLike | None,
    top: EntitySchema,
    nested: EntitySchema,
    prefix: str,
) -> bool:
    for spec in nested.fields:
        if governance.clear_access(principal, top, prefix + spec.name) is not None:
            return True
    return any(
        _any_hidden(governance, principal, top, inner, f"{prefix}{name}.")
        for name, inner in nested.nested.items()
    )
