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
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from dictamesh.core.errors import ConfigurationError

__all__ = ["expand", "load_yaml_file"]

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
