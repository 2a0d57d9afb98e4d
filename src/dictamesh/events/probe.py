"""Is the event bus reachable? Read-only probes for ``dictamesh check``.

* :func:`probe_bus` — the ``bus.backend`` plugin is installed; for ``kafka`` the cluster
  answers a metadata request (no topic is created, nothing is produced); for ``embedded``
  the log file, or the directory it will be created in, is writable (nothing is created);
* :func:`probe_schema_registry` — ``bus.schema_registry_url`` answers ``GET /subjects``.

Example::

    result = await probe_bus(settings.bus, timeout=5.0)
    result.detail        # 'kafka 127.0.0.1:9092: 1 broker, 12 topics'
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from dictamesh.core.checks import CheckResult, CheckStatus, elapsed_ms
from dictamesh.core.errors import DictaMeshError
from dictamesh.core.settings import BusSettings
from dictamesh.events.kafka_client import aiokafka_security, explain_connect_failure
from dictamesh.events.registry import bus_backends

__all__ = ["probe_bus", "probe_embedded_path", "probe_schema_registry"]

CHECK = "bus"


def probe_embedded_path(path: Path) -> CheckResult:
    """Whether the embedded bus could open ``path``: the file writable if it exists, else
    the nearest existing directory above it (where it and its parents will be made)."""
    shown = f"embedded {path}"
    if path.exists():
        if path.is_dir():
            return CheckResult(CHECK, CheckStatus.FAIL, f"{shown}: is a directory, not a file")
        if not os.access(path, os.R_OK | os.W_OK):
            return CheckResult(CHECK, CheckStatus.FAIL, f"{shown}: not writable")
        return CheckResult(CHECK, CheckStatus.OK, f"{shown}: writable")
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return CheckResult(CHECK, CheckStatus.FAIL, f"{shown}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        return CheckResult(CHECK, CheckStatus.FAIL, f"{shown}: cannot create it in {parent}")
    return CheckResult(CHECK, CheckStatus.OK, f"{shown}: not created yet ({parent} is writable)")


async def _probe_kafka(settings: BusSettings, timeout: float) -> CheckResult:
    try:
        from aiokafka import AIOKafkaClient
    except ImportError:
        return CheckResult(
            CHECK, CheckStatus.FAIL, "kafka: aiokafka is missing: pip install 'dictamesh[kafka]'"
        )
    shown = f"kafka {settings.kafka_bootstrap}"
    started = time.perf_counter()
    try:
        options = aiokafka_security(settings.kafka)
    except DictaMeshError as exc:  # a missing CA file, ...
        return CheckResult(CHECK, CheckStatus.FAIL, f"{shown}: {exc.message}")
    client = AIOKafkaClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="dictamesh-check",
        request_timeout_ms=int(timeout * 1000),
        **options,
    )
    try:
        async with asyncio.timeout(timeout):
            await client.bootstrap()
            metadata = await client.fetch_all_metadata()
    except Exception as exc:  # aiokafka says only "Unable to bootstrap": find out why
        reason: str | None = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, TimeoutError):
            try:
                async with asyncio.timeout(timeout):
                    reason = (
                        await explain_connect_failure(settings.kafka_bootstrap, options, timeout)
                        or reason
                    )
            except TimeoutError:
                pass
        else:
            reason = f"no answer within {timeout:g} s"
        return CheckResult(CHECK, CheckStatus.FAIL, f"{shown}: {reason}", elapsed_ms(started))
    finally:
        await client.close()
    brokers, topics = len(metadata.brokers()), len(metadata.topics())
    return CheckResult(
        CHECK,
        CheckStatus.OK,
        f"{shown}: {brokers} broker{'s' * (brokers != 1)}, {topics} topic{'s' * (topics != 1)}",
        elapsed_ms(started),
    )


async def probe_bus(settings: BusSettings, *, timeout: float) -> CheckResult:
    """The configured backend installed and reachable, read-only."""
    try:
        bus_backends().load(settings.backend, setting="bus.backend")
    except DictaMeshError as exc:
        return CheckResult(CHECK, CheckStatus.FAIL, exc.message)
    if settings.backend == "embedded":
        return probe_embedded_path(settings.path)
    if settings.backend == "kafka":
        return await _probe_kafka(settings, timeout)
    return CheckResult(
        CHECK, CheckStatus.SKIP, f"backend {settings.backend!r} installed (no probe for it)"
    )


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


async def probe_schema_registry(url: str, *, timeout: float) -> CheckResult:
    """``GET <url>/subjects`` answers a list (read-only; credentials in the URL are used)."""
    check = "schema_registry"
    shown = _without_password(url)
    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(url.rstrip("/") + "/subjects")
    except httpx.HTTPError as exc:
        problem = f"{shown}: {type(exc).__name__}: {exc}".rstrip(": ")
        return CheckResult(check, CheckStatus.FAIL, problem, elapsed_ms(started))
    ms = elapsed_ms(started)
    if response.status_code != 200:
        return CheckResult(
            check, CheckStatus.FAIL, f"{shown}: GET /subjects answered {response.status_code}", ms
        )
    try:
        subjects = response.json()
    except ValueError:
        subjects = None
    if not isinstance(subjects, list):
        return CheckResult(
            check, CheckStatus.FAIL, f"{shown}: /subjects is not a schema registry's answer", ms
        )
    return CheckResult(check, CheckStatus.OK, f"{shown}: {len(subjects)} subjects", ms)
