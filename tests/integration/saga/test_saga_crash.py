"""The node killed with ``os._exit`` before, during and after every step (and every
compensation), then restarted: every saga finishes and every source effect happened exactly
once — counted at the sample sources (``/_admin/effects``), not in our tables."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from dictamesh.sources.runner import SampleSources, run_sample_sources
from tests.postgres_fixtures import owner_url

pytestmark = pytest.mark.slow

ORDER = {
    "customer_id": "1",
    "currency": "EUR",
    "items": [{"product_id": "prd_1001", "quantity": 2}, {"product_id": "prd_1002", "quantity": 1}],
}
CRASHED = 137

#: where to die on the way forward: every call of every step, and between the steps
FORWARD = [
    {"before": "reserve"},
    {"during": "reserve"},
    {"after": "reserve_inventory"},
    {"before": "create"},
    {"during": "create"},
    {"after": "create_invoice"},
    {"before": "charge"},
    {"during": "charge"},
    {"after": "charge_customer"},
]
#: and on the way back, after the payment was declined
BACKWARD = [
    {"before": "refund"},
    {"during": "refund"},
    {"undone": "charge_customer"},  # its compensation stored, before cancelling
    {"before": "cancel"},
    {"during": "cancel"},
    {"undone": "create_invoice"},
    {"before": "release"},
    {"during": "release"},
    {"undone": "reserve_inventory"},
]


@dataclass
class Life:
    returncode: int | None
    stdout: str
    stderr: str


async def _life(plan: dict[str, Any], timeout: float = 120) -> Life:
    """One node process; awaited, so the sources on this event loop keep answering it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.saga.saga_node",
        json.dumps(plan),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()  # never left running to write into the next test's catalog
        await proc.wait()
        raise
    return Life(proc.returncode, out.decode(), err.decode())


async def _effects(sources: SampleSources) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with httpx.AsyncClient() as client:
        for url, headers in (
            (sources.products_url, {"X-API-Key": sources.products_api_key}),
            (sources.invoices_url, {"Authorization": f"Bearer {sources.invoices_token}"}),
            (sources.payments_url, {"Authorization": f"Bearer {sources.payments_token}"}),
        ):
            answer = await client.get(f"{url}/_admin/effects", headers=headers)
            answer.raise_for_status()
            counts |= answer.json()["counts"]
    return {k: v for k, v in counts.items() if v}


async def _decline(sources: SampleSources, customer: str) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{sources.payments_url}/_admin/declines",
            json={"customer_ids": [customer]},
            headers={"Authorization": f"Bearer {sources.payments_token}"},
        )
        answer.raise_for_status()


async def _crash_and_resume(
    sources: SampleSources, state: Path, crash: dict[str, str], **extra: Any
) -> list[dict[str, Any]]:
    plan: dict[str, Any] = {
        "endpoints": sources.endpoints().__dict__,
        "state_dir": str(state),
        "start": {"order-1": ORDER},
        "crash": crash,
        **extra,
    }
    first = await _life(plan)
    assert first.returncode == CRASHED, first.stdout + first.stderr[-3000:]
    second = await _life({**plan, "start": {}, "crash": None})
    assert second.returncode == 0, second.stdout + second.stderr[-3000:]
    return list(json.loads(second.stdout.strip().splitlines()[-1])["sagas"])


@pytest.mark.parametrize("crash", FORWARD, ids=lambda c: "-".join(next(iter(c.items()))))
async def test_killed_on_the_way_forward_finishes_with_each_effect_once(
    tmp_path: Path, crash: dict[str, str]
) -> None:
    async with run_sample_sources(products_rate_limit=None) as sources:
        [saga] = await _crash_and_resume(sources, tmp_path, crash)
        assert saga["status"] == "completed", saga
        assert await _effects(sources) == {"reserve": 2, "create_invoice": 1, "charge": 1}


@pytest.mark.parametrize("crash", BACKWARD, ids=lambda c: "-".join(next(iter(c.items()))))
async def test_killed_while_compensating_finishes_with_each_undo_once(
    tmp_path: Path, crash: dict[str, str]
) -> None:
    async with run_sample_sources(products_rate_limit=None) as sources:
        await _decline(sources, "1")
        [saga] = await _crash_and_resume(sources, tmp_path, crash)
        assert saga["status"] == "compensated", saga
        assert await _effects(sources) == {
            "reserve": 2,
            "create_invoice": 1,
            "cancel_invoice": 1,
            "release": 2,
        }


@pytest.mark.postgres
@pytest.mark.kafka
@pytest.mark.redis
@pytest.mark.parametrize(
    "crash", [{"during": "reserve"}, {"during": "charge"}, {"after": "create_invoice"}],
    ids=lambda c: "-".join(next(iter(c.items()))),
)  # fmt: skip
async def test_killed_on_kafka_and_postgres_finishes_with_each_effect_once(
    tmp_path: Path, crash: dict[str, str], empty_catalog_url: str, kafka_bootstrap: str,
    redis_url: str,
) -> None:  # fmt: skip
    urls = {
        "catalog_url": empty_catalog_url,
        "kafka_bootstrap": kafka_bootstrap,
        "redis_url": redis_url,
        "migration_url": owner_url(empty_catalog_url),
    }
    async with run_sample_sources(products_rate_limit=None) as sources:
        [saga] = await _crash_and_resume(
            sources, tmp_path, crash, backend="production", urls=urls, run_id=uuid.uuid4().hex[:8]
        )
        assert saga["status"] == "completed", saga
        assert await _effects(sources) == {"reserve": 2, "create_invoice": 1, "charge": 1}
