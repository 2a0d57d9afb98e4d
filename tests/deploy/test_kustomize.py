"""The plain manifests deploy/k8s (base, overlays dev and prod): rendered with
``kubectl kustomize`` and checked offline like the Helm chart's (docs/deploy.md)."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import (
    ROLES,
    ROOT,
    by_name,
    check_mesh_yaml,
    check_node_deployment,
    load_documents,
    of_kind,
    role_of,
    secret_placeholders,
    validate_all,
)

OVERLAYS = ROOT / "deploy" / "k8s" / "overlays"
#: roles the plain manifests deploy (the router is added by hand, docs/deploy.md)
DEPLOYED = ROLES - {"router"}


@pytest.fixture(scope="session")
def kubectl() -> Path:
    found = shutil.which("kubectl")
    if found is None:
        message = "kubectl not found: it renders the kustomize overlays (kubectl kustomize)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return Path(found)


def render(kubectl: Path, overlay: str) -> list[dict[str, Any]]:
    return copy.deepcopy(_rendered(kubectl, overlay))


@cache
def _rendered(kubectl: Path, overlay: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(kubectl), "kustomize", str(OVERLAYS / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {overlay} failed:\n{result.stderr}")
    return load_documents(result.stdout)


def _config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (config,) = of_kind(docs, "ConfigMap")
    assert config["metadata"]["name"].startswith("dictamesh-config-")  # hashed: rolls pods
    return config


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlay_objects_are_valid_and_nodes_hardened(
    kubectl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overlay: str
) -> None:
    docs = render(kubectl, overlay)
    validate_all(docs)
    deployments = of_kind(docs, "Deployment")
    assert {role_of(d) for d in deployments} == DEPLOYED
    # dev generates its Secrets (Kafka's, optional, it has not); prod's are made outside
    generated = [s["metadata"]["name"] for s in of_kind(docs, "Secret")]
    environment = secret_placeholders(deployments[0], generated if overlay == "dev" else None)
    mesh = check_mesh_yaml(_config(docs)["data"]["mesh.yaml"], tmp_path, monkeypatch, environment)
    config_name = _config(docs)["metadata"]["name"]
    for deployment in deployments:
        check_node_deployment(deployment, mesh)
        volumes = deployment["spec"]["template"]["spec"]["volumes"]
        assert {"name": "config", "configMap": {"name": config_name}} in volumes
    namespaces = {doc["metadata"].get("namespace") for doc in docs}
    assert namespaces == {"dictamesh-dev" if overlay == "dev" else "dictamesh"}


def test_dev_runs_one_of_each_without_autoscaling(kubectl: Path) -> None:
    docs = render(kubectl, "dev")
    assert all(d["spec"]["replicas"] == 1 for d in of_kind(docs, "Deployment"))
    assert not of_kind(docs, "HorizontalPodAutoscaler")
    assert not of_kind(docs, "PodDisruptionBudget")
    secrets = {s["metadata"]["name"].rsplit("-", 1)[0] for s in of_kind(docs, "Secret")}
    assert secrets == {"dictamesh-catalog", "dictamesh-redis"}
    # the generated (hashed) Secret names reach the pods
    api = by_name(docs, "Deployment", "dictamesh-api")
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in api["spec"]["template"]["spec"]["containers"][0]["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert {s["metadata"]["name"] for s in of_kind(docs, "Secret")} <= refs
    assert yaml.safe_load(_config(docs)["data"]["mesh.yaml"])["environment"] == "development"


def test_prod_scales_autoscales_and_budgets(kubectl: Path) -> None:
    docs = render(kubectl, "prod")
    (hpa,) = of_kind(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "dictamesh-api"
    assert hpa["spec"]["minReplicas"] >= 2
    api = by_name(docs, "Deployment", "dictamesh-api")
    assert "replicas" not in api["spec"]  # the HPA owns it
    others = [d for d in of_kind(docs, "Deployment") if role_of(d) != "api"]
    assert all(d["spec"]["replicas"] >= 2 for d in others)
    budgets = {p["metadata"]["name"]: p for p in of_kind(docs, "PodDisruptionBudget")}
    assert set(budgets) == {f"dictamesh-{role}" for role in DEPLOYED}
    for deployment in of_kind(docs, "Deployment"):
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"].items()
        selector = budgets[deployment["metadata"]["name"]]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod_labels
    # production secrets are made outside the repository
    assert not of_kind(docs, "Secret")
    dev_api = by_name(render(kubectl, "dev"), "Deployment", "dictamesh-api")
    prod_requests = api["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    dev_requests = dev_api["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    assert prod_requests != dev_requests


def test_migration_job_runs_as_the_owner(kubectl: Path) -> None:
    for overlay in ("dev", "prod"):
        docs = render(kubectl, overlay)
        job = by_name(docs, "Job", "dictamesh-migrate")
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["migrate", "up", "-c", "/etc/dictamesh/mesh.yaml"]
        env = {e["name"] for e in container["env"]}
        assert "DICTAMESH_CATALOG__MIGRATION_URL" in env
        for deployment in of_kind(docs, "Deployment"):
            names = {
                e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            }
            assert "DICTAMESH_CATALOG__MIGRATION_URL" not in names
        mesh = yaml.safe_load(_config(docs)["data"]["mesh.yaml"])
        assert mesh["catalog"]["migrate_on_start"] is False


def test_helm_and_kustomize_pods_agree(kubectl: Path, helm: Path, tmp_path: Path) -> None:
    """The two ways to deploy keep the same pod contract: args, probes, security, mounts."""
    from tests.deploy.test_helm import PRODUCTION
    from tests.deploy.test_helm import render as helm_render

    helm_docs = helm_render(helm, tmp_path, files=(PRODUCTION,))
    kustomize_docs = render(kubectl, "prod")

    def contract(deployment: dict[str, Any]) -> dict[str, Any]:
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        return {
            "args": container["args"],
            "command": container["command"],
            "probes": {k: container[k]["httpGet"] for k in container if k.endswith("Probe")},
            "security": (pod["securityContext"], container["securityContext"]),
            "mounts": sorted(m["mountPath"] for m in container["volumeMounts"]),
            "grace": pod["terminationGracePeriodSeconds"],
            "env": sorted(e["name"] for e in container["env"]),
            "resources": container["resources"],
        }

    for role in DEPLOYED:
        from_helm = contract(by_name(helm_docs, "Deployment", f"mesh-dictamesh-{role}"))
        from_kustomize = contract(by_name(kustomize_docs, "Deployment", f"dictamesh-{role}"))
        assert from_helm == from_kustomize, role
