"""Where settings come from: init > environment > .env > YAML > defaults, ``${VAR}`` in
YAML, and secrets that never show."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dictamesh.cli.main import app
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.core.yaml_env import expand

SECRET = "s3cr3t-token-value-0123456789abcdef"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the .env file is read from the working directory
    for name in ("DICTAMESH_API__PORT", "DICTAMESH_NODE_NAME", "CRM_TOKEN", "CRM_URL"):
        monkeypatch.delenv(name, raising=False)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_environment_beats_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "mesh.yaml", "api:\n  port: 8000\n  host: 0.0.0.0\n")
    assert DictaMeshSettings.from_yaml(config).api.port == 8000
    monkeypatch.setenv("DICTAMESH_API__PORT", "9999")
    settings = DictaMeshSettings.from_yaml(config)
    assert settings.api.port == 9999
    assert settings.api.host == "0.0.0.0"  # the rest of the section still comes from YAML


def test_dotenv_beats_yaml_and_loses_to_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "mesh.yaml", "node_name: from-yaml\napi:\n  port: 8000\n")
    write(tmp_path / ".env", "DICTAMESH_NODE_NAME=from-dotenv\nDICTAMESH_API__PORT=7000\n")
    settings = DictaMeshSettings.from_yaml(config)
    assert (settings.node_name, settings.api.port) == ("from-dotenv", 7000)
    monkeypatch.setenv("DICTAMESH_API__PORT", "9999")
    assert DictaMeshSettings.from_yaml(config).api.port == 9999


def test_other_dotenv_variables_feed_yaml_references(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a .env shared with other tools: its non-settings variables are not "extra inputs"
    write(tmp_path / ".env", f"CRM_TOKEN={SECRET}\nDICTAMESH_POSTGRES_URL=x\nOTHER=1\n")
    config = write(
        tmp_path / "mesh.yaml",
        "adapters:\n  - {name: crm, kind: k, base_url: 'http://x', api_key: '${CRM_TOKEN}'}\n",
    )
    key = DictaMeshSettings.from_yaml(config).adapters[0].api_key
    assert key is not None
    assert key.get_secret_value() == SECRET
    monkeypatch.setenv("CRM_TOKEN", "from-env")  # the environment wins, as for settings
    key = DictaMeshSettings.from_yaml(config).adapters[0].api_key
    assert key is not None
    assert key.get_secret_value() == "from-env"


def test_init_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICTAMESH_API__PORT", "9999")
    assert DictaMeshSettings.from_mapping({"api": {"port": 1234}}).api.port == 1234
    assert DictaMeshSettings().api.port == 9999


def test_variables_in_yaml_strings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_TOKEN", SECRET)
    config = write(
        tmp_path / "mesh.yaml",
        "api:\n  port: ${PORT_NOT_SET:-8123}\n"
        "adapters:\n  - name: crm\n    kind: customers_directus\n"
        "    base_url: ${CRM_URL:-http://127.0.0.1:8055}/v1\n"
        "    api_key: ${CRM_TOKEN}\n"
        "    options: {note: 'costs $$${CRM_URL:-5}'}\n",
    )
    settings = DictaMeshSettings.from_yaml(config)
    assert settings.api.port == 8123  # expanded before validation, then coerced
    crm = settings.adapters[0]
    assert crm.base_url == "http://127.0.0.1:8055/v1"
    assert crm.api_key is not None
    assert crm.api_key.get_secret_value() == SECRET
    assert crm.options["note"] == "costs $${CRM_URL:-5}"  # $${ escapes the reference


def test_an_unset_variable_names_itself_the_file_and_the_line(tmp_path: Path) -> None:
    config = write(
        tmp_path / "mesh.yaml",
        "adapters:\n  - name: crm\n    kind: customers_directus\n"
        "    base_url: http://x\n    api_key: ${CRM_TOKEN}\n",
    )
    with pytest.raises(ConfigurationError) as info:
        DictaMeshSettings.from_yaml(config)
    assert str(info.value).startswith(f"{config}, line 5: environment variable CRM_TOKEN")
    assert info.value.details["variable"] == "CRM_TOKEN"


def test_expand_follows_the_shell() -> None:
    env = {"SET": "v", "EMPTY": ""}
    assert expand("${SET}-${SET:-d}", env) == "v-v"
    assert expand("${EMPTY:-d}|${EMPTY}", env) == "d|"  # ":-" also replaces empty values
    assert expand("${MISSING:-}", env) == ""
    assert expand("$SET and $${SET}", env) == "$SET and ${SET}"
    with pytest.raises(ConfigurationError, match="MISSING"):
        expand("${MISSING}", env)


def test_secrets_never_show_in_repr_or_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = DictaMeshSettings.from_mapping(
        {
            "adapters": [{"name": "crm", "kind": "k", "base_url": "http://x", "api_key": SECRET}],
            "catalog": {"url": f"postgresql+asyncpg://u:{SECRET}@db/x"},
            "cache": {"redis_url": f"redis://:{SECRET}@127.0.0.1/0"},
            "auth": {"jwt_secret": SECRET},
            "governance": {"masking_key": SECRET},
            "observability": {"otlp_headers": {"Authorization": f"Bearer {SECRET}"}},
        }
    )
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in text
    assert SECRET not in str(settings.model_dump())
    assert settings.catalog.url.get_secret_value().endswith("@db/x")


def test_secrets_never_show_in_logs_or_cli_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CRM_TOKEN", SECRET)
    config = write(
        tmp_path / "mesh.yaml",
        f"state_dir: {tmp_path}\nbus: {{path: {tmp_path}/bus.sqlite3}}\n"
        f"catalog: {{url: 'sqlite+aiosqlite:///{tmp_path}/c.sqlite3'}}\n"
        "adapters:\n  - name: crm\n    kind: no_such_kind\n    base_url: http://127.0.0.1:9\n"
        "    api_key: ${CRM_TOKEN}\n    poll_interval_seconds: -1\n",
    )
    caplog.set_level(logging.DEBUG)
    result = CliRunner().invoke(app, ["serve", "--config", str(config), "--port", "0"])
    assert result.exit_code == 2, result.output
    assert "poll_interval_seconds" in " ".join(result.output.split())
    assert SECRET not in result.output
    assert SECRET not in caplog.text
