"""Every import the documentation cites works, and every package's ``__all__`` resolves.

Scanned: README.md, docs/**/*.md and the docstrings under src/. Checked there:

* dotted names ``dictamesh.x.y`` anywhere in the text (prose, inline code, ``:func:`` roles);
* ``from dictamesh.x import a, b`` and ``import dictamesh.x`` lines in code blocks (fenced
  blocks in Markdown; anywhere in a docstring, whose examples are indented blocks).

A citation that does not import is a newcomer's first error, so a renamed module or symbol
must take its documentation along.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import dictamesh

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "dictamesh"

# ``dictamesh.`` followed by names, not part of a path, URL, e-mail or longer identifier.
DOTTED = re.compile(r"(?<![\w/.@-])dictamesh(?:\.[A-Za-z_]\w*)+")
FENCE = re.compile(r"^\s*```")
IMPORT_LINE = re.compile(r"^\s*(?:from\s+dictamesh[\w.]*\s+import\b|import\s+dictamesh\b)")

# Dotted names that are not Python: span attributes (docs/observability.md), PostgreSQL
# settings (docs/tenancy.md, row-level security) and entry-point groups of the plugin
# registries. Only a name whose first part is not a dictamesh module may be listed here.
NOT_PYTHON = frozenset(
    {
        "dictamesh.adapter",
        "dictamesh.notification_channels",
        "dictamesh.entity",
        "dictamesh.entity.type",
        "dictamesh.event.type",
        "dictamesh.tenant",
        "dictamesh.tenant_id",
        "dictamesh.retention",
        "dictamesh.buses",
        "dictamesh.caches",
        "dictamesh.embedding_providers",
        # OpenLineage job names (docs/lineage.md)
        "dictamesh.catalog_ingest",
        "dictamesh.adapter_sync",
    }
)


def _doc_texts() -> Iterator[tuple[str, str, bool]]:
    """``(where, text, is_markdown)`` for the README, every doc page and every docstring."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"), True
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    yield f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 1)}", doc, False


def _code_lines(text: str, is_markdown: bool) -> list[str]:
    if not is_markdown:
        return text.splitlines()
    lines, inside = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            inside = not inside
        elif inside:
            lines.append(line)
    return lines


def import_statements(text: str, is_markdown: bool) -> list[str]:
    """The dictamesh import statements of the code in ``text`` (parenthesised ones joined)."""
    lines = _code_lines(text, is_markdown)
    found = []
    for i, line in enumerate(lines):
        if not IMPORT_LINE.match(line):
            continue
        statement = line.strip()
        j = i
        while "(" in statement and ")" not in statement and j + 1 < len(lines):
            j += 1
            statement += " " + lines[j].strip()
        found.append(statement.split("#")[0].strip())
    return found


def _is_module(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            return False
        raise  # the module exists but one of its own imports is missing: report that
    return True


def resolves(dotted: str) -> bool:
    """True when ``dotted`` is a module, or an attribute path below the longest module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        if not _is_module(".".join(parts[:cut])):
            continue
        obj: object = importlib.import_module(".".join(parts[:cut]))
        for attribute in parts[cut:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


def statement_imports(statement: str) -> bool:
    """True when the ``import`` / ``from ... import`` statement would run."""
    node = ast.parse(statement).body[0]
    if isinstance(node, ast.Import):
        return all(_is_module(alias.name) for alias in node.names)
    assert isinstance(node, ast.ImportFrom)
    assert node.module is not None
    if not _is_module(node.module):
        return False
    module = importlib.import_module(node.module)
    return all(
        hasattr(module, alias.name) or _is_module(f"{node.module}.{alias.name}")
        for alias in node.names
    )


def _top_level_modules() -> set[str]:
    return {info.name for info in pkgutil.iter_modules(dictamesh.__path__)}


def test_documented_dotted_names_resolve() -> None:
    top = _top_level_modules()
    broken, unknown = set(), set()
    for where, text, _ in _doc_texts():
        for match in DOTTED.finditer(text):
            name = match.group(0)
            if name.split(".")[1] not in top:
                if name not in NOT_PYTHON:
                    unknown.add(f"{where}: {name}")
            elif not resolves(name):
                broken.add(f"{where}: {name}")
    assert not broken, "documented names that do not import:\n" + "\n".join(sorted(broken))
    assert not unknown, "neither a dictamesh module nor in NOT_PYTHON:\n" + "\n".join(
        sorted(unknown)
    )


def test_documented_import_lines_work() -> None:
    broken, seen = set(), 0
    for where, text, is_markdown in _doc_texts():
        for statement in import_statements(text, is_markdown):
            seen += 1
            if not statement_imports(statement):
                broken.add(f"{where}: {statement}")
    assert seen > 20  # the scan found the docs' examples (a broken scan would pass vacuously)
    assert not broken, "documented imports that fail:\n" + "\n".join(sorted(broken))


def test_not_python_names_are_not_modules() -> None:
    """The exception list cannot hide a real module's name."""
    top = _top_level_modules()
    assert not {name for name in NOT_PYTHON if name.split(".")[1] in top}


def _packages() -> list[str]:
    found = ["dictamesh"]
    for info in pkgutil.walk_packages(dictamesh.__path__, "dictamesh."):
        # migrations/ holds Alembic scripts (run by Alembic, not imported as a package)
        if info.ispkg and ".migrations" not in info.name:
            found.append(info.name)
    return found


@pytest.mark.parametrize("package", _packages())
def test_package_all_resolves(package: str) -> None:
    module: ModuleType = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    assert names is not None, f"{package} needs an explicit __all__ of its public names"
    assert len(set(names)) == len(names), f"duplicates in {package}.__all__"
    missing = [
        name for name in names if not hasattr(module, name) and not _is_module(f"{package}.{name}")
    ]
    assert not missing, f"{package}.__all__ names what it does not have: {missing}"


@pytest.mark.parametrize("package", _packages())
def test_package_has_a_docstring(package: str) -> None:
    doc = importlib.import_module(package).__doc__ or ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    # a docstring that only repeats the folder name ("adapters") says nothing
    assert len(first.split()) >= 3, f"{package} needs a docstring saying what it is"


# --- the scanner itself ------------------------------------------------------------------


def test_scanner_finds_imports_in_fenced_blocks_only() -> None:
    text = (
        "from dictamesh.x import a\n```python\nfrom dictamesh.api import (\n  create_app,\n)\n```\n"
    )
    assert import_statements(text, is_markdown=True) == [
        "from dictamesh.api import ( create_app, )"
    ]


def test_scanner_reports_broken_citations() -> None:
    assert resolves("dictamesh.api.context.ApiContext")
    assert not resolves("dictamesh.api.context.NoSuchThing")
    assert not resolves("dictamesh.nosuchpackage.thing")
    assert statement_imports("from dictamesh.testing import FakeAdapter, InMemoryBus")
    assert not statement_imports("from dictamesh.testing import NoSuchHelper")
    assert statement_imports("from dictamesh.adapters.reference import products_rest")
    assert not statement_imports("import dictamesh.nosuchmodule")


def test_dotted_pattern_skips_paths_and_urls() -> None:
    text = "see src/dictamesh.api and https://dictamesh.example, but `dictamesh.api.app`."
    assert DOTTED.findall(text) == ["dictamesh.api.app"]
