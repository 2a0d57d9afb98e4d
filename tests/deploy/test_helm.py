"""The Helm chart deploy/helm/dictamesh, checked offline: ``helm lint`` (also ``--strict``),
``helm template`` under several values, every object valid against the Kubernetes schemas
(and the Prometheus Operator CRDs), and what the nodes need (docs/deploy.md)."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import (
    ROLES,
    ROOT,
    alert_groups,
    by_name,
    check_mesh_yaml,
    check_node_deployment,
    load_documents,
    of_kind,
    role_of,
    secret_placeholders,
    validate_all,
    validate_object,
)

CHART = ROOT / "deploy" / "helm" / "dictamesh"
PRODUCTION = CHART / "values-production.yaml"
#: a development-style release with inline secrets (the chart keeps them in a Secret)
INLINE_SECRETS = {
    "secrets": {
        "catalog": {
            "url": "postgresql+asyncpg://dictamesh:pw@db/dictamesh",
            "migrationUrl": "postgresql+asyncpg://dictamesh_owner:pw@db/dictamesh",
        },
        "redis": {"url": "redis://redis:6379/0"},
    }
}
MONITORING = {"metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}}}


def _only(*roles: str) -> dict[str, Any]:
    return {"roles": {name: {"enabled": name in roles} for name in sorted(ROLES)}}


def _helm(helm: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=120, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def _values_args(tmp_path: Path, files: list[Path], values: list[dict[str, Any]]) -> list[str]:
    args: list[str] = []
    for path in files:
        args += ["-f", str(path)]
    for i, extra in enumerate(values):
        path = tmp_path / f"values-{i}.yaml"
        path.write_text(yaml.safe_dump(extra), encoding="utf-8")
        args += ["-f", str(path)]
    return args


def render(
    helm: Path,
    tmp_path: Path,
    *values: dict[str, Any],
    files: tuple[Path, ...] = (),
) -> list[dict[str, Any]]:
    args = _values_args(tmp_path, list(files), list(values))
    result = _helm(helm, "template", "mesh", str(CHART), "--namespace", "data", *args)
    return load_documents(result.stdout)


def _mesh(docs: list[dict[str, Any]]) -> str:
    return str(by_name(docs, "ConfigMap", "mesh-dictamesh-config")["data"]["mesh.yaml"])


@pytest.mark.parametrize("strict", [False, True], ids=["lint", "lint-strict"])
@pytest.mark.parametrize("files", [(), (PRODUCTION,)], ids=["default", "production"])
def test_helm_lint(helm: Path, strict: bool, files: tuple[Path, ...]) -> None:
    args = ["lint", str(CHART)] + [a for f in files for a in ("-f", str(f))]
    result = _helm(helm, *args, *(["--strict"] if strict else []))
    assert "0 chart(s) failed" in result.stdout


COMBINATIONS = {
    "default": ((), ()),
    "production": ((PRODUCTION,), ()),
    "inline-secrets-monitoring": ((), (INLINE_SECRETS, MONITORING)),
    "all-roles": ((), (_only(*ROLES),)),
    "api-only": ((), (_only("api"),)),
    "ingest-only-no-netpol": ((), (_only("ingest"), {"networkPolicy": {"enabled": False}})),
    "production-no-monitoring": (
        (PRODUCTION,),
        (
            {
                "metrics": {
                    "serviceMonitor": {"enabled": False},
                    "prometheusRule": {"enabled": False},
                }
            },
        ),
    ),
}


@pytest.mark.parametrize("name", list(COMBINATIONS))
def test_rendered_objects_are_valid_and_nodes_hardened(
    helm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    files, values = COMBINATIONS[name]
    docs = render(helm, tmp_path, *values, files=files)
    validate_all(docs)
    deployments = of_kind(docs, "Deployment")
    assert deployments
    environment = secret_placeholders(deployments[0])
    mesh = check_mesh_yaml(_mesh(docs), tmp_path, monkeypatch, environment)
    for deployment in deployments:
        check_node_deployment(deployment, mesh)
    # one Deployment per enabled role, each running exactly its role
    assert sorted(role_of(d) for d in deployments) == sorted(
        {d["metadata"]["name"].rsplit("-", 1)[1] for d in deployments}
    )


def test_one_deployment_per_enabled_role(helm: Path, tmp_path: Path) -> None:
    assert {
        role_of(d) for d in of_kind(render(helm, tmp_path, _only(*ROLES)), "Deployment")
    } == ROLES
    docs = render(helm, tmp_path, _only("api", "ingest"))
    assert {role_of(d) for d in of_kind(docs, "Deployment")} == {"api", "ingest"}
    # the api Service exists with the api role only
    assert [s["metadata"]["name"] for s in of_kind(docs, "Service")] == [
        "mesh-dictamesh-api",
        "mesh-dictamesh-metrics",
    ]
    docs = render(helm, tmp_path, _only("ingest"))
    assert [s["metadata"]["name"] for s in of_kind(docs, "Service")] == ["mesh-dictamesh-metrics"]


def test_migrations_job_is_a_hook_with_the_owner_url(helm: Path, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, INLINE_SECRETS)
    job = by_name(docs, "Job", "mesh-dictamesh-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["dictamesh"]
    assert container["args"] == ["migrate", "up", "-c", "/etc/dictamesh/mesh.yaml"]
    env = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]
    }
    assert env["DICTAMESH_CATALOG__MIGRATION_URL"]["key"] == "catalog-migration-url"
    # the hook's own mesh.yaml and Secret exist before it runs (hooks of lower weight)
    config = by_name(docs, "ConfigMap", "mesh-dictamesh-migrate-config")
    secret = by_name(docs, "Secret", "mesh-dictamesh-secrets")
    for earlier in (config, secret):
        assert earlier["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert int(earlier["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
            annotations["helm.sh/hook-weight"]
        )
    assert config["data"]["mesh.yaml"] == _mesh(docs)
    assert pod["volumes"][0]["configMap"]["name"] == config["metadata"]["name"]
    # the nodes never get the owner's URL, and leave migrating to the Job
    for deployment in of_kind(docs, "Deployment"):
        names = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert "DICTAMESH_CATALOG__URL" in names
        assert "DICTAMESH_CATALOG__MIGRATION_URL" not in names
    assert yaml.safe_load(_mesh(docs))["catalog"]["migrate_on_start"] is False
    assert not of_kind(render(helm, tmp_path, {"migrations": {"enabled": False}}), "Job")


def test_existing_secrets_are_referenced_not_copied(helm: Path, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, files=(PRODUCTION,))
    assert not of_kind(docs, "Secret")
    api = by_name(docs, "Deployment", "mesh-dictamesh-api")
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in api["spec"]["template"]["spec"]["containers"][0]["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert refs["DICTAMESH_CATALOG__URL"] == {"name": "dictamesh-catalog", "key": "url"}
    assert refs["DICTAMESH_CACHE__REDIS_URL"]["name"] == "dictamesh-redis"
    assert refs["DICTAMESH_BUS__KAFKA__SASL_PASSWORD"]["name"] == "dictamesh-kafka"
    job = by_name(docs, "Job", "mesh-dictamesh-migrate")
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DICTAMESH_CATALOG__MIGRATION_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "dictamesh-catalog",
        "key": "migration-url",
    }


def test_autoscaling_and_disruption_budgets(helm: Path, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, files=(PRODUCTION,))
    (hpa,) = of_kind(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "mesh-dictamesh-api"
    api = by_name(docs, "Deployment", "mesh-dictamesh-api")
    assert "replicas" not in api["spec"]  # the HPA owns it
    # a PDB for every role running more than one pod, none for single ones
    multi = {role_of(d) for d in of_kind(docs, "Deployment") if d["spec"].get("replicas", 2) > 1}
    pdbs = {
        p["metadata"]["labels"]["app.kubernetes.io/component"]
        for p in of_kind(docs, "PodDisruptionBudget")
    }
    assert pdbs == multi == {"api", "capture", "ingest", "saga", "notify"}
    default = render(helm, tmp_path)
    assert not of_kind(default, "HorizontalPodAutoscaler")
    assert {
        p["metadata"]["labels"]["app.kubernetes.io/component"]
        for p in of_kind(default, "PodDisruptionBudget")
    } == {"api", "capture"}


def test_prometheus_rule_carries_exactly_the_shipped_alerts(helm: Path, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, MONITORING)
    (rule,) = of_kind(docs, "PrometheusRule")
    assert rule["spec"]["groups"] == alert_groups()
    (monitor,) = of_kind(docs, "ServiceMonitor")
    metrics = by_name(docs, "Service", "mesh-dictamesh-metrics")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= metrics["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    # the metrics Service selects every node pod, and no other
    selector = metrics["spec"]["selector"].items()
    for deployment in of_kind(docs, "Deployment"):
        assert selector <= deployment["spec"]["template"]["metadata"]["labels"].items()
    job_labels = by_name(docs, "Job", "mesh-dictamesh-migrate")["spec"]["template"]["metadata"][
        "labels"
    ]
    assert not selector <= job_labels.items()
    off = render(helm, tmp_path)
    assert not of_kind(off, "PrometheusRule")
    assert not of_kind(off, "ServiceMonitor")


def test_config_change_rolls_the_pods(helm: Path, tmp_path: Path) -> None:
    def checksum(docs: list[dict[str, Any]]) -> str:
        pod = by_name(docs, "Deployment", "mesh-dictamesh-api")["spec"]["template"]["metadata"]
        return str(pod["annotations"]["checksum/config"])

    base = checksum(render(helm, tmp_path))
    assert base == checksum(render(helm, tmp_path))
    changed = render(helm, tmp_path, {"meshConfig": {"graphql": {"max_depth": 12}}})
    assert checksum(changed) != base
    assert yaml.safe_load(_mesh(changed))["graphql"] == {"max_depth": 12}


def test_grace_period_follows_the_shutdown_settings(helm: Path, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, {"shutdown": {"delaySeconds": 7, "timeoutSeconds": 50}})
    mesh = yaml.safe_load(_mesh(docs))
    assert mesh["api"]["shutdown_delay_seconds"] == 7
    assert mesh["api"]["timeout_graceful_shutdown"] == 50
    for deployment in of_kind(docs, "Deployment"):
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 67


def test_network_policy_limits_api_ingress_and_egress(helm: Path, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, files=(PRODUCTION,))
    nodes = by_name(docs, "NetworkPolicy", "mesh-dictamesh-nodes")
    assert nodes["spec"]["policyTypes"] == ["Ingress", "Egress"]
    (scrape,) = nodes["spec"]["ingress"]
    assert scrape["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    egress = nodes["spec"]["egress"]
    assert {p["port"] for p in egress[0]["ports"]} == {53}
    assert {p["port"] for rule in egress[1:] for p in rule["ports"]} == {5432, 6379, 9093, 443}
    api = by_name(docs, "NetworkPolicy", "mesh-dictamesh-api")
    (allowed,) = api["spec"]["ingress"]
    assert allowed["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == [
        "ingress-nginx"
    ]
    # without allowed callers the api admits nobody from outside the release
    default = by_name(render(helm, tmp_path), "NetworkPolicy", "mesh-dictamesh-api")
    assert default["spec"]["ingress"] == [] or default["spec"]["ingress"] is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"roles": {"indexer": {"enabled": True}}}, "additional properties 'indexer'"),
        ({"roles": {"api": {"replicas": -1}}}, "/roles/api/replicas"),
        ({"port": 70000}, "/port"),
        ({"stateDir": "relative/dir"}, "/stateDir"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ],
)
def test_bad_values_are_refused_by_the_schema(
    helm: Path, tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    args = _values_args(tmp_path, [], [values])
    result = _helm(helm, "template", "mesh", str(CHART), *args, check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_validation_catches_unknown_and_mistyped_fields(helm: Path, tmp_path: Path) -> None:
    """The offline validation is not vacuous: a typo in a Deployment or a ServiceMonitor, a
    wrong type in a PrometheusRule, fail it."""
    docs = render(helm, tmp_path, MONITORING)
    broken = [
        (
            "Deployment",
            "mesh-dictamesh-api",
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(readinesProbe={}),
        ),
        ("Deployment", "mesh-dictamesh-api", lambda d: d["spec"].update(replicas="two")),
        (
            "ServiceMonitor",
            "mesh-dictamesh",
            lambda d: d["spec"]["endpoints"][0].update(intervall="30s"),
        ),
        ("PrometheusRule", "mesh-dictamesh", lambda d: d["spec"]["groups"][0].update(rules="none")),
    ]
    for kind, name, breaking in broken:
        doc = copy.deepcopy(by_name(docs, kind, name))
        breaking(doc)
        with pytest.raises(pytest.fail.Exception):
            validate_object(doc)


def test_changed_inline_secrets_roll_the_pods(helm: Path, tmp_path: Path) -> None:
    def annotations(docs: list[dict[str, Any]]) -> dict[str, str]:
        deployment = by_name(docs, "Deployment", "mesh-dictamesh-api")
        return dict(deployment["spec"]["template"]["metadata"]["annotations"])

    before = annotations(render(helm, tmp_path, INLINE_SECRETS))
    rotated = copy.deepcopy(INLINE_SECRETS)
    rotated["secrets"]["redis"]["url"] = "redis://redis:6379/1"
    after = annotations(render(helm, tmp_path, rotated))
    assert before["checksum/secrets"] != after["checksum/secrets"]
    assert before["checksum/config"] == after["checksum/config"]
    # existing Secrets are not read by the chart: nothing to hash
    assert "checksum/secrets" not in annotations(render(helm, tmp_path, files=(PRODUCTION,)))


def test_production_spreads_each_role_over_zones_and_nodes(helm: Path, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, files=(PRODUCTION,))
    for deployment in of_kind(docs, "Deployment"):
        pod = deployment["spec"]["template"]
        spread = pod["spec"]["topologySpreadConstraints"]
        assert [c["topologyKey"] for c in spread] == [
            "topology.kubernetes.io/zone",
            "kubernetes.io/hostname",
        ]
        for constraint in spread:
            # each constraint counts the role's own pods only
            assert (
                constraint["labelSelector"]["matchLabels"]
                == deployment["spec"]["selector"]["matchLabels"]
            )
    assert all(
        "topologySpreadConstraints" not in d["spec"]["template"]["spec"]
        for d in of_kind(render(helm, tmp_path), "Deployment")
    )
