"""``probe_bus`` / ``probe_embedded_path``: the embedded log's place checked, nothing created."""

from __future__ import annotations

from pathlib import Path

from dictamesh.core.checks import CheckStatus
from dictamesh.core.settings import BusSettings
from dictamesh.events.probe import probe_bus, probe_embedded_path


def test_a_missing_file_is_fine_where_it_can_be_made(tmp_path: Path) -> None:
    result = probe_embedded_path(tmp_path / "a" / "b" / "bus.sqlite3")
    assert result.status is CheckStatus.OK
    assert result.detail.endswith(f"not created yet ({tmp_path} is writable)")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_must_be_a_writable_file(tmp_path: Path) -> None:
    log = tmp_path / "bus.sqlite3"
    log.write_bytes(b"")
    assert probe_embedded_path(log).detail.endswith(": writable")
    assert probe_embedded_path(tmp_path).status is CheckStatus.FAIL  # a directory
    blocked = probe_embedded_path(log / "under-a-file.sqlite3")
    assert blocked.status is CheckStatus.FAIL
    assert "is not a directory" in blocked.detail


async def test_an_unknown_backend_fails_naming_the_installed_ones() -> None:
    result = await probe_bus(BusSettings(backend="rabbit"), timeout=1)
    assert result.status is CheckStatus.FAIL
    assert "unknown bus backend 'rabbit'" in result.detail
    assert "known: embedded, kafka" in result.detail
