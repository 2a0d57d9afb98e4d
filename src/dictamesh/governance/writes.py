"""Governed writes: the policy decides who may change data at a source, and every write is
audited.

A :class:`WriteGuard` stands between a caller (a saga, an API route) and an adapter's write
methods. For each write it asks the policy for action ``write`` on the adapter's entity type
for the principal — ``write`` is **denied unless a rule allows it**, and, as for reads, a
principal never reaches another tenant's data — then calls the adapter and records one audit
row (action ``write``) whatever happened: ``ok``, ``rejected(<reason>)`` (the source refused,
:class:`~dictamesh.core.errors.WriteRejected`) or ``error(<code>)``. A denial is recorded too
and raised as :class:`~dictamesh.core.errors.PermissionDenied` (HTTP 403) before the adapter
is called. Without a :class:`~dictamesh.governance.enforce.Governance` (``None``) every write
is allowed and nothing is audited.

The audit row uses the existing columns (:class:`~dictamesh.governance.audit.AuditEntry`):
``action`` ``write``, ``entity_type``, ``entity_id`` (the entity written, when known),
``decision``, ``rules``, and ``reason`` = the policy's reason followed by the write's details
as ``name=value`` words, which :func:`write_details` reads back::

    allowed by rule; operation=command command=reserve adapter=products_rest
    idempotency_key=order-7:reserve outcome=ok replayed=false result_id=rsv_12

Example (a saga checks every type it will write before its first step, then writes as the
principal that started it)::

    guard = WriteGuard(governance)
    await guard.check(principal, [("product", "products"), ("payment", "payments")])
    result = await guard.run_command(payments, "charge", {...},
                                     idempotency_key="order-7:charge", principal=principal)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from dictamesh.adapters.contract import DataProductAdapter, WriteResult
from dictamesh.core.context import tenant_id
from dictamesh.core.errors import DictaMeshError, PermissionDenied, WriteRejected
from dictamesh.core.inputs import InvalidInput
from dictamesh.core.models import validate_idempotency_key
from dictamesh.governance.audit import AuditEntry
from dictamesh.governance.enforce import Governance
from dictamesh.governance.policy import Action, Decision, PrincipalLike, Resource

__all__ = ["CHANNEL_SAGA", "WriteGuard", "write_details"]

log = logging.getLogger(__name__)

#: the audit channel of writes made by sagas (the default of :class:`WriteGuard`)
CHANNEL_SAGA = "saga"

_WORD = re.compile(r"[^A-Za-z0-9._:\-()]+")
_MAX_WORD = 200


def _word(value: Any) -> str:
    """One value of the details: no spaces, no ``=``, bounded (parsable back)."""
    text = _WORD.sub("_", str(value))
    return text[:_MAX_WORD] or "_"


def write_details(reason: str) -> dict[str, str]:
    """The write's details from an audit row's ``reason`` (``operation``, ``command``,
    ``adapter``, ``idempotency_key``, ``outcome``, ``replayed``, ``result_id``)."""
    _, _, tail = reason.rpartition("; ")
    out: dict[str, str] = {}
    for part in tail.split():
        name, eq, value = part.partition("=")
        if eq:
            out[name] = value
    return out


class WriteGuard:
    """Policy check and audit around an adapter's writes (module docstring).

    ``channel``: the audit channel of the rows (``saga`` by default; an API route passes
    ``rest`` or ``graphql``).
    """

    def __init__(self, governance: Governance | None, *, channel: str = CHANNEL_SAGA) -> None:
        self.governance = governance
        self.channel = channel
        #: writes made whose audit row could not be queued (the write happened regardless)
        self.unaudited = 0

    # --- checks -------------------------------------------------------------------------

    def _decision(
        self, principal: PrincipalLike | None, entity_type: str, domain: str | None
    ) -> Decision | None:
        if self.governance is None:
            return None
        return self.governance.decide(
            principal, Action.WRITE, Resource(entity_type, domain, tenant=tenant_id())
        )

    async def check(
        self,
        principal: PrincipalLike | None,
        entity_types: Iterable[tuple[str, str | None]],
    ) -> None:
        """Raise :class:`PermissionDenied` (and audit the denial) unless ``principal`` may
        write every ``(entity_type, domain)``: what a saga asks before its first step, so it
        never starts what it may not finish."""
        for entity_type, domain in entity_types:
            decision = self._decision(principal, entity_type, domain)
            if decision is not None and not decision.allowed:
                await self._audit(decision, principal, None, {"operation": "check"})
                raise _forbidden(decision)

    # --- writes -------------------------------------------------------------------------

    async def create_entity(
        self,
        adapter: DataProductAdapter,
        attributes: Mapping[str, Any],
        *,
        idempotency_key: str,
        principal: PrincipalLike | None,
    ) -> WriteResult:
        return await self._write(
            adapter,
            principal,
            idempotency_key,
            {"operation": "create"},
            None,
            lambda: adapter.create_entity(attributes, idempotency_key=idempotency_key),
        )

    async def update_entity(
        self,
        adapter: DataProductAdapter,
        entity_id: str,
        changes: Mapping[str, Any],
        *,
        idempotency_key: str,
        principal: PrincipalLike | None,
    ) -> WriteResult:
        return await self._write(
            adapter,
            principal,
            idempotency_key,
            {"operation": "update"},
            entity_id,
            lambda: adapter.update_entity(entity_id, changes, idempotency_key=idempotency_key),
        )

    async def delete_entity(
        self,
        adapter: DataProductAdapter,
        entity_id: str,
        *,
        idempotency_key: str,
        principal: PrincipalLike | None,
    ) -> WriteResult:
        return await self._write(
            adapter,
            principal,
            idempotency_key,
            {"operation": "delete"},
            entity_id,
            lambda: adapter.delete_entity(entity_id, idempotency_key=idempotency_key),
        )

    async def run_command(
        self,
        adapter: DataProductAdapter,
        command: str,
        payload: Mapping[str, Any],
        *,
        idempotency_key: str,
        principal: PrincipalLike | None,
    ) -> WriteResult:
        return await self._write(
            adapter,
            principal,
            idempotency_key,
            {"operation": "command", "command": command},
            None,
            lambda: adapter.run_command(command, payload, idempotency_key=idempotency_key),
        )

    # --- internals ----------------------------------------------------------------------

    async def _write(
        self,
        adapter: DataProductAdapter,
        principal: PrincipalLike | None,
        idempotency_key: str,
        details: dict[str, Any],
        entity_id: str | None,
        call: Callable[[], Awaitable[WriteResult]],
    ) -> WriteResult:
        try:
            validate_idempotency_key(idempotency_key)
        except ValueError as exc:  # before the policy: not a write attempt, nothing to audit
            raise InvalidInput(str(exc), field="idempotency_key") from None
        details = {**details, "adapter": adapter.name, "idempotency_key": idempotency_key}
        decision = self._decision(principal, adapter.entity_type, adapter.get_schema().domain)
        if decision is not None and not decision.allowed:
            await self._audit(decision, principal, entity_id, {**details, "outcome": "denied"})
            raise _forbidden(decision)
        try:
            result = await call()
        except WriteRejected as exc:
            outcome = f"rejected({exc.reason})"
            await self._audit(decision, principal, entity_id, {**details, "outcome": outcome})
            raise
        except DictaMeshError as exc:
            outcome = f"error({exc.code})"
            await self._audit(decision, principal, entity_id, {**details, "outcome": outcome})
            raise
        except asyncio.CancelledError:
            # the write may have happened: record it without waiting (we are being cancelled)
            cancelled = {**details, "outcome": "error(cancelled)"}
            self._audit_nowait(decision, principal, entity_id, cancelled)
            raise
        except Exception:
            outcome = "error(INTERNAL_ERROR)"
            await self._audit(decision, principal, entity_id, {**details, "outcome": outcome})
            raise
        written = result.entity.id if result.entity is not None else entity_id
        result_id = result.data.get("id") if isinstance(result.data, dict) else None
        done = {**details, "outcome": "ok", "replayed": str(result.replayed).lower()}
        if result_id is not None:
            done["result_id"] = result_id
        await self._audit(decision, principal, written, done)
        return result

    def _entry(
        self,
        decision: Decision,
        principal: PrincipalLike | None,
        entity_id: str | None,
        details: Mapping[str, Any],
    ) -> AuditEntry:
        assert self.governance is not None
        words = " ".join(f"{name}={_word(value)}" for name, value in details.items())
        entry = self.governance.entry(
            decision, principal, channel=self.channel, entity_id=entity_id
        )
        return dataclasses.replace(entry, reason=f"{decision.reason}; {words}")

    async def _audit(
        self,
        decision: Decision | None,
        principal: PrincipalLike | None,
        entity_id: str | None,
        details: Mapping[str, Any],
    ) -> None:
        if decision is None or self.governance is None:
            return
        entry = self._entry(decision, principal, entity_id, details)
        if not await self.governance.record([entry]):
            self._lost(entry)

    def _audit_nowait(
        self,
        decision: Decision | None,
        principal: PrincipalLike | None,
        entity_id: str | None,
        details: Mapping[str, Any],
    ) -> None:
        if decision is None or self.governance is None:
            return
        entry = self._entry(decision, principal, entity_id, details)
        if not self.governance.record_nowait([entry]):
            self._lost(entry)

    def _lost(self, entry: AuditEntry) -> None:
        self.unaudited += 1
        log.warning("write audit entry could not be queued: %s", entry.reason)


def _forbidden(decision: Decision) -> PermissionDenied:
    res = decision.resource
    return PermissionDenied(
        f"not allowed to write {res.entity_type} entities",
        entity_type=res.entity_type,
        action=Action.WRITE.value,
    )
