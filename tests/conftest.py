"""Suite-wide fixtures: a clean environment, and the real servers behind the markers.

Tests marked ``postgres``/``redis``/``kafka`` get their server from the fixtures below. On a
developer machine without the server they skip with the reason; in CI (``CI`` set) a missing
server is a failure, never a skip.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

# Fixtures shared across the tree (a fresh migrated SQLite catalog per test, ...).
pytest_plugins = ["tests.catalog_fixtures", "tests.postgres_fixtures", "tests.hang_report"]

SERVER_URLS = {
    "postgres": (
        "DICTAMESH_TEST_POSTGRES_URL",
        "postgresql+asyncpg://dictamesh:dictamesh@127.0.0.1:5432/dictamesh_test",
    ),
    "redis": ("DICTAMESH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
    "kafka": ("DICTAMESH_TEST_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No DICTAMESH_* setting leaks from the developer's shell into a test."""
    for name in list(os.environ):
        if name.startswith("DICTAMESH_") and not name.startswith("DICTAMESH_TEST_"):
            monkeypatch.delenv(name)


def _reachable(address: str) -> bool:
    if "://" not in address:
        address = "tcp://" + address.split(",")[0]
    parts = urlsplit(address)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 2):
            return True
    except OSError:
        return False


def server_address(kind: str) -> str:
    """The address of a real server for ``kind``, or skip/fail as the module docstring says."""
    env, default = SERVER_URLS[kind]
    address = os.environ.get(env, default)
    if not _reachable(address):
        message = f"{kind} not reachable at {address}: run `scripts/services.sh up` (or set {env})"
        if os.environ.get("CI"):
            pytest.fail(message + " — CI must run every marker against a real server")
        pytest.skip(message)
    return address


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return server_address("postgres")


@pytest.fixture(scope="session")
def redis_url() -> str:
    return server_address("redis")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return server_address("kafka")
