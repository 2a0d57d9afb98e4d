"""``dictamesh demo --check --backend production``: the demo scenario on Kafka + PostgreSQL +
Redis, repeatable on the same database and topics, and a clear exit 2 without the services."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dictamesh.demo import ProductionUrls, StepResult, run_check
from tests.postgres_fixtures import owner_url

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]


async def test_production_check_passes_twice_on_the_same_database_and_topics(
    postgres_url: str, kafka_bootstrap: str, redis_url: str
) -> None:
    urls = ProductionUrls(
        catalog_url=postgres_url,
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        migration_url=owner_url(postgres_url),  # the check migrates a fresh database itself
    )
    runs: list[list[StepResult]] = []
    # The second run finds the first one's entities in the catalog, its events in the
    # topics and its consumer groups' offsets in Kafka: every check must still hold.
    for _ in range(2):
        results = await run_check(lambda _: None, backend="production", urls=urls, timeout=60)
        failed = [r for r in results if not r.ok]
        assert not failed, failed
        assert len(results) == 9
        runs.append(results)
    first, second = ({r.name: r.detail for r in results} for results in runs)
    step = "change recorded in the catalog event log"
    # Each run found its own change event, not the one an earlier run left in the log.
    assert first[step].split()[1] != second[step].split()[1]
    assert "150 invoices ingested this run" in second["initial sync: sources → bus → catalog"]


def test_cli_exits_2_naming_an_unreachable_service(postgres_url: str, redis_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICTAMESH_")}
    env |= {
        "DICTAMESH_POSTGRES_URL": postgres_url,
        "DICTAMESH_REDIS_URL": redis_url,
        "DICTAMESH_KAFKA_BOOTSTRAP": "127.0.0.1:1",  # nothing listens on port 1
        "COLUMNS": "400",  # one line per message, whatever the terminal
    }
    proc = subprocess.run(
        [sys.executable, "-m", "dictamesh", "demo", "--check", "--backend", "production"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Kafka not reachable at 127.0.0.1:1 (DICTAMESH_KAFKA_BOOTSTRAP)" in proc.stderr
    assert "PostgreSQL not reachable" not in proc.stderr
    assert "Redis not reachable" not in proc.stderr
    assert "scripts/services.sh up" in proc.stderr
