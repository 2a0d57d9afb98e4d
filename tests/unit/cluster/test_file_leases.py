"""File-lock leases (the embedded default): one holder per name, and a holder *process*
killed with SIGKILL is replaced at once (the kernel frees its lock; measured)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dictamesh.cluster.leader import LeaderElector
from dictamesh.cluster.leases import FileLeases, Lease

HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.pwrite(fd, b"7 holder\\n", 0)
print("locked", flush=True)
time.sleep(600)
"""


async def test_one_holder_per_name_and_the_token_rises(tmp_path: Path) -> None:
    a, b = FileLeases(tmp_path), FileLeases(tmp_path)
    first = await a.acquire("capture:crm", "a", 6)
    assert first is not None
    assert first.token == 1
    assert await b.acquire("capture:crm", "b", 6) is None  # another open file: refused
    assert await b.acquire("capture:other", "b", 6) is not None
    assert await a.renew(first, 6)
    await a.release(first)
    assert not await a.renew(first, 6)
    second = await b.acquire("capture:crm", "b", 6)
    assert second is not None
    assert second.token == 2
    assert a.path("capture:crm") != a.path("capture_crm")  # unsafe names stay distinct


async def test_a_deleted_lock_file_counts_as_lost(tmp_path: Path) -> None:
    leases = FileLeases(tmp_path)
    lease = await leases.acquire("crm", "a", 6)
    assert lease is not None
    leases.path("crm").unlink()  # a new file could now be locked by someone else
    assert not await leases.renew(lease, 6)
    await leases.release(lease)


async def test_takeover_is_immediate_when_the_holder_process_is_killed(tmp_path: Path) -> None:
    leases = FileLeases(tmp_path)
    path = leases.path("capture:crm")
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(  # noqa: ASYNC220 - a short-lived child, waited for below
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        led: list[Lease] = []
        leading = asyncio.Event()
        elector = LeaderElector(
            leases, "capture:crm", holder="me", lease_seconds=6, retry_seconds=0.05
        )
        stop = asyncio.Event()

        async def work(lease: Lease) -> None:
            led.append(lease)
            leading.set()
            await stop.wait()

        task = asyncio.create_task(elector.run(work, stop))
        await asyncio.sleep(0.5)
        assert not led  # the child holds it
        os.kill(holder.pid, signal.SIGKILL)
        killed = time.monotonic()
        await asyncio.wait_for(leading.wait(), 5)
        takeover = time.monotonic() - killed
        print(f"file-lock takeover after SIGKILL: {takeover * 1000:.0f} ms")
        assert takeover < 1.0, takeover  # the retry interval plus the process's exit
        assert led[0].token == 8  # counted on from the dead holder's
        stop.set()
        await asyncio.wait_for(task, 5)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
