"""Named leases: at most one holder of a name at a time, each acquisition with a new token.

Two backends, one :class:`LeaseBackend` protocol:

* :class:`LeaseStore` — a row per name in the catalog database (``dictamesh_leases``,
  migration ``0011_cluster``). Acquire inserts the row, or takes it over once expired; every
  acquisition raises the **fencing token**; renew succeeds only for the holder with the same
  token while the lease is live; release expires the row (it is never deleted, so tokens
  never repeat). Expiry is computed by the database's clock, so nodes with skewed clocks
  agree. Works on PostgreSQL (several machines) and SQLite (several processes on one).
* :class:`FileLeases` — ``fcntl.flock`` on ``<directory>/<name>.lock``: for processes on one
  machine (the embedded default). The kernel frees the lock when the holder dies, so a
  takeover is immediate; nothing needs renewing.

Example::

    store = LeaseStore(catalog.database)
    lease = await store.acquire("capture:crm", holder="node-1/4711", seconds=6)
    if lease is not None:                     # None: someone else holds it
        assert await store.renew(lease, seconds=6)
        async with catalog.database.write() as conn:
            await store.check(conn, lease)    # LeaseLost once another node took it over
        await store.release(lease)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import ColumnElement, Float, cast, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.tables import insert_for
from dictamesh.cluster.tables import LEASES
from dictamesh.core.errors import DictaMeshError

__all__ = ["FileLeases", "Lease", "LeaseBackend", "LeaseLost", "LeaseStore"]

#: 1970-01-01 as a Julian day: SQLite's julianday('now') to epoch seconds
_UNIX_EPOCH_JD = 2440587.5


class LeaseLost(DictaMeshError):
    """The caller no longer holds the lease it acts under (another holder took it over)."""

    code = "LEASE_LOST"
    http_status = 409


@dataclass(frozen=True, slots=True)
class Lease:
    """One acquisition of ``name`` by ``holder``; ``token`` is higher than every earlier one."""

    name: str
    holder: str
    token: int
    #: epoch seconds by the backend's clock (``inf`` for a file lock: held until released)
    expires_at: float


@runtime_checkable
class LeaseBackend(Protocol):
    async def acquire(self, name: str, holder: str, seconds: float) -> Lease | None:
        """The lease, or ``None`` while another holder has it."""
        ...

    async def renew(self, lease: Lease, seconds: float) -> bool:
        """Extend ``lease``; False once it is lost (expired, or taken over)."""
        ...

    async def release(self, lease: Lease) -> None:
        """Give ``lease`` up now (a no-op if it is already lost)."""
        ...


def database_now(dialect: str) -> ColumnElement[Any]:
    """The database's clock in epoch seconds, as a SQL expression."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", func.clock_timestamp()), Float)
    return cast((func.julianday("now") - _UNIX_EPOCH_JD) * 86400.0, Float)


class LeaseStore:
    """Leases as rows of ``dictamesh_leases`` (see the module docstring)."""

    def __init__(self, database: CatalogDatabase) -> None:
        self.database = database

    def _now(self) -> ColumnElement[Any]:
        return database_now(self.database.dialect)

    async def acquire(self, name: str, holder: str, seconds: float) -> Lease | None:
        _check_seconds(seconds)
        now = self._now()
        columns = (LEASES.c.token, LEASES.c.expires_at)
        async with self.database.write() as conn:
            # take over an expired row; on PostgreSQL a concurrent taker waits for our row
            # lock and then finds it live again, so exactly one of them gets it
            row = (
                await conn.execute(
                    update(LEASES)
                    .where(LEASES.c.name == name, LEASES.c.expires_at <= now)
                    .values(
                        holder=holder,
                        token=LEASES.c.token + 1,
                        acquired_at=now,
                        expires_at=now + seconds,
                    )
                    .returning(*columns)
                )
            ).first()
            if row is None:
                row = (
                    await conn.execute(
                        insert_for(self.database.dialect, LEASES)
                        .values(
                            name=name,
                            holder=holder,
                            token=1,
                            acquired_at=now,
                            expires_at=now + seconds,
                        )
                        .on_conflict_do_nothing(index_elements=["name"])
                        .returning(*columns)
                    )
                ).first()
        if row is None:
            return None
        return Lease(name, holder, int(row.token), float(row.expires_at))

    async def renew(self, lease: Lease, seconds: float) -> bool:
        _check_seconds(seconds)
        now = self._now()
        async with self.database.write() as conn:
            row = (
                await conn.execute(
                    update(LEASES)
                    .where(*_held(lease), LEASES.c.expires_at > now)
                    .values(expires_at=now + seconds)
                    .returning(LEASES.c.expires_at)
                )
            ).first()
        return row is not None

    async def release(self, lease: Lease) -> None:
        async with self.database.write() as conn:
            await conn.execute(update(LEASES).where(*_held(lease)).values(expires_at=self._now()))

    async def check(self, conn: AsyncConnection, lease: Lease) -> None:
        """Raise :class:`LeaseLost` unless ``lease`` is still the current acquisition, inside
        the caller's write transaction ``conn`` (its fence).

        On PostgreSQL the row is share-locked until that transaction ends, so a takeover
        waits for the fenced write to commit, or the write sees the takeover: never both.
        SQLite's write transactions are serial already. An expired lease nobody took over
        still passes: no other holder can have acted on the state since.
        """
        query = select(LEASES.c.token).where(*_held(lease))
        if self.database.dialect == "postgresql":
            query = query.with_for_update(read=True)
        if (await conn.execute(query)).first() is None:
            raise LeaseLost(
                f"lease {lease.name!r} token {lease.token} of {lease.holder!r} was taken over",
                lease=lease.name,
            )

    async def current(self, name: str) -> tuple[Lease, bool] | None:
        """The latest acquisition of ``name`` and whether it is live, or ``None`` if never."""
        query = select(
            LEASES.c.holder,
            LEASES.c.token,
            LEASES.c.expires_at,
            (LEASES.c.expires_at > self._now()).label("live"),
        ).where(LEASES.c.name == name)
        async with self.database.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return Lease(name, row.holder, int(row.token), float(row.expires_at)), bool(row.live)


def _held(lease: Lease) -> tuple[ColumnElement[bool], ...]:
    return (
        LEASES.c.name == lease.name,
        LEASES.c.holder == lease.holder,
        LEASES.c.token == literal(lease.token),
    )


def _check_seconds(seconds: float) -> None:
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"a lease lasts a positive number of seconds, not {seconds!r}")


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class FileLeases:
    """Leases as ``flock`` locks on files in ``directory`` (one machine; see the module).

    Each held lease keeps its file descriptor open; the lock goes with it (release, or the
    process's death). The token is counted in the file, so it rises across holders too.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._held: dict[tuple[str, int], int] = {}

    def path(self, name: str) -> Path:
        """The lock file of ``name`` (a short digest keeps distinct unsafe names apart)."""
        safe = _UNSAFE.sub("_", name)
        if safe != name:
            safe += "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
        return self.directory / f"{safe}.lock"

    async def acquire(self, name: str, holder: str, seconds: float) -> Lease | None:
        _check_seconds(seconds)  # same contract as the store's, though a lock never expires
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path(name), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        try:
            token = _read_token(fd) + 1
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{token} {holder}\n".encode(), 0)
        except BaseException:
            os.close(fd)  # and with it the lock
            raise
        lease = Lease(name, holder, token, math.inf)
        self._held[(name, token)] = fd
        return lease

    async def renew(self, lease: Lease, seconds: float) -> bool:
        fd = self._held.get((lease.name, lease.token))
        if fd is None:
            return False
        # the file replaced under us (deleted by hand): a new one could be locked by another
        try:
            return os.fstat(fd).st_ino == os.stat(self.path(lease.name)).st_ino
        except FileNotFoundError:
            return False

    async def release(self, lease: Lease) -> None:
        fd = self._held.pop((lease.name, lease.token), None)
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _read_token(fd: int) -> int:
    text = os.pread(fd, 64, 0).decode("ascii", "replace").split(" ", 1)[0]
    return int(text) if text.isdigit() else 0
