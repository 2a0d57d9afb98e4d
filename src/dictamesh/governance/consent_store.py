"""The consent records in the catalog database: append-only history, current state derived.

Every change is a new row of ``dictamesh_consent_records``; a subject's state for a purpose
is its newest row (highest id). Nothing is updated or deleted, so the history is the proof
of what the subject agreed to and when. The catalog is shared by every node: a withdrawal
written by one node is what the next read on any node sees (no node-local copy to
invalidate).

Example::

    store = ConsentStore(catalog.database)
    await store.append(ConsentChange("customer:c-1", "marketing", "given", "api", "alice", ""))
    await store.current(["customer:c-1"])     # {"customer:c-1": {"marketing": "given"}}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.governance.tables import CONSENT

__all__ = ["ConsentChange", "ConsentRecord", "ConsentState", "ConsentStore"]

ConsentState = Literal["given", "withdrawn"]
#: subjects per ``current`` query (an ``IN`` list stays well under driver limits)
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ConsentChange:
    subject: str
    purpose: str
    state: ConsentState
    source: str
    actor: str
    evidence: str = ""


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    id: int
    subject: str
    purpose: str
    state: str
    recorded_at: datetime
    source: str
    actor: str
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "purpose": self.purpose,
            "state": self.state,
            "recorded_at": self.recorded_at.isoformat(),
            "source": self.source,
            "actor": self.actor,
            "evidence": self.evidence,
        }


class ConsentStore:
    def __init__(self, database: CatalogDatabase) -> None:
        self._db = database

    async def append(self, change: ConsentChange, *, tenant: str | None = None) -> ConsentRecord:
        db = self._db
        now = db.now()
        row = {
            "tenant_id": db.tenant(tenant),
            "subject": change.subject,
            "purpose": change.purpose,
            "state": change.state,
            "recorded_at": now,
            "source": change.source,
            "actor": change.actor[:255],
            "evidence": change.evidence,
        }
        async with db.write(tenant) as conn:
            result = await conn.execute(CONSENT.insert().returning(CONSENT.c.id), row)
            new_id = int(result.scalar_one())
        return ConsentRecord(
            new_id, change.subject, change.purpose, change.state, now, change.source,
            change.actor[:255], change.evidence,
        )  # fmt: skip

    async def history(self, subject: str, *, tenant: str | None = None) -> list[ConsentRecord]:
        """Every change of ``subject``, oldest first."""
        c = CONSENT.c
        query = (
            select(c.id, c.subject, c.purpose, c.state, c.recorded_at, c.source, c.actor,
                   c.evidence)
            .where(c.tenant_id == self._db.tenant(tenant), c.subject == subject)
            .order_by(c.id)
        )  # fmt: skip
        async with self._db.read(tenant) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [ConsentRecord(**dict(r)) for r in rows]

    async def current(
        self, subjects: Iterable[str], *, tenant: str | None = None
    ) -> dict[str, dict[str, str]]:
        """subject → purpose → its newest state, for the subjects that have records."""
        wanted = sorted(set(subjects))
        out: dict[str, dict[str, str]] = {}
        if not wanted:
            return out
        c = CONSENT.c
        async with self._db.read(tenant) as conn:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                # a subject's history is short: read it in order and keep the newest per
                # purpose (one index range scan, cheaper than a max(id) group-by join)
                rows = await conn.execute(
                    select(c.subject, c.purpose, c.state)
                    .where(c.tenant_id == self._db.tenant(tenant), c.subject.in_(chunk))
                    .order_by(c.id)
                )
                for subject, purpose, state in rows:
                    out.setdefault(subject, {})[purpose] = state
        return out

    async def coverage(
        self, purposes: Sequence[str], *, tenant: str | None = None
    ) -> dict[str, dict[str, int]]:
        """purpose → {state: subjects whose newest record for it has that state}."""
        c = CONSENT.c
        newest = (
            select(func.max(c.id).label("id"))
            .where(c.tenant_id == self._db.tenant(tenant), c.purpose.in_(list(purposes)))
            .group_by(c.subject, c.purpose)
            .subquery()
        )
        query = (
            select(c.purpose, c.state, func.count().label("n"))
            .where(c.id.in_(select(newest.c.id)))
            .group_by(c.purpose, c.state)
        )
        out: dict[str, dict[str, int]] = {p: {} for p in purposes}
        async with self._db.read(tenant) as conn:
            for purpose, state, n in await conn.execute(query):
                out.setdefault(purpose, {})[state] = int(n)
        return out

    async def subjects(self, *, tenant: str | None = None) -> list[str]:
        """Every subject with a consent record (sorted)."""
        c = CONSENT.c
        query = (
            select(c.subject)
            .where(c.tenant_id == self._db.tenant(tenant))
            .group_by(c.subject)
            .order_by(c.subject)
        )
        async with self._db.read(tenant) as conn:
            return [str(r[0]) for r in await conn.execute(query)]
