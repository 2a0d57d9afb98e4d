"""Private, killable servers for the fault tests (``tests/integration/faults``).

Each fixture starts its own PostgreSQL / Redis / Kafka through ``scripts/services.sh``, with a
fresh ``DICTAMESH_SERVICES_DIR`` under /tmp and free ports for *every* service (never the
defaults), so the tests can SIGKILL and restart it while other tests keep using the shared
instances. ``DICTAMESH_SERVICES_TAKEOVER=0`` makes services.sh fail instead of stopping
whatever might hold a port; the shared servers are never touched. The servers live for the
session (started on first use) and are stopped, and their directory removed, at its end.

Missing binaries skip the tests on a developer machine and fail them in CI (``CI`` set).
Recovery times measured by the tests are printed in the terminal summary.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVICES_SH = REPO_ROOT / "scripts" / "services.sh"
PORT_VARS = (
    "DICTAMESH_PG_PORT",
    "DICTAMESH_REDIS_PORT",
    "DICTAMESH_KAFKA_PORT",
    "DICTAMESH_KAFKA_CONTROLLER_PORT",
    "DICTAMESH_KAFKA_SECURE_PORT",
    "DICTAMESH_KAFKA_SECURE_TLS_PORT",
    "DICTAMESH_KAFKA_SECURE_CONTROLLER_PORT",
)
DEFAULT_PORTS = {5432, 6379, 9092, 29093, 9094, 9095, 29095}
#: lines for the terminal summary: what recovered, and how fast
RECOVERY: list[str] = []


def unavailable(message: str) -> None:
    """Skip locally, fail in CI: a fault test that silently skips proves nothing."""
    if os.environ.get("CI"):
        pytest.fail(message + " — CI must run the fault tests against real servers")
    pytest.skip(message)


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on right now (held open together, so they are distinct)."""
    sockets: list[socket.socket] = []
    try:
        while len(sockets) < count:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            if s.getsockname()[1] in DEFAULT_PORTS:
                s.close()
                continue
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def missing_binaries(service: str) -> str | None:
    """Why ``service`` cannot run here without installing anything (None: it can)."""
    if service == "postgres":
        bindir = os.environ.get("DICTAMESH_PG_BINDIR")
        found = Path(bindir, "pg_ctl").exists() if bindir else None
        if not (found or glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")):
            return "PostgreSQL server binaries (/usr/lib/postgresql/*/bin) not installed"
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            return "runuser missing (services.sh runs PostgreSQL as the postgres user)"
    elif service == "redis":
        if not (shutil.which("redis-server") and shutil.which("redis-cli")):
            return "redis-server / redis-cli not installed"
    elif service in ("kafka", "kafka-secure"):
        if service == "kafka-secure" and not shutil.which("openssl"):
            return "openssl not installed (kafka-secure makes its TLS certificates with it)"
        if not shutil.which("java"):
            return "java not installed (Kafka needs Java 17+)"
        if shared_kafka_libs() is None and not shutil.which("mvn"):
            return "no Kafka jars (run scripts/services.sh up kafka once) and no mvn"
    return None


def shared_kafka_libs() -> Path | None:
    """The shared services' Kafka jars, if resolved from the current scripts/kafka/pom.xml."""
    shared = os.environ.get("DICTAMESH_SERVICES_DIR") or REPO_ROOT / ".services"
    libs = Path(shared) / "kafka" / "libs"
    want = hashlib.sha256((REPO_ROOT / "scripts" / "kafka" / "pom.xml").read_bytes()).hexdigest()
    try:
        stamp = (libs / ".pom.sha256").read_text().strip()
    except OSError:
        return None
    return libs if stamp == want else None


class PrivateServer:
    """One service of scripts/services.sh in its own directory, on its own ports."""

    def __init__(self, service: str) -> None:
        self.service = service
        # Not pytest's tmp_path: that is mode 0700, and PostgreSQL runs as another OS user.
        self.root = Path(tempfile.mkdtemp(prefix=f"dm-fault-{service}-"))
        self.root.chmod(0o755)
        self.ports = dict(zip(PORT_VARS, free_ports(len(PORT_VARS)), strict=True))
        # Everything that could lead services.sh to the shared servers is overridden; the
        # rest (DICTAMESH_PG_BINDIR, DICTAMESH_MAVEN_REPO, timeouts) passes through.
        env = dict(os.environ)
        env.update({k: str(v) for k, v in self.ports.items()})
        env["DICTAMESH_SERVICES_DIR"] = str(self.root)
        env["DICTAMESH_SERVICES_TAKEOVER"] = "0"  # never stop anybody else's server
        self.env = env
        if service in ("kafka", "kafka-secure"):
            self._seed_kafka_libs()

    def _seed_kafka_libs(self) -> None:
        # services.sh would run mvn to copy the 45 jars here; hard links to the checkout's
        # copy (stamped with the same POM hash, so services.sh accepts them) are instant.
        libs = shared_kafka_libs()
        if libs is None:
            return
        target = self.root / "kafka" / "libs"
        target.parent.mkdir(parents=True)
        try:
            shutil.copytree(libs, target, copy_function=os.link)
        except OSError:  # another filesystem: copy instead
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(libs, target)

    @property
    def port(self) -> int:
        var = {
            "postgres": "DICTAMESH_PG_PORT",
            "redis": "DICTAMESH_REDIS_PORT",
            "kafka": "DICTAMESH_KAFKA_PORT",
            "kafka-secure": "DICTAMESH_KAFKA_SECURE_PORT",
        }[self.service]
        return self.ports[var]

    def run(self, command: str, timeout: float = 240) -> float:
        """``services.sh <command> <service>``; the seconds it took."""
        started = time.monotonic()
        result = subprocess.run(
            [str(SERVICES_SH), command, self.service],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"services.sh {command} {self.service} failed ({result.returncode}):\n"
                f"{result.stderr[-4000:]}"
            )
        return time.monotonic() - started

    def up(self) -> float:
        return self.run("up")

    def kill(self) -> float:
        """Crash it: SIGKILL (Kafka, Redis) or ``pg_ctl stop -m immediate`` (PostgreSQL)."""
        return self.run("kill")

    def close(self) -> None:
        # Always `down` (a failed `up` may leave a server running "for inspection"); if it
        # fails, keep the directory: a server would go on running with its files deleted.
        self.run("down", timeout=120)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_server(service: str) -> Iterator[PrivateServer]:
    reason = missing_binaries(service)
    if reason:
        unavailable(f"cannot start a private {service}: {reason}")
    server = PrivateServer(service)
    try:
        try:
            server.up()
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            pytest.fail(f"private {service} did not start: {exc}")
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def private_kafka() -> Iterator[PrivateServer]:
    with private_server("kafka") as server:
        yield server


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivateServer]:
    with private_server("postgres") as server:
        yield server


@pytest.fixture(scope="session")
def private_redis() -> Iterator[PrivateServer]:
    with private_server("redis") as server:
        yield server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RECOVERY:
        terminalreporter.section("fault recovery times")
        for line in RECOVERY:
            terminalreporter.write_line(line)
