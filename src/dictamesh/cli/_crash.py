"""A crashed CLI command is an error event too (``observability.sentry``).

The SDK is started only when a command crashes: a command that succeeds pays nothing. The
settings come from the command's ``-c/--config`` file (else the environment); the event
is scrubbed like a node's (governance's masker and detectors) and tagged with the command
path (``governance export``), never its arguments (an argument may be personal).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["report_crash"]


def _config_path(argv: Sequence[str]) -> Path | None:
    for i, token in enumerate(argv):
        if token in ("-c", "--config") and i + 1 < len(argv):
            return Path(argv[i + 1])
        if token.startswith("--config="):
            return Path(token.partition("=")[2])
    return None


def _command_path(app: Any, argv: Sequence[str]) -> str:
    """The command and group names ``argv`` starts with (only names the CLI defines)."""
    import typer.main

    command: Any = typer.main.get_command(app)
    words = []
    for token in argv:
        # a group has ``commands`` (typer's own click or the real one: duck-typed)
        if token not in (getattr(command, "commands", None) or {}):
            break
        words.append(token)
        command = command.commands[token]
    return " ".join(words) or "-"


def report_crash(app: Any, error: BaseException, argv: Sequence[str]) -> None:
    """Send ``error`` when error tracking is configured; never raises (the crash itself
    is what the user must see)."""
    with contextlib.suppress(Exception):  # reporting must not hide the crash
        _report(app, error, argv)


def _report(app: Any, error: BaseException, argv: Sequence[str]) -> None:
    from dictamesh.observability.error_tracking import (
        capture_error,
        close_error_tracking,
        error_tracking_enabled,
        flush_error_tracking,
    )

    tags = {"command": _command_path(app, argv)}
    if error_tracking_enabled():  # a node this command ran has it on already
        capture_error(error, tags=tags)
        flush_error_tracking()
        return
    from dictamesh.core.settings import DictaMeshSettings

    config = _config_path(argv)
    settings = DictaMeshSettings.from_yaml(config) if config else DictaMeshSettings()
    sentry = settings.observability.sentry
    if sentry.dsn is None:
        return
    from dictamesh.governance.runtime import masker_from_settings
    from dictamesh.governance.scrubbing import start_error_tracking

    if start_error_tracking(settings, masker_from_settings(settings), (), role="cli"):
        capture_error(error, tags=tags)
        close_error_tracking(sentry.shutdown_timeout_seconds)
