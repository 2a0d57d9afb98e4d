"""The development stack (``docker-compose.yml`` and ``deploy/compose/``) checked without
Docker: the compose file against the official compose-spec JSON schema, then what the schema
cannot see — mounted files exist, ports stay on 127.0.0.1, images are pinned, the services
each config names are the ones compose runs (Prometheus targets, the collector's exporter,
the nodes' Kafka/PostgreSQL/Redis/OTLP addresses), and the shipped alert rules, dashboard and
mesh.yaml load (docs/deploy.md, "Local development stack")."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from dictamesh.cli.main import app
from dictamesh.core.settings import DictaMeshSettings
from tests.deploy.dockerfile_model import ROOT, builder_and_final

COMPOSE_FILE = ROOT / "docker-compose.yml"
SCHEMAS = Path(__file__).parent / "schemas"
OBSERVABILITY = ROOT / "deploy" / "observability"
ROLES = {"api", "capture", "ingest", "router", "saga", "notify"}
_DURATION = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return schema


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = _yaml(COMPOSE_FILE)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def _bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path → host file of each bind mount (short syntax, ``./...``)."""
    out: dict[str, Path] = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith(("./", "../", "/")):
            out[target] = (COMPOSE_FILE.parent / source).resolve()
    return out


def _mounted_at(service: dict[str, Any], host_file: Path) -> str:
    """Where ``service`` mounts ``host_file`` (its container path)."""
    found = [t for t, source in _bind_mounts(service).items() if source == host_file.resolve()]
    assert len(found) == 1, f"{host_file} is mounted {len(found)} times"
    return found[0]


def _node_services(services: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Services running `dictamesh serve` from the project image → their --role values."""
    out: dict[str, list[str]] = {}
    for name, service in services.items():
        command = service.get("command", [])
        if service.get("build") and "entrypoint" not in service and command[:1] == ["serve"]:
            roles = [command[i + 1] for i, word in enumerate(command) if word == "--role"]
            out[name] = [r for value in roles for r in value.split(",")]
    return out


def _image_port() -> int:
    _, final = builder_and_final()
    return int(final.env()["DICTAMESH_API__PORT"])


# --- the compose file ---------------------------------------------------------------------


def test_the_compose_file_is_valid_against_the_compose_spec(compose: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(_schema("compose-spec.json"))
    problems = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(compose)]
    assert not problems, problems
    # the schema does notice a mistake (it is not vacuous)
    broken = {**compose, "services": {"x": {"image": "a", "ports": {"not": "a list"}}}}
    assert not validator.is_valid(broken)


def test_the_design_stack_is_all_there(services: dict[str, dict[str, Any]]) -> None:
    wanted = {"postgres", "redis", "kafka", "prometheus", "grafana", "otel-collector", "jaeger"}
    assert wanted <= set(services)
    roles = _node_services(services)
    assert {r for rs in roles.values() for r in rs} >= {"api", "capture", "ingest"}
    for name, rs in roles.items():
        assert rs, f"{name} runs every role: give it --role"
        assert set(rs) <= ROLES, (name, rs)


def test_the_database_has_pgvector(services: dict[str, dict[str, Any]]) -> None:
    # migration 0012_search stops without the extension, which the init script creates
    assert services["postgres"]["image"].startswith("pgvector/pgvector:pg15")
    init = (ROOT / "scripts" / "postgres-init.sql").read_text()
    assert "CREATE EXTENSION IF NOT EXISTS vector" in init
    assert _mounted_at(services["postgres"], ROOT / "scripts" / "postgres-init.sql")


def test_every_mounted_file_exists(services: dict[str, dict[str, Any]]) -> None:
    mounts = 0
    for name, service in services.items():
        for target, source in _bind_mounts(service).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"
            assert ROOT in source.parents, f"{name} mounts {source} from outside the repository"
            mounts += 1
    assert mounts >= 8


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} is not declared"


def test_every_published_port_binds_127_0_0_1(services: dict[str, dict[str, Any]]) -> None:
    published = 0
    for name, service in services.items():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", (name, port)
            else:
                parts = str(port).split(":")
                assert len(parts) == 3, f"{name}: {port} publishes on every interface"
                assert parts[0] == "127.0.0.1", (name, port)
            published += 1
    assert published >= 7


def test_images_are_pinned_and_the_mesh_is_built_from_the_dockerfile(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        image = service.get("image", "")
        if service.get("build"):
            build = service["build"]
            assert build["context"] == "."
            assert (ROOT / build.get("dockerfile", "Dockerfile")).is_file()
            assert image.startswith("ghcr.io/dictamesh/dictamesh:"), (name, image)
            continue
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: {image!r} has no tag"
        assert "/" not in tag, f"{name}: {image!r} has no tag"
        assert tag != "latest", f"{name}: {image!r} is not pinned"
        assert re.search(r"\d", tag), f"{name}: {image!r} is not pinned"


def _has_healthcheck(service: dict[str, Any]) -> bool:
    check = service.get("healthcheck")
    if check is not None:
        return not check.get("disable", False) and bool(check.get("test"))
    # built from the Dockerfile: its HEALTHCHECK applies
    if service.get("build"):
        _, final = builder_and_final()
        return bool(final.all("HEALTHCHECK"))
    return False


def test_depends_on_conditions_can_be_met(services: dict[str, dict[str, Any]]) -> None:
    conditions = 0
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            assert target != name
            condition = rule["condition"]
            if condition == "service_healthy":
                assert _has_healthcheck(services[target]), f"{target} has no healthcheck"
            elif condition == "service_completed_successfully":
                # a one-shot: restarting it would never "complete"
                assert services[target].get("restart") == "no", target
            conditions += 1
    assert conditions >= 10


def test_migrations_run_once_before_every_node(services: dict[str, dict[str, Any]]) -> None:
    (migrate,) = [n for n, s in services.items() if s.get("command", [])[:2] == ["migrate", "up"]]
    assert services[migrate]["depends_on"]["postgres"]["condition"] == "service_healthy"
    config = _mounted_at(services[migrate], ROOT / "deploy/compose/mesh.yaml")
    assert services[migrate]["command"][2:] == ["-c", config]
    for name in _node_services(services):
        rule = services[name]["depends_on"][migrate]
        assert rule["condition"] == "service_completed_successfully", name


def test_nodes_read_the_compose_mesh_yaml(services: dict[str, dict[str, Any]]) -> None:
    for name in _node_services(services):
        service = services[name]
        config = _mounted_at(service, ROOT / "deploy/compose/mesh.yaml")
        command = service["command"]
        assert command[command.index("-c") + 1] == config, name
        assert service.get("read_only") is True, f"{name}: run with a read-only root as k8s does"


# --- Prometheus -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus(services: dict[str, dict[str, Any]]) -> dict[str, Any]:
    config = ROOT / "deploy/compose/prometheus.yml"
    assert _mounted_at(services["prometheus"], config) == "/etc/prometheus/prometheus.yml"
    loaded: dict[str, Any] = _yaml(config)
    return loaded


def test_the_prometheus_config_is_valid(prometheus: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(_schema("prometheus.json"))
    problems = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(prometheus)]
    assert not problems, problems
    assert not validator.is_valid({"scrape_configs": [{"job_name": 1}]})


def test_prometheus_loads_the_shipped_alert_rules(
    prometheus: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    mounted = _mounted_at(services["prometheus"], OBSERVABILITY / "prometheus-alerts.yml")
    config_dir = PurePosixPath("/etc/prometheus")
    rule_files = [str(config_dir / f) for f in prometheus["rule_files"]]
    assert mounted in rule_files


def _scrape_targets(job: dict[str, Any]) -> set[str]:
    """host:port of a job's static targets and DNS names (every replica of a service)."""
    found = {t for static in job.get("static_configs", []) for t in static["targets"]}
    for dns in job.get("dns_sd_configs", []):
        assert dns.get("type", "SRV") == "A", "compose's DNS has no SRV records"
        found |= {f"{name}:{dns['port']}" for name in dns["names"]}
    return found


def test_prometheus_scrapes_every_node(
    prometheus: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    targets = {
        target
        for job in prometheus["scrape_configs"]
        if job.get("metrics_path", "/metrics") == "/metrics"
        for target in _scrape_targets(job)
    }
    port = _image_port()
    for name in _node_services(services):
        assert f"{name}:{port}" in targets, name
    for target in targets:
        host = target.rsplit(":", 1)[0]
        assert host in services or host == "127.0.0.1", f"scrape target {target}: no such service"


def test_the_shipped_alert_rules_are_valid() -> None:
    rules = _yaml(OBSERVABILITY / "prometheus-alerts.yml")
    validator = jsonschema.Draft7Validator(_schema("prometheus.rules.json"))
    problems = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(rules)]
    assert not problems, problems
    names: list[str] = []
    for group in rules["groups"]:
        assert group["rules"], group["name"]
        for rule in group["rules"]:
            names.append(rule["alert"])
            assert rule["expr"].strip()
            assert rule["labels"]["severity"] in {"critical", "warning", "info"}
            assert rule["annotations"]["summary"]
            assert _DURATION.match(rule.get("for", "0s")), rule.get("for")
            # balanced brackets: the cheapest PromQL sanity check without promtool
            for opening, closing in ("()", "[]", "{}"):
                assert rule["expr"].count(opening) == rule["expr"].count(closing), rule["alert"]
    assert len(names) == len(set(names)), "duplicate alert names"


# --- Grafana --------------------------------------------------------------------------------


def test_grafana_is_provisioned_with_the_datasource_and_the_shipped_dashboard(
    services: dict[str, dict[str, Any]],
) -> None:
    grafana = services["grafana"]
    provisioning = ROOT / "deploy/compose/grafana/provisioning"
    assert _mounted_at(grafana, provisioning / "datasources") == (
        "/etc/grafana/provisioning/datasources"
    )
    assert _mounted_at(grafana, provisioning / "dashboards") == (
        "/etc/grafana/provisioning/dashboards"
    )

    (datasources,) = [_yaml(f) for f in (provisioning / "datasources").glob("*.yml")]
    assert datasources["apiVersion"] == 1
    (prom,) = [d for d in datasources["datasources"] if d["type"] == "prometheus"]
    url = urlsplit(prom["url"])
    assert url.hostname == "prometheus"
    assert f"127.0.0.1:{url.port}:{url.port}" in services["prometheus"]["ports"]
    assert prom["isDefault"] is True

    (dashboards,) = [_yaml(f) for f in (provisioning / "dashboards").glob("*.yml")]
    assert dashboards["apiVersion"] == 1
    (provider,) = dashboards["providers"]
    assert provider["type"] == "file"
    dashboard = _mounted_at(grafana, OBSERVABILITY / "grafana-dashboard.json")
    assert PurePosixPath(dashboard).parent == PurePosixPath(provider["options"]["path"])
    home = grafana["environment"].get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    assert home in (None, dashboard)


def test_the_dashboard_queries_a_prometheus_datasource() -> None:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text("utf-8"))
    assert dashboard["uid"]
    assert dashboard["panels"]
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"


# --- OpenTelemetry Collector and Jaeger -----------------------------------------------------


@pytest.fixture(scope="module")
def collector(services: dict[str, dict[str, Any]]) -> dict[str, Any]:
    service = services["otel-collector"]
    config = _mounted_at(service, ROOT / "deploy/compose/otel-collector.yml")
    assert f"--config={config}" in service["command"]
    loaded: dict[str, Any] = _yaml(ROOT / "deploy/compose/otel-collector.yml")
    return loaded


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def test_the_collector_receives_otlp_and_exports_to_jaeger(
    collector: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    traces = collector["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        for component in traces.get(kind, []):
            assert component in collector[kind], f"{kind} {component} is not defined"
    receivers = [r for r in traces["receivers"] if r.split("/")[0] == "otlp"]
    assert receivers, "no OTLP receiver in the traces pipeline"
    http = collector["receivers"][receivers[0]]["protocols"]["http"]
    assert _port(http["endpoint"]) == 4318
    to_jaeger = [
        e
        for e in traces["exporters"]
        if e.split("/")[0] in {"otlp", "otlphttp"}
        and urlsplit("//" + collector["exporters"][e]["endpoint"].split("://")[-1]).hostname
        == "jaeger"
    ]
    assert to_jaeger, "no exporter to the jaeger service in the traces pipeline"
    assert "jaeger" in services
    jaeger_port = _port(collector["exporters"][to_jaeger[0]]["endpoint"])
    assert jaeger_port in {4317, 4318}  # Jaeger v2's OTLP gRPC / HTTP receivers


# --- the nodes' mesh.yaml -------------------------------------------------------------------


@pytest.fixture(scope="module")
def mesh() -> DictaMeshSettings:
    return DictaMeshSettings.from_yaml(ROOT / "deploy/compose/mesh.yaml")


def test_the_compose_mesh_yaml_validates_against_dictamesh_config_schema() -> None:
    result = CliRunner().invoke(app, ["config", "schema"])
    assert result.exit_code == 0, result.output
    validator = jsonschema.Draft202012Validator(json.loads(result.stdout))
    raw = _yaml(ROOT / "deploy/compose/mesh.yaml")
    problems = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(raw)]
    assert not problems, problems


def test_the_nodes_use_the_compose_services(
    mesh: DictaMeshSettings, services: dict[str, dict[str, Any]]
) -> None:
    kafka_env = services["kafka"]["environment"]
    advertised = kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert mesh.bus.backend == "kafka"
    # the listener advertised to containers, not the host's 127.0.0.1:9092
    assert any(a.endswith("//" + mesh.bus.kafka_bootstrap) for a in advertised)
    listener = mesh.bus.kafka_bootstrap.rsplit(":", 1)
    assert listener[0] == "kafka"
    assert f":{listener[1]}" in kafka_env["KAFKA_LISTENERS"]

    catalog = urlsplit(mesh.catalog.url.get_secret_value())
    assert catalog.hostname == "postgres"
    assert mesh.catalog.migration_url is not None
    owner = urlsplit(mesh.catalog.migration_url.get_secret_value())
    assert (owner.hostname, owner.username) == ("postgres", "dictamesh_owner")
    assert catalog.username == "dictamesh"  # the app role, under row-level security
    assert mesh.catalog.migrate_on_start is False

    assert mesh.cache.redis_url is not None
    assert urlsplit(mesh.cache.redis_url.get_secret_value()).hostname == "redis"

    assert mesh.observability.traces_exporter == "otlp"
    otlp = urlsplit(mesh.observability.otlp_endpoint)
    assert (otlp.hostname, otlp.port, otlp.path) == ("otel-collector", 4318, "/v1/traces")


def test_the_adapters_read_the_sample_sources_service(
    mesh: DictaMeshSettings, services: dict[str, dict[str, Any]]
) -> None:
    sources = services["sources"]
    command = sources["command"]
    ports = command[command.index("--ports") + 1 : command.index("--ports") + 5]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert len(mesh.adapters) == 4
    for adapter, port in zip(mesh.adapters, ports, strict=True):
        url = urlsplit(adapter.base_url)
        assert (url.hostname, str(url.port)) == ("sources", port), adapter.name
    (capture,) = [n for n, roles in _node_services(services).items() if "capture" in roles]
    assert services[capture]["depends_on"]["sources"]["condition"] == "service_healthy"


def test_the_environment_still_overrides_the_compose_mesh_yaml(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DICTAMESH_DEV_KAFKA_BOOTSTRAP", "broker:29092")
    monkeypatch.setenv("DICTAMESH_NODE_NAME", "from-env")
    settings = DictaMeshSettings.from_yaml(ROOT / "deploy/compose/mesh.yaml")
    assert settings.bus.kafka_bootstrap == "broker:29092"
    assert settings.node_name == "from-env"


# --- make targets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "commands"),
    [
        ("dev-up", ["docker compose up -d --build"]),
        ("dev-down", ["docker compose down"]),
        ("dev-reset", ["docker compose down -v", "docker compose up -d --build"]),
    ],
)
def test_make_dev_targets(target: str, commands: list[str]) -> None:
    assert _make_dry_run(target).splitlines() == commands


def test_make_image_builds_the_versioned_tag_with_the_extras() -> None:
    done = _make_dry_run("image", "EXTRAS=postgres,kafka")
    command = " ".join(done.replace("\\\n", " ").split())
    assert command.startswith("docker build ")
    assert "--build-arg EXTRAS=postgres,kafka" in command
    version = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"]
    assert command.endswith(f"-t ghcr.io/dictamesh/dictamesh:{version} ."), command


def _make_dry_run(*args: str) -> str:
    """What ``make -n ARGS`` would run. Without the calling make's variables: under ``make
    test`` (MAKELEVEL, MAKEFLAGS) the inner make prints "Entering directory" lines."""
    env = {k: v for k, v in os.environ.items() if k not in {"MAKELEVEL", "MAKEFLAGS", "MFLAGS"}}
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return done.stdout
