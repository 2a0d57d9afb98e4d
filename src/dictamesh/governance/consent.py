"""Consent and purpose: who agreed to what, and what a request is for.

A data subject is named as erasure names one, by entity reference: ``customer:c-1``. For
each declared purpose (``governance.consent.purposes``) a subject has given or withdrawn
consent (append-only history in :class:`~dictamesh.governance.consent_store.ConsentStore`).
A purpose is *in effect* for a subject when:

* consent purposes (GDPR style): its newest record says ``given``;
* opt-out purposes (``opt_out: true``, CCPA's ``sale`` and ``share``): it has no record
  saying ``withdrawn`` — ``do_not_sell`` is a withdrawal of ``sale``.

A request declares its purpose with a header (``X-DictaMesh-Purpose``) or a JWT claim
(``purpose``); callers with a third-party role read for ``sale`` unless they declare
another. Policies use both (:mod:`dictamesh.governance.policy`: ``purposes``,
``require_consent``). Every consent change is audited.

Example::

    consent = ConsentService(settings.governance.consent, ConsentStore(catalog.database),
                             audit=AuditLog(catalog))
    await consent.record("customer:c-1", "marketing", "given", source="api", actor="alice")
    await consent.in_effect(["customer:c-1"])       # {"customer:c-1": {"marketing", "sale", ...}}
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, Protocol

from dictamesh.core.context import current_purpose, tenant_id
from dictamesh.core.errors import ValidationError
from dictamesh.core.models import EntityRef
from dictamesh.core.settings import ConsentSettings
from dictamesh.governance.audit import AuditEntry
from dictamesh.governance.consent_store import (
    ConsentChange,
    ConsentRecord,
    ConsentState,
    ConsentStore,
)
from dictamesh.governance.policy import PrincipalLike

__all__ = [
    "CCPA_FLAGS",
    "SOURCES",
    "ConsentService",
    "consent_scope",
]

SOURCES = ("api", "cli", "import")
#: the CCPA flags and the opt-out purposes they withdraw
CCPA_FLAGS = {"do_not_sell": "sale", "do_not_share": "share"}
#: this request's consents already read: (tenant, subject) → purposes in effect
_memo: ContextVar[dict[tuple[str | None, str], frozenset[str]] | None] = ContextVar(
    "dictamesh_consent_memo", default=None
)


class _AuditRecorder(Protocol):
    async def record(self, entries: Iterable[AuditEntry]) -> int: ...


@contextlib.contextmanager
def consent_scope() -> Iterator[None]:
    """Remember the consents read during the block (one request): each subject is read
    once per request, and a request never sees two states of one subject."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


class ConsentService:
    def __init__(
        self,
        settings: ConsentSettings,
        store: ConsentStore | None = None,
        *,
        audit: _AuditRecorder | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.audit = audit
        self.opt_out = frozenset(n for n, p in settings.purposes.items() if p.opt_out)

    # --- purposes ---------------------------------------------------------------------------

    def check_purpose(self, purpose: str) -> str:
        if not isinstance(purpose, str) or purpose not in self.settings.purposes:
            raise ValidationError(
                "unknown purpose", purpose=str(purpose)[:64], known=sorted(self.settings.purposes)
            )
        return purpose

    def declared_purpose(self, principal: PrincipalLike | None) -> str | None:
        """The purpose of the current request: the header's, else the JWT claim's, else
        ``sale`` for a third-party role, else ``default_purpose``. An unknown claimed
        purpose counts as none declared."""
        found = current_purpose.get()
        if found is not None:
            return found
        claims = getattr(principal, "claims", None)
        if isinstance(claims, Mapping):
            claimed = claims.get(self.settings.claim)
            if isinstance(claimed, str) and claimed in self.settings.purposes:
                return claimed
        third = self.settings.third_party_roles
        if principal is not None and third and not set(third).isdisjoint(principal.roles):
            return "sale"
        return self.settings.default_purpose

    def is_subject(self, principal: PrincipalLike | None, subject: str) -> bool:
        """Whether the caller *is* ``subject`` (its JWT names it in ``subject_claim``)."""
        claims = getattr(principal, "claims", None)
        return isinstance(claims, Mapping) and claims.get(self.settings.subject_claim) == subject

    # --- state ------------------------------------------------------------------------------

    def _effective(self, states: Mapping[str, str]) -> frozenset[str]:
        given = {p for p, s in states.items() if s == "given"}
        kept = {p for p in self.opt_out if states.get(p) != "withdrawn"}
        return frozenset(given | kept)

    async def in_effect(self, subjects: Iterable[str]) -> dict[str, frozenset[str]]:
        """subject → the purposes in effect for it (within a :func:`consent_scope`, each
        subject is read once)."""
        memo = _memo.get()
        tenant = tenant_id()
        wanted = list(dict.fromkeys(subjects))
        out: dict[str, frozenset[str]] = {}
        missing = []
        for subject in wanted:
            known = memo.get((tenant, subject)) if memo is not None else None
            if known is None:
                missing.append(subject)
            else:
                out[subject] = known
        if missing:
            current = await self.store.current(missing) if self.store is not None else {}
            for subject in missing:
                out[subject] = self._effective(current.get(subject, {}))
                if memo is not None:
                    memo[(tenant, subject)] = out[subject]
        return out

    def cached(self, subject: str) -> frozenset[str] | None:
        """The purposes in effect for ``subject`` if this request already read them."""
        memo = _memo.get()
        return None if memo is None else memo.get((tenant_id(), subject))

    async def state(self, subject: str) -> dict[str, Any]:
        """A subject's consents: current state per purpose, CCPA flags, full history."""
        ref = str(EntityRef.parse(subject))
        store = self._require_store()
        history = await store.history(ref)
        newest: dict[str, ConsentRecord] = {}
        for record in history:
            newest[record.purpose] = record
        effective = self._effective({p: r.state for p, r in newest.items()})
        purposes = {}
        for name, spec in self.settings.purposes.items():
            last = newest.get(name)
            purposes[name] = {
                "in_effect": name in effective,
                "state": last.state if last is not None else None,
                "opt_out": spec.opt_out,
                "since": last.recorded_at.isoformat() if last is not None else None,
            }
        return {
            "subject": ref,
            "purposes": purposes,
            "ccpa": {flag: p not in effective for flag, p in CCPA_FLAGS.items()
                     if p in self.settings.purposes},
            "history": [r.to_dict() for r in history],
        }  # fmt: skip

    # --- changes ----------------------------------------------------------------------------

    def _require_store(self) -> ConsentStore:
        if self.store is None:
            raise ValidationError("consent records need a catalog")
        return self.store

    async def record(
        self,
        subject: str,
        purpose: str,
        state: ConsentState,
        *,
        source: str,
        actor: str,
        evidence: str = "",
        roles: Iterable[str] = (),
        auth_method: str = "none",
    ) -> ConsentRecord:
        """Append one change (validated first: a typed 400 before anything is written),
        then audit it. The next read on any node sees it (the store is shared)."""
        ref = str(EntityRef.parse(subject))
        self.check_purpose(purpose)
        if state not in ("given", "withdrawn"):
            raise ValidationError("consent state must be 'given' or 'withdrawn'")
        if source not in SOURCES:
            raise ValidationError(f"consent source must be one of {list(SOURCES)}")
        limit = self.settings.max_evidence_chars
        if not isinstance(evidence, str) or len(evidence) > limit:
            raise ValidationError(f"evidence longer than {limit} characters", limit=limit)
        record = await self._require_store().append(
            ConsentChange(ref, purpose, state, source, actor or "unknown", evidence)
        )
        memo = _memo.get()
        if memo is not None:
            memo.pop((tenant_id(), ref), None)
        if self.audit is not None:
            entity_type, _, entity_id = ref.partition(":")
            await self.audit.record(
                [
                    AuditEntry(
                        subject=actor or "unknown", roles=tuple(roles), auth_method=auth_method,
                        channel=source, action="admin", entity_type=entity_type,
                        entity_id=entity_id, field=None, classification=None, decision="allow",
                        mask=None, rules=(), tenant=tenant_id(),
                        reason=f"consent {state}: purpose {purpose} (record {record.id})",
                    )
                ]
            )  # fmt: skip
        return record
