"""``dictamesh init`` and ``dictamesh new adapter``: what they write, and that bad input
writes nothing (exit 2)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, SecretStr
from typer.testing import CliRunner

from dictamesh.cli.main import app
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.notifications.runtime import NodeNotifications
from dictamesh.router.runtime import NodeRouter

runner = CliRunner()

# an example line: `#` then a key (`#auth:`), or `#` then the indented lines under it
_EXAMPLE = re.compile(r"(?m)^#(?=[^\s#]|  )")


def _flat(output: str) -> str:
    return " ".join(output.split())  # rich wraps long lines


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no .env of the caller's directory is read
    return tmp_path


# --- init ---------------------------------------------------------------------------------


def test_init_writes_a_config_that_loads(workdir: Path) -> None:
    result = runner.invoke(app, ["init", "Shop Mesh"])
    assert result.exit_code == 0, result.output
    target = workdir / "Shop Mesh"
    assert sorted(_tree(target)) == [".env.example", "README.md", "mesh.yaml"]
    settings = DictaMeshSettings.from_yaml(target / "mesh.yaml")
    assert settings.node_name == "shop-mesh"
    assert settings.bus.backend == "embedded"
    assert settings.catalog.url.get_secret_value().startswith("sqlite+aiosqlite:///")
    assert [(a.name, a.kind) for a in settings.adapters] == [("products", "products_rest")]
    readme = (target / "README.md").read_text()
    assert "dictamesh serve -c mesh.yaml" in readme
    assert "python -m dictamesh.sources" in readme


def test_init_examples_cover_every_section_and_are_valid(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    full = workdir / "full.yaml"
    full.write_text(_EXAMPLE.sub("", (workdir / "mesh.yaml").read_text()))
    assert set(yaml.safe_load(full.read_text())) == set(DictaMeshSettings.model_fields)
    # the auth example takes its secret from the environment, as the comment says
    monkeypatch.setenv("DICTAMESH_AUTH__JWT_SECRET", "s" * 40)
    settings = DictaMeshSettings.from_yaml(full)
    assert settings.auth.mode == "required"
    assert [a.kind for a in settings.adapters] == ["products_rest", "crm"]
    assert settings.router.enabled
    assert settings.governance.retention[0].target == "event_log"
    # what `serve` compiles at start: rule predicates, templates, router rules
    NodeNotifications.check(settings)
    NodeRouter.check(settings)


def _field(model: type[BaseModel], path: list[str]) -> object:
    annotation: object = model
    for part in path:
        assert isinstance(annotation, type), path
        assert issubclass(annotation, BaseModel), path
        fields = {name.upper(): info for name, info in annotation.model_fields.items()}
        assert part in fields, f"DICTAMESH_{'__'.join(path)} names no setting"
        annotation = fields[part].annotation
    return annotation


def test_env_example_names_real_settings_and_overrides_the_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    lines = (workdir / ".env.example").read_text().splitlines()
    assignments = dict(
        line.removeprefix("#").split("=", 1) for line in lines if re.match(r"^#[A-Z_]+=", line)
    )
    settings_vars = {k: v for k, v in assignments.items() if k.startswith("DICTAMESH_")}
    assert len(settings_vars) >= 10
    for name in settings_vars:
        _field(DictaMeshSettings, name.removeprefix("DICTAMESH_").split("__"))
    secrets = [
        n
        for n in settings_vars
        if "SecretStr" in str(_field(DictaMeshSettings, n[10:].split("__")))
    ]
    assert {
        "DICTAMESH_AUTH__JWT_SECRET",
        "DICTAMESH_CATALOG__URL",
        "DICTAMESH_CACHE__REDIS_URL",
    } <= set(secrets)
    for name, value in assignments.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DICTAMESH_API__PORT", "9123")
    settings = DictaMeshSettings.from_yaml(workdir / "mesh.yaml")
    assert settings.api.port == 9123  # the environment beats mesh.yaml
    assert settings.bus.backend == "kafka"
    assert isinstance(settings.auth.jwt_secret, SecretStr)
    assert settings.adapters[0].api_key is not None
    assert settings.adapters[0].api_key.get_secret_value() == assignments["PRODUCTS_API_KEY"]


def test_init_refuses_an_existing_config_and_writes_nothing(workdir: Path) -> None:
    (workdir / "mesh.yaml").write_text("node_name: mine\n")
    (workdir / "notes.txt").write_text("keep")
    before = _tree(workdir)
    result = runner.invoke(app, ["init", str(workdir)])
    assert result.exit_code == 2
    assert "already has mesh.yaml" in _flat(result.output)
    assert "--force" in result.output
    assert _tree(workdir) == before


def test_init_refuses_to_replace_a_readme(workdir: Path) -> None:
    (workdir / "README.md").write_text("# my project\n")
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 2
    assert (workdir / "README.md").read_text() == "# my project\n"
    assert not (workdir / "mesh.yaml").exists()


def test_init_force_overwrites(workdir: Path) -> None:
    (workdir / "mesh.yaml").write_text("node_name: mine\n")
    (workdir / "notes.txt").write_text("keep")
    result = runner.invoke(app, ["init", "--force"])
    assert result.exit_code == 0, result.output
    assert DictaMeshSettings.from_yaml(workdir / "mesh.yaml").adapters
    assert (workdir / "notes.txt").read_text() == "keep"


def test_init_into_a_file_is_refused(workdir: Path) -> None:
    (workdir / "afile").write_text("x")
    result = runner.invoke(app, ["init", "afile"])
    assert result.exit_code == 2
    assert "not a directory" in result.output
    assert _tree(workdir) == {"afile": b"x"}


# --- new adapter ------------------------------------------------------------------------


@pytest.mark.parametrize("template", ["rest", "graphql", "sql"])
def test_new_adapter_writes_a_package(workdir: Path, template: str) -> None:
    result = runner.invoke(app, ["new", "adapter", "billing-api", "--template", template])
    assert result.exit_code == 0, result.output
    root = workdir / "dictamesh-adapter-billing-api"
    files = _tree(root)
    module = "src/dictamesh_adapter_billing_api"
    assert {
        "pyproject.toml",
        "README.md",
        f"{module}/__init__.py",
        f"{module}/adapter.py",
        f"{module}/py.typed",
        "tests/fake_source.py",
        "tests/test_contract.py",
        "tests/test_registry.py",
    } <= set(files)
    project = tomllib.loads(files["pyproject.toml"].decode())
    assert project["project"]["name"] == "dictamesh-adapter-billing-api"
    assert project["build-system"]["build-backend"] == "hatchling.build"
    assert any(d.startswith("dictamesh>=") for d in project["project"]["dependencies"])
    assert project["project"]["entry-points"]["dictamesh.adapters"] == {
        "billing_api": "dictamesh_adapter_billing_api.adapter:BillingApiAdapter"
    }
    for name, content in files.items():
        if name.endswith(".py"):
            compile(content, name, "exec")  # valid Python, no template left over
        assert b"{{" not in content, name
        assert b"{%" not in content, name
    adapter = files[f"{module}/adapter.py"].decode()
    assert "class BillingApiAdapter(AdapterBase):" in adapter
    assert 'entity_type = "billing_api"' in adapter
    assert "AdapterContractSuite" in files["tests/test_contract.py"].decode()
    assert not [p for p in workdir.iterdir() if p.name.startswith(".")]  # no staging left


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Billing", "invalid adapter name"),
        ("1crm", "invalid adapter name"),
        ("crm--x", "invalid adapter name"),
        ("crm_", "invalid adapter name"),
        ("crm.x", "invalid adapter name"),
        ("../crm", "invalid adapter name"),
        ("x" * 25, "invalid adapter name"),
        ("class", "reserved"),
        ("json", "reserved"),
        ("dictamesh", "reserved"),
        ("products_rest", "already installed"),
    ],
)
def test_new_adapter_bad_name_writes_nothing(workdir: Path, name: str, expected: str) -> None:
    result = runner.invoke(app, ["new", "adapter", name])
    assert result.exit_code == 2, result.output
    assert expected in _flat(result.output)
    assert list(workdir.iterdir()) == []


def test_new_adapter_refuses_an_existing_directory(workdir: Path) -> None:
    (workdir / "dictamesh-adapter-crm").mkdir()
    (workdir / "dictamesh-adapter-crm" / "mine.py").write_text("x = 1\n")
    before = _tree(workdir)
    result = runner.invoke(app, ["new", "adapter", "crm"])
    assert result.exit_code == 2
    assert "already exists" in _flat(result.output)
    assert _tree(workdir) == before


def test_new_adapter_unknown_template_is_exit_2(workdir: Path) -> None:
    result = runner.invoke(app, ["new", "adapter", "crm", "--template", "soap"])
    assert result.exit_code == 2
    assert list(workdir.iterdir()) == []


def test_new_adapter_output_dir_is_created(workdir: Path) -> None:
    result = runner.invoke(app, ["new", "adapter", "crm", "-o", "plugins/adapters"])
    assert result.exit_code == 0, result.output
    assert (workdir / "plugins/adapters/dictamesh-adapter-crm/pyproject.toml").is_file()


@pytest.mark.parametrize("template", ["rest", "graphql", "sql"])
def test_generated_code_is_lint_clean(workdir: Path, template: str) -> None:
    # the longest names make the longest lines: one word (the longest class), and with `_`
    for name in (f"l{template}".ljust(24, "x"), f"l_{template}_".ljust(24, "x"), "ab"):
        made = runner.invoke(app, ["new", "adapter", name, "-t", template, "-o", name])
        assert made.exit_code == 0, made.output
        package = workdir / name / f"dictamesh-adapter-{name.replace('_', '-')}"
        # the package's own [tool.ruff] settings, not this repository's
        for command in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
            linted = subprocess.run(
                [sys.executable, "-m", "ruff", *command, "."],
                cwd=package,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert linted.returncode == 0, f"{name}: {linted.stdout}{linted.stderr}"
