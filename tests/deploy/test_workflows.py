"""The code host's pipeline (``.github/``): the workflows pass ``actionlint`` (built pinned by
scripts/deploy-tools.sh), CI runs what ``.ci/run`` runs, a tag builds, scans and releases,
every action is pinned to a commit, and Dependabot watches directories that exist
(docs/deploy.md, "CI/CD")."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.dockerfile_model import ROOT

GITHUB = ROOT / ".github"
WORKFLOWS = GITHUB / "workflows"
SCHEMAS = Path(__file__).parent / "schemas"
IMAGE = "ghcr.io/dictamesh/dictamesh"
_PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def _workflow(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True
    loaded["on"] = loaded.pop(True, loaded.get("on"))
    return loaded


def _steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = workflow["jobs"][job]["steps"]
    return steps


def _uses(steps: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [s for s in steps if s.get("uses", "").split("@")[0] == action]


def _runs(steps: list[dict[str, Any]]) -> str:
    return "\n".join(s.get("run", "") for s in steps)


def _actionlint(
    actionlint: Path, *files: Path, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(actionlint), "-no-color", *map(str, files)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_workflows_pass_actionlint(actionlint: Path) -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"ci.yml", "release.yml"}
    done = _actionlint(actionlint, *files)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_does_catch_a_broken_workflow(actionlint: Path, tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    text = (WORKFLOWS / "release.yml").read_text(encoding="utf-8")
    broken.write_text(text.replace("needs: [dist, image]", "needs: [dist, imaeg]"), "utf-8")
    done = _actionlint(actionlint, broken, cwd=tmp_path)
    assert done.returncode != 0
    assert "imaeg" in done.stdout


def test_every_action_is_pinned_to_a_commit_with_its_version_named() -> None:
    seen = 0
    for path in WORKFLOWS.glob("*.yml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            found = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)(?:\s+#\s*(\S+))?", line)
            if not found:
                continue
            reference, comment = found.groups()
            assert _PINNED.match(reference), f"{path.name}: {reference} is not pinned to a commit"
            assert comment, f"{path.name}: {reference} needs a `# vX.Y.Z` comment"
            assert re.fullmatch(r"v\d+\.\d+\.\d+", comment), (path.name, reference, comment)
            seen += 1
    assert seen >= 15


# --- ci.yml -------------------------------------------------------------------------------


def test_ci_runs_the_steps_of_ci_run() -> None:
    ci = _workflow("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    test = ci["jobs"]["test"]
    assert test["env"]["CI"] == "true"  # missing servers/tools fail instead of skipping
    steps = _steps(ci, "test")
    commands = _runs(steps)
    ci_run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    targets = [m for line in ci_run.splitlines() for m in re.findall(r"^make (\S+)$", line)]
    assert targets == ["install", "lint", "typecheck", "test"]
    assert "make install" in commands
    assert "make lint typecheck test" in commands
    # services before the suite, as `make test` expects them
    assert commands.index("bash scripts/services.sh up") < commands.index("make lint")


def test_ci_sets_up_every_toolchain_the_suite_needs() -> None:
    steps = _steps(_workflow("ci.yml"), "test")
    (python,) = _uses(steps, "actions/setup-python")
    requires = re.search(r'requires-python = ">=(\d+\.\d+)"', (ROOT / "pyproject.toml").read_text())
    assert requires
    assert python["with"]["python-version"] == requires.group(1)
    (java,) = _uses(steps, "actions/setup-java")
    assert java["with"]["java-version"] == "17"
    assert java["with"]["cache"] == "maven"
    assert (ROOT / java["with"]["cache-dependency-path"]).is_file()
    (node,) = _uses(steps, "actions/setup-node")
    assert node["with"]["node-version"] == "20"
    assert _uses(steps, "actions/setup-go"), "helm/actionlint are built with go install"
    # the deploy tools' cache is the folder tests/deploy/conftest.py looks in
    (cache,) = _uses(steps, "actions/cache")
    assert ".cache/tools" in cache["with"]["path"]


def test_ci_builds_the_image_and_starts_the_compose_stack() -> None:
    steps = _steps(_workflow("ci.yml"), "image")
    (build,) = _uses(steps, "docker/build-push-action")
    assert build["with"]["load"] is True
    assert "EXTRAS=" in build["with"]["build-args"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert build["with"]["tags"] == compose["services"]["api"]["image"]
    commands = _runs(steps)
    assert "docker compose config --quiet" in commands
    assert "docker compose up -d" in commands
    assert "http://127.0.0.1:8000/health" in commands
    assert "docker compose down -v" in commands


# --- release.yml --------------------------------------------------------------------------


def test_a_version_tag_builds_the_wheel_sdist_and_image_scans_and_releases() -> None:
    release = _workflow("release.yml")
    assert release["on"] == {"push": {"tags": ["v*"]}}
    assert release["env"]["IMAGE"] == IMAGE

    dist = _runs(_steps(release, "dist"))
    assert "python -m build --outdir dist" in dist
    assert "GITHUB_REF_NAME" in dist  # the tag must equal pyproject's version

    image = _steps(release, "image")
    builds = _uses(image, "docker/build-push-action")
    (scan,) = _uses(image, "aquasecurity/trivy-action")
    assert len(builds) == 2
    scanned, pushed = builds
    # scanned before anything is pushed, and a HIGH/CRITICAL finding fails the job
    assert scanned["with"].get("push") is not True
    assert scanned["with"]["load"] is True
    assert image.index(scanned) < image.index(scan) < image.index(pushed)
    assert pushed["with"]["push"] is True
    assert scan["with"]["image-ref"] == scanned["with"]["tags"]
    assert set(scan["with"]["severity"].split(",")) == {"HIGH", "CRITICAL"}
    assert str(scan["with"]["exit-code"]) == "1"
    for build in builds:
        args = dict(line.split("=", 1) for line in build["with"]["build-args"].splitlines())
        assert args["EXTRAS"] == "all"
        assert "VERSION" in args
    assert release["jobs"]["image"]["permissions"]["packages"] == "write"
    (login,) = _uses(image, "docker/login-action")
    assert login["with"]["registry"] == "ghcr.io"

    publish = release["jobs"]["release"]
    assert set(publish["needs"]) == {"dist", "image"}
    assert publish["permissions"]["contents"] == "write"
    assert 'gh release create "$GITHUB_REF_NAME" dist/*' in _runs(publish["steps"])


def test_workflows_default_to_read_only_tokens() -> None:
    for name in ("ci.yml", "release.yml"):
        assert _workflow(name)["permissions"] == {"contents": "read"}, name


# --- dependabot ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dependabot() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((GITHUB / "dependabot.yml").read_text("utf-8"))
    return loaded


def test_dependabot_config_is_valid(dependabot: dict[str, Any]) -> None:
    schema = json.loads((SCHEMAS / "dependabot-2.0.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    problems = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(dependabot)]
    assert not problems, problems
    assert not validator.is_valid({"version": 2, "updates": [{"package-ecosystem": "pip"}]})


def _directories(update: dict[str, Any]) -> list[str]:
    return list(update.get("directories") or [update["directory"]])


def test_dependabot_watches_every_ecosystem_in_directories_that_exist(
    dependabot: dict[str, Any],
) -> None:
    by_ecosystem: dict[str, list[str]] = {}
    for update in dependabot["updates"]:
        for directory in _directories(update):
            assert (ROOT / directory.lstrip("/")).is_dir(), directory
            by_ecosystem.setdefault(update["package-ecosystem"], []).append(directory)
    assert {"pip", "npm", "docker", "github-actions"} <= set(by_ecosystem)
    manifests = {
        "pip": "pyproject.toml",
        "npm": "package.json",
        "docker": "Dockerfile",
        "docker-compose": "docker-compose.yml",
    }
    for ecosystem, manifest in manifests.items():
        for directory in by_ecosystem.get(ecosystem, []):
            assert (ROOT / directory.lstrip("/") / manifest).is_file(), (ecosystem, directory)
    # every npm project of the test fixtures, and nothing else
    npm = {
        "/" + p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "tests").glob("*/package.json")
    }
    assert set(by_ecosystem["npm"]) == npm


def test_actionlint_binary_is_the_pinned_one(actionlint: Path) -> None:
    pinned = re.search(
        r"^ACTIONLINT_VERSION=(\S+)$",
        (ROOT / "scripts" / "deploy-tools.sh").read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    assert pinned
    done = subprocess.run([str(actionlint), "-version"], capture_output=True, text=True)
    assert done.stdout.splitlines()[0] == pinned.group(1)
