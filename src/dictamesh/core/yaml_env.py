"""Read a YAML config file, expanding ``${VAR}`` and ``${VAR:-default}`` in string values.

Only string scalars are expanded, after YAML has parsed them, so a value never changes the
document's structure (a secret holding ``:`` or ``#`` stays one string). ``$${VAR}`` is a
literal ``${VAR}``. An unset variable without a default is a :class:`ConfigurationError`
naming the variable, the file and the line.

Example (``mesh.yaml``)::

    adapters:
      - name: crm
        base_url: ${CRM_URL:-http://127.0.0.1:8055}
        api_key: ${CRM_TOKEN}

Problems found after loading name the line they are about: :func:`yaml_line` finds the line
of a value from its location (``("adapters", 0, "base_url")``), :func:`config_problem` words
a problem as ``mesh.yaml, line 4: adapters.0.base_url: <message>``.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from dictamesh.core.errors import ConfigurationError

__all__ = ["config_problem", "expand", "load_yaml_file", "message_path", "yaml_line"]

# $${...} escapes; ${NAME} or ${NAME:-default} (the default may be empty)
_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(text: str, environ: Mapping[str, str], *, where: str = "config") -> str:
    """``text`` with every ``${VAR}``/``${VAR:-default}`` replaced from ``environ``."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name is None:
            return "${"
        value = environ.get(name)
        if value is not None and not (default is not None and value == ""):
            return value
        if default is not None:  # like the shell: ":-" also replaces an empty value
            return default
        raise ConfigurationError(
            f"{where}: environment variable {name} is not set (use ${{{name}:-default}}"
            " for an optional one)",
            variable=name,
            where=where,
        )

    return _REFERENCE.sub(substitute, text)


def load_yaml_file(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The mapping at the top of ``path``, with variables expanded; problems raise
    :class:`ConfigurationError`."""
    env = os.environ if environ is None else environ

    class _Loader(yaml.SafeLoader):
        pass

    def construct_str(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
        text = loader.construct_scalar(node)
        assert isinstance(text, str)
        return expand(text, env, where=f"{path}, line {node.start_mark.line + 1}")

    _Loader.add_constructor("tag:yaml.org,2002:str", construct_str)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigurationError(f"config file not found: {path}", path=str(path)) from exc
    try:
        raw = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"config file {path} is not valid YAML: {exc}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigurationError(f"config file {path} must hold a mapping at the top level")
    return raw


# --- where a value is written ----------------------------------------------------------

#: a leading ``rules[2]`` / ``groups.ops`` path in a validator's message, before ``:`` or
#: before a parenthesised note and ``:`` (``rules[2] (name): unknown channel 'x'``)
_MESSAGE_PATH = re.compile(
    r"^(?P<path>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\])*)(?: \([^()]*\))?:\s"
)
_PATH_PART = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]")


@functools.lru_cache(maxsize=16)
def _composed(path: str, mtime_ns: int, size: int) -> yaml.Node | None:
    """The node tree of ``path`` (its version ``mtime_ns``/``size``: an edited file is read
    again), ``None`` when it cannot be read or parsed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _child(node: yaml.Node, part: str | int) -> tuple[int, yaml.Node] | None:
    """``(line, node)`` of ``part`` in ``node``: a mapping key's line, a list item's line."""
    if isinstance(node, yaml.MappingNode):
        merged: list[yaml.Node] = []
        for key, value in node.value:
            if key.tag == "tag:yaml.org,2002:merge":
                merged.append(value)
            elif isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key.start_mark.line + 1, value
        for source in merged:  # ``<<: *defaults`` (explicit keys win, as when loading)
            for candidate in source.value if isinstance(source, yaml.SequenceNode) else [source]:
                found = _child(candidate, part)
                if found is not None:
                    return found
    elif isinstance(node, yaml.SequenceNode) and type(part) is int and 0 <= part < len(node.value):
        item = node.value[part]
        return item.start_mark.line + 1, item
    return None


def _locate(path: Path, loc: Sequence[str | int]) -> tuple[int, int] | None:
    """``(line, depth)``: the line of the deepest node of ``loc`` written in ``path`` and how
    many parts of ``loc`` lead to it (0: only the document); ``None`` for no document."""
    try:
        stat = path.stat()
    except OSError:
        return None
    node = _composed(str(path.absolute()), stat.st_mtime_ns, stat.st_size)
    if node is None:
        return None
    line, depth = node.start_mark.line + 1, 0
    for part in loc:
        found = _child(node, part)
        if found is None:
            break
        (line, node), depth = found, depth + 1
    return line, depth


def yaml_line(path: Path, loc: Sequence[str | int]) -> int | None:
    """The 1-based line of the value at ``loc`` (mapping keys and list indexes) in the YAML
    file ``path``: a key's line, a list item's first line. When ``loc`` goes further than the
    file does, the line of its deepest ancestor written there (a missing required field: its
    parent's key; an extra key: that key). ``None`` when the file cannot be read or parsed or
    is empty. The parsed tree is cached per file version (path, mtime, size)."""
    found = _locate(path, loc)
    return None if found is None else found[0]


def message_path(message: str) -> tuple[str | int, ...]:
    """The location a validator's ``message`` starts with, relative to where it was raised.

    The convention: a validator that checks a collection and finds a problem deeper down
    starts its message with the path of that part, dotted for keys and ``[i]`` for list
    indexes, then optionally a ``(note)``, then ``": "`` and the problem::

        rules[2] (name): unknown channel 'x'      -> ("rules", 2)
        groups.ops: unknown user(s) bob            -> ("groups", "ops")
        needs topics, entity_types or mesh_events  -> ()

    Raised by the validator of ``notifications``, the first names
    ``notifications.rules.2``, which is the line reported for it.
    """
    match = _MESSAGE_PATH.match(message)
    if match is None:
        return ()
    return tuple(
        int(index) if index else name for name, index in _PATH_PART.findall(match.group("path"))
    )


def config_problem(
    path: Path | None, loc: Sequence[str | int], message: str, *, in_file: bool = True
) -> str:
    """``"<path>, line N: a.b.0.c: message"``: a configuration problem at ``loc`` of the YAML
    file ``path``, worded as :meth:`DictaMeshSettings.from_yaml
    <dictamesh.core.settings.DictaMeshSettings.from_yaml>` words pydantic's.

    ``N`` is :func:`yaml_line` of ``loc`` extended by :func:`message_path` of ``message``
    (so ``rules[1] (x): ...`` raised at ``notifications`` names the line of that rule). It
    is left out (``"<path>: a.b: message"``) when not even ``loc``'s first key is in the
    file (the value came from the environment or a default); ``path=None`` (settings not
    read from a file) gives ``"a.b: message"``; ``in_file=False`` says the value is not the
    file's (the environment overrode it) and leaves the line out too.
    """
    dotted = ".".join(str(part) for part in loc) or "<root>"
    if path is None:
        return f"{dotted}: {message}"
    inner = [*loc, *message_path(message)]
    found = _locate(path, inner) if in_file else None
    if found is None or (found[1] == 0 and inner):
        return f"{path}: {dotted}: {message}"
    return f"{path}, line {found[0]}: {dotted}: {message}"
