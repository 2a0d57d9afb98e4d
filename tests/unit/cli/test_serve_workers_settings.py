"""``serve --workers``: what each worker runs and its share of the limits (no process)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dictamesh.cli._workers import _bind, worker_roles, worker_settings
from dictamesh.cli.main import app
from dictamesh.core.settings import ApiSettings, DictaMeshSettings, usable_cores
from dictamesh.node import NodeRole


def _settings(**values: object) -> DictaMeshSettings:
    return DictaMeshSettings.model_validate(values)


def test_workers_setting_counts_processes_and_auto_is_the_cores() -> None:
    assert ApiSettings().worker_count() == 1
    assert ApiSettings(workers=3).worker_count() == 3
    assert ApiSettings(workers=0).worker_count() == usable_cores()
    assert ApiSettings(workers="auto").worker_count() == usable_cores()
    with pytest.raises(ValueError):
        ApiSettings(workers=-1)


def test_embedded_bus_group_consumers_run_in_worker_zero_only() -> None:
    settings = _settings()
    every = frozenset({NodeRole.ALL})
    assert worker_roles(settings, every, 0) == every
    assert worker_roles(settings, every, 1) == {NodeRole.API, NodeRole.CAPTURE, NodeRole.SAGA}
    mixed = frozenset({NodeRole.API, NodeRole.INGEST})
    assert worker_roles(settings, mixed, 1) == {NodeRole.API}
    assert worker_roles(settings, frozenset({NodeRole.INGEST}), 1) is None
    kafka = _settings(bus={"backend": "kafka"})
    assert worker_roles(kafka, every, 1) == every  # Kafka groups split partitions


def test_limits_are_divided_without_redis_and_shared_with_it() -> None:
    quota = {"requests_per_second": 10, "events_per_second": 5, "graphql_cost_budget": 1000}
    settings = _settings(
        node_name="edge",
        graphql={"rate_limit_per_second": 50, "rate_limit_burst": 100},
        tenancy={"quotas": {"default": quota, "per_tenant": {"acme": quota}}},
    )
    mine = worker_settings(settings, 1, 2, explicit_name=True)
    assert mine.node_name == "edge-w1"
    assert mine.catalog.migrate_on_start is False
    assert (mine.graphql.rate_limit_per_second, mine.graphql.rate_limit_burst) == (25, 50)
    for q in (mine.tenancy.quotas.default, mine.tenancy.quotas.per_tenant["acme"]):
        assert (q.requests_per_second, q.request_burst) == (5, 5)
        assert (q.events_per_second, q.event_burst) == (2.5, 3)
        assert q.graphql_cost_budget == 500
    shared = settings.model_copy(
        update={"cache": settings.cache.model_copy(update={"redis_url": "redis://x"})}
    )
    theirs = worker_settings(shared, 1, 2, explicit_name=True)
    assert theirs.graphql.rate_limit_per_second == 50  # one bucket in Redis for all
    assert theirs.tenancy.quotas.default.requests_per_second == 10
    assert theirs.tenancy.quotas.default.graphql_cost_budget == 500  # never shared
    assert settings.graphql.rate_limit_per_second == 50  # the node's own untouched


def test_bad_workers_value_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text(f"state_dir: {tmp_path}\n")
    result = CliRunner().invoke(app, ["serve", "-c", str(config), "--workers", "many"])
    assert result.exit_code == 2
    assert "--workers" in result.output


def test_embedded_ingest_alone_cannot_have_workers(tmp_path: Path) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text(f"state_dir: {tmp_path}\n")
    args = ["serve", "-c", str(config), "--role", "ingest", "--workers", "2", "--port", "0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "embedded bus" in result.output


def test_workers_share_one_masking_key_when_none_is_set() -> None:
    from dictamesh.cli._workers import _one_masking_key

    drawn = _one_masking_key(_settings())
    assert drawn.governance.masking_key is not None
    one = worker_settings(drawn, 0, 2, explicit_name=False).governance.masking_key
    two = worker_settings(drawn, 1, 2, explicit_name=False).governance.masking_key
    assert one is not None
    assert two is not None
    assert one.get_secret_value() == two.get_secret_value()
    kept = _settings(governance={"masking_key": "k" * 32})
    assert _one_masking_key(kept) is kept


async def test_the_shared_socket_gives_connections_tcp_nodelay() -> None:
    """Accepted sockets inherit the listener's protocol; asyncio turns Nagle off only where
    it says TCP (else small answers wait ~40 ms for the client's delayed ACK)."""
    listener = _bind("127.0.0.1", 0)
    nodelay: list[int] = []

    async def accepted(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(accepted, sock=listener)
    async with server:
        port = listener.getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(200):
            if nodelay:
                break
            await asyncio.sleep(0.01)
        writer.close()
    assert nodelay
    assert nodelay[0] != 0
