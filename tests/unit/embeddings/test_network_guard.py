"""The guard the embedding tests rely on does catch a connection off this machine."""

from __future__ import annotations

import socket

import httpx
import pytest
from tests.network_guard import NetworkAttempted, loopback_only


async def test_off_machine_connects_and_lookups_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with loopback_only(monkeypatch) as attempts:
        with pytest.raises(NetworkAttempted):
            socket.create_connection(("192.0.2.1", 443), timeout=0.5)
        with pytest.raises(NetworkAttempted):
            socket.getaddrinfo("huggingface.co", 443)
        async with httpx.AsyncClient() as client:
            with pytest.raises(NetworkAttempted):
                await client.get("https://huggingface.co/")
        # loopback stays open (the local test servers)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", 9), timeout=0.5)
    assert "192.0.2.1" in attempts
    assert "huggingface.co" in attempts
