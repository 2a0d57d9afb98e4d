"""What ``dictamesh init`` and ``dictamesh new adapter`` write: names checked, files rendered
from the Jinja2 templates shipped in ``dictamesh/cli/templates/``, written all or nothing.

Every file is rendered in memory before anything touches the disk, and a new package is
written into a temporary sibling directory renamed into place at the end, so bad input or a
failure part-way leaves nothing behind.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from dictamesh import __version__
from dictamesh.core.errors import ConfigurationError

__all__ = [
    "AdapterNames",
    "AdapterTemplate",
    "ScaffoldError",
    "adapter_files",
    "check_adapter_name",
    "init_files",
    "write_new_tree",
    "write_over",
]


class ScaffoldError(ConfigurationError):
    """Bad input for a scaffold (a name, a directory): nothing was written."""


class AdapterTemplate(StrEnum):
    REST = "rest"
    GRAPHQL = "graphql"
    SQL = "sql"


_ENV = Environment(
    loader=PackageLoader("dictamesh.cli", "templates"),
    undefined=StrictUndefined,  # a missing variable is a bug here, not an empty string
    keep_trailing_newline=True,
    autoescape=False,  # the output is code and YAML, not HTML
)

# lowercase words joined by single `_` or `-`: a Python module, a kind, an entity type
_NAME = re.compile(r"^[a-z](?:[a-z0-9]|[_-](?=[a-z0-9])){0,23}$")
_RESERVED = {"dictamesh", "adapter", "adapters", "test", "tests", "src", "testing"}

_TITLES = {
    AdapterTemplate.REST: "REST",
    AdapterTemplate.GRAPHQL: "GraphQL",
    AdapterTemplate.SQL: "SQL",
}


@dataclass(frozen=True, slots=True)
class AdapterNames:
    name: str
    module_name: str
    kind: str
    dist: str
    class_name: str


def check_adapter_name(name: str) -> AdapterNames:
    """The names derived from NAME; :class:`ScaffoldError` when NAME cannot be one."""
    if not _NAME.match(name):
        raise ScaffoldError(
            f"invalid adapter name {name!r}: lowercase letters, digits and single '_' or '-',"
            " starting with a letter, at most 24 characters (e.g. crm, billing_api)"
        )
    snake = name.replace("-", "_")
    if keyword.iskeyword(snake) or snake in sys.stdlib_module_names or snake in _RESERVED:
        raise ScaffoldError(f"adapter name {name!r} is reserved (a Python or DictaMesh name)")
    installed = {ep.name for ep in entry_points(group="dictamesh.adapters")}
    if snake in installed:
        raise ScaffoldError(f"an adapter kind named {snake!r} is already installed")
    return AdapterNames(
        name=name,
        module_name=f"dictamesh_adapter_{snake}",
        kind=snake,
        dist=f"dictamesh-adapter-{snake.replace('_', '-')}",
        class_name="".join(part.capitalize() for part in snake.split("_")) + "Adapter",
    )


def _render(template: str, context: dict[str, Any]) -> str:
    return _ENV.get_template(template).render(**context)


def init_files(node_name: str) -> dict[str, str]:
    """``dictamesh init``'s files: relative path → content."""
    context = {"node_name": node_name}
    return {
        "mesh.yaml": _render("init/mesh.yaml.j2", context),
        ".env.example": _render("init/env.example.j2", context),
        "README.md": _render("init/README.md.j2", context),
    }


def adapter_files(names: AdapterNames, template: AdapterTemplate) -> dict[str, str]:
    """The package of ``dictamesh new adapter``: relative path → content."""
    kind = names.kind
    system = kind.replace("_", "-") if template is AdapterTemplate.GRAPHQL else kind
    base_urls = {
        AdapterTemplate.REST: "http://127.0.0.1:8081",
        AdapterTemplate.GRAPHQL: "http://127.0.0.1:8081",
        AdapterTemplate.SQL: f"sqlite+aiosqlite:///{kind}.sqlite3",
    }
    sources = {
        AdapterTemplate.REST: f"a paginated JSON API (`GET /{kind}s`, `GET /{kind}s/{{id}}`)",
        AdapterTemplate.GRAPHQL: "a GraphQL endpoint (`options.path`, default `/graphql`)",
        AdapterTemplate.SQL: f"a SQL table `{kind}s` read with SQLAlchemy (async)",
    }
    deps = {
        AdapterTemplate.REST: [],
        AdapterTemplate.GRAPHQL: [],
        AdapterTemplate.SQL: ["sqlalchemy[asyncio]>=2.0.36", "aiosqlite>=0.20"],
    }
    test_deps = {
        AdapterTemplate.REST: ["starlette>=0.40"],
        AdapterTemplate.GRAPHQL: ["strawberry-graphql>=0.341"],
        AdapterTemplate.SQL: [],
    }
    context = {
        "name": names.name,
        "module": names.module_name,
        "kind": kind,
        "dist": names.dist,
        "class_name": names.class_name,
        "entity_type": kind,
        "domain": kind,
        "system": system.replace("-", "_"),
        "collection": f"{kind}s",
        "template": template.value,
        "template_title": _TITLES[template],
        "dictamesh_version": __version__,
        "dependencies": deps[template],
        "test_dependencies": test_deps[template],
        "source_summary": sources[template],
        "base_url_example": base_urls[template],
        "env_prefix": kind.upper(),
    }
    src = f"src/{names.module_name}"
    t = template.value
    return {
        "pyproject.toml": _render("adapter/common/pyproject.toml.j2", context),
        "README.md": _render("adapter/common/README.md.j2", context),
        f"{src}/__init__.py": _render("adapter/common/__init__.py.j2", context),
        f"{src}/adapter.py": _render(f"adapter/{t}/adapter.py.j2", context),
        # PEP 561: the adapter's types reach the code of whoever uses it
        f"{src}/py.typed": "",
        "tests/__init__.py": "",
        "tests/fake_source.py": _render(f"adapter/{t}/fake_source.py.j2", context),
        "tests/test_contract.py": _render(f"adapter/{t}/test_contract.py.j2", context),
        "tests/test_registry.py": _render("adapter/common/test_registry.py.j2", context),
    }


def write_new_tree(target: Path, files: dict[str, str]) -> None:
    """Write ``files`` under ``target``, which must not exist: built in a temporary sibling
    directory, then renamed, so ``target`` appears complete or not at all."""
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    try:
        for relative, content in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        os.rename(staging, target)  # fails (no overwrite) if target appeared meanwhile
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_over(directory: Path, files: dict[str, str]) -> None:
    """Write ``files`` into ``directory`` (created if missing), each file replaced whole:
    all are staged beside their targets first, so a full disk fails before any is replaced."""
    directory.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for relative, content in files.items():
            path = directory / relative
            temp = path.with_name(f".{path.name}.dictamesh-tmp")
            staged.append((temp, path))
            temp.write_text(content, encoding="utf-8")
        for temp, path in staged:
            os.replace(temp, path)
    finally:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
