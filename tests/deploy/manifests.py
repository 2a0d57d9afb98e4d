"""Checks shared by the Helm chart's and the kustomize overlays' tests: every rendered object
valid against the Kubernetes schemas (kubernetes-validate, offline) or the vendored
Prometheus Operator CRD schemas, and what a DictaMesh node's pod must carry."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel

from dictamesh.core.config_schema import settings_json_schema
from dictamesh.core.settings import DictaMeshSettings

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).parent / "schemas"
ALERTS = ROOT / "deploy" / "observability" / "prometheus-alerts.yml"
#: the Kubernetes release whose schemas kubernetes-validate bundles (its version)
KUBERNETES_VERSION = "1.37.0"
#: ``dictamesh serve --role`` values (docs/scale-out.md, "Roles")
ROLES = frozenset({"api", "capture", "ingest", "router", "saga", "notify"})
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_v1_servicemonitor.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_v1_prometheusrule.json",
}


def load_documents(text: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML stream (empty documents dropped)."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _closed(schema: Any) -> Any:
    """A CRD schema that refuses unknown fields, as the API server prunes/rejects them
    (``kubectl apply --validate=strict``); the CRDs leave ``additionalProperties`` open."""
    if isinstance(schema, dict):
        out = {key: _closed(value) for key, value in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


@cache
def _crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMAS / CRD_SCHEMAS[(api_version, kind)]).read_text())
    schema = _closed(schema)
    # metadata is an ObjectMeta the CRD schema leaves untyped: allow it as Kubernetes does
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def validate_object(doc: dict[str, Any]) -> None:
    """Fail the test when ``doc`` is not a valid object of its kind (unknown fields too)."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    name = f"{key[1]}/{doc.get('metadata', {}).get('name')}"
    if key in CRD_SCHEMAS:
        errors = sorted(_crd_validator(*key).iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            pytest.fail(f"{name}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors))
        return
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{name}: {exc.message} at {list(exc.path)}")


def validate_all(docs: Iterable[dict[str, Any]]) -> None:
    for doc in docs:
        validate_object(doc)


def of_kind(docs: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def by_name(docs: Iterable[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [doc for doc in of_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def role_of(deployment: dict[str, Any]) -> str:
    """The ``--role`` a Deployment's node runs (checked against the known roles)."""
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:3] == ["serve", "-c", "/etc/dictamesh/mesh.yaml"], args
    roles = [args[i + 1] for i, arg in enumerate(args) if arg == "--role"]
    assert len(roles) == 1, args
    assert roles[0] in ROLES, f"--role {roles[0]} is not one of {sorted(ROLES)}"
    _parse_with_node(roles[0])
    return roles[0]


def _parse_with_node(role: str) -> None:
    """``parse_roles`` of the node agrees once it knows every role (the roles branch)."""
    from dictamesh.node import NodeRole, parse_roles

    if {r.value for r in NodeRole} >= ROLES:
        assert {r.value for r in parse_roles([role])} == {role}


def _env_path(name: str) -> list[str]:
    return name.removeprefix("DICTAMESH_").lower().split("__")


def assert_setting_exists(name: str) -> None:
    """A ``DICTAMESH_A__B`` variable names a real setting (core/settings.py)."""
    model: Any = DictaMeshSettings
    for part in _env_path(name):
        assert isinstance(model, type), name
        assert issubclass(model, BaseModel), name
        assert part in model.model_fields, f"{name}: no setting {part!r}"
        annotation = model.model_fields[part].annotation
        model = next(
            (a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)),
            annotation,
        )


def check_node_deployment(deployment: dict[str, Any], mesh: dict[str, Any]) -> None:
    """What every node's pod needs: hardened security context, probes on /health and
    /ready, resources, a unique node name, the state dir on an emptyDir, a grace period that
    covers the shutdown delay and timeout, settings that exist."""
    name = deployment["metadata"]["name"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True, name
    assert psc["runAsUser"] == 10001, name
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}, name
    csc = container["securityContext"]
    assert csc["readOnlyRootFilesystem"] is True, name
    assert csc["allowPrivilegeEscalation"] is False, name
    assert csc["capabilities"]["drop"] == ["ALL"], name
    assert csc.get("privileged") is not True, name

    port = mesh["api"]["port"]
    assert container["ports"][0]["containerPort"] == port, name
    assert mesh["api"]["host"] == "0.0.0.0", name
    probes = {
        "startupProbe": "/health",
        "livenessProbe": "/health",
        "readinessProbe": "/ready",
    }
    for probe, path in probes.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, (name, probe)
        assert get["port"] in ("http", port), (name, probe)

    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]), name
    assert "memory" in resources["limits"], name

    env = {e["name"]: e for e in container.get("env", [])}
    assert env["DICTAMESH_NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    for variable in env:
        if variable.startswith("DICTAMESH_"):
            assert_setting_exists(variable)

    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    state = mounts[str(mesh["state_dir"])]
    assert "emptyDir" in volumes[state], name
    assert "emptyDir" in volumes[mounts["/tmp"]], name
    assert "configMap" in volumes[mounts["/etc/dictamesh"]], name

    delay = mesh["api"].get("shutdown_delay_seconds", 0)
    timeout = mesh["api"]["timeout_graceful_shutdown"]
    assert pod["terminationGracePeriodSeconds"] > delay + timeout, name
    role_of(deployment)


def secret_placeholders(
    deployment: dict[str, Any], secrets: Iterable[str] | None = None
) -> dict[str, str]:
    """The DICTAMESH_* variables a node's pod gets from Secrets, with stand-in values (long
    enough for any length rule), and its node name: what the node loads mesh.yaml under.
    ``secrets``: the Secrets that exist (None: all); an optional reference to another one
    sets nothing, as in the cluster."""
    existing = None if secrets is None else set(secrets)
    values = {"DICTAMESH_NODE_NAME": "mesh-dictamesh-api-7d9f-abcde"}
    for env in deployment["spec"]["template"]["spec"]["containers"][0].get("env", []):
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref is None:
            continue
        if existing is not None and ref["name"] not in existing:
            assert ref.get("optional") is True, f"{env['name']}: Secret {ref['name']} missing"
            continue
        values[env["name"]] = "stand-in-secret-value-" + "x" * 24
    return values


def check_mesh_yaml(
    text: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The rendered mesh.yaml validates against ``dictamesh config schema`` and loads with
    ``DictaMeshSettings`` under ``environment`` (what the pod sets); returns it parsed."""
    mesh = yaml.safe_load(text)
    jsonschema.validate(mesh, settings_json_schema())
    path = tmp_path / "mesh.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # no developer .env is read
    for variable, value in (environment or {}).items():
        monkeypatch.setenv(variable, value)
    settings = DictaMeshSettings.from_yaml(path)
    assert settings.api.port == mesh["api"]["port"]
    if environment and "DICTAMESH_NODE_NAME" in environment:
        assert settings.node_name == environment["DICTAMESH_NODE_NAME"]
    assert str(settings.state_dir) == mesh["state_dir"]
    return dict(mesh)


def alert_groups() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    assert groups, ALERTS
    return list(groups)
