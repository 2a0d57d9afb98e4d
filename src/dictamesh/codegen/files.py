"""Generated files: a relative path and its text, written only after all of them exist.

Generators return :class:`GeneratedFile` lists and never touch the disk; :func:`write_files`
writes them under one directory. Text is UTF-8 with ``\\n`` line ends and a final newline,
so output is byte-for-byte the same on every machine (CI diffs it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from dictamesh.core.errors import ConfigurationError

__all__ = ["GeneratedFile", "check_output_dir", "dump_json", "write_files"]


@dataclass(frozen=True, slots=True)
class GeneratedFile:
    """One output file; ``path`` is relative (POSIX separators) to the output directory."""

    path: str
    content: str

    def __post_init__(self) -> None:
        parts = PurePosixPath(self.path).parts
        if not parts or PurePosixPath(self.path).is_absolute() or ".." in parts:
            raise ValueError(f"a generated file's path must be relative: {self.path!r}")


def dump_json(value: Any) -> str:
    """JSON as every target writes it: indented, UTF-8, a final newline. Keys keep the
    order they were built in (Avro field order is meaningful; it is deterministic)."""
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def check_output_dir(out: Path) -> None:
    """Raise :class:`ConfigurationError` unless ``out`` is (or can be made) a writable
    directory; creates nothing."""
    if out.exists():
        if not out.is_dir():
            raise ConfigurationError(f"output {str(out)!r} exists and is not a directory")
        if not os.access(out, os.W_OK | os.X_OK):
            raise ConfigurationError(f"output directory {str(out)!r} is not writable")
        return
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigurationError(f"cannot create output directory {str(out)!r}: not writable")


def write_files(
    out: Path,
    files: Sequence[GeneratedFile],
    *,
    on_written: Callable[[GeneratedFile], None] | None = None,
) -> list[Path]:
    """Write ``files`` under ``out`` (created if missing); returns the paths written.

    Each file is written to a temporary name and renamed, so a reader never sees half a
    file. Files not generated this time are left alone."""
    check_output_dir(out)
    written: list[Path] = []
    for generated in files:
        target = out.joinpath(*PurePosixPath(generated.path).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_text(generated.content, encoding="utf-8", newline="\n")
        temporary.replace(target)
        written.append(target)
        if on_written is not None:
            on_written(generated)
    return written
