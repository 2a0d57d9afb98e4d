"""The container image (``Dockerfile``): its properties read from the file, and its build
run for real without Docker — the builder's own ``RUN`` lines make the wheel and the venv,
and the node starts from that venv with the image's ``ENV``, ``ENTRYPOINT`` and ``CMD``
until its ``HEALTHCHECK`` passes (docs/deploy.md, "Container image")."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from dictamesh.core.settings import DictaMeshSettings
from tests.deploy.dockerfile_model import (
    DOCKERIGNORE,
    ROOT,
    DockerIgnore,
    FakeRoot,
    Instruction,
    Stage,
    builder_and_final,
    context_files,
    copy_into,
    make_context,
    replay_builder,
)

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
EXTRAS = set(PYPROJECT["project"]["optional-dependencies"])
BUILD_TOOLS = re.compile(
    r"\b(apt-get|apt|apk|gcc|g\+\+|cc|make|build-essential|hatch|hatchling|pip\s+wheel)\b"
)


@pytest.fixture(scope="module")
def stages() -> tuple[Stage, Stage]:
    return builder_and_final()


def _healthcheck(final: Stage) -> tuple[dict[str, str], list[str]]:
    value = final.one("HEALTHCHECK").value
    head, sep, command = value.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {value}"
    options = dict(opt[2:].split("=", 1) for opt in head.split())
    return options, Instruction("CMD", command).exec_form()


def _volumes(final: Stage) -> list[str]:
    out: list[str] = []
    for volume in final.all("VOLUME"):
        out += Instruction("VOLUME", volume.value).exec_form()
    return out


# --- the file ----------------------------------------------------------------------------------


def test_multi_stage_on_one_slim_python_311_base(stages: tuple[Stage, Stage]) -> None:
    builder, final = stages
    for stage in (builder, final):
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", stage.base), stage.base
    # the venv's python links to the base image's interpreter: one base for both
    assert builder.base == final.base


def test_extras_come_from_a_build_argument_naming_pyproject_extras(
    stages: tuple[Stage, Stage],
) -> None:
    builder, _ = stages
    default = builder.arg_defaults()["EXTRAS"]
    assert default == "all"
    assert set(default.split(",")) <= EXTRAS
    installs = [r.args for r in builder.all("RUN") if "pip" in r.args and "install" in r.args]
    assert any("$EXTRAS" in run for run in installs), installs
    # plugins beside it, none by default
    assert builder.arg_defaults()["PACKAGES"] == ""
    assert any("$PACKAGES" in run for run in installs), installs


def test_the_final_stage_copies_only_the_venv_and_has_no_build_tools(
    stages: tuple[Stage, Stage],
) -> None:
    builder, final = stages
    venv = builder.env()["VENV"]
    copies = final.all("COPY")
    from_builder = [c for c in copies if c.flags.get("from") == "builder"]
    assert len(from_builder) == 1
    source, destination = from_builder[0].args.split()
    # a venv is not relocatable (absolute shebangs): same path in both stages
    assert source == destination == venv
    for copy in copies:
        if copy not in from_builder:
            *sources, _ = copy.args.split()
            assert all(s.startswith("deploy/image/") for s in sources), copy.value
    for run in final.all("RUN"):
        # nothing is installed; the base image's installers are removed
        removed = re.findall(r"pip uninstall [^&]*", run.args)
        assert not BUILD_TOOLS.search(re.sub(r"pip uninstall [^&]*", "", run.args)), run.args
        assert re.search(r"\binstall\b(?! -d)", re.sub(r"pip uninstall", "", run.args)) is None
        if removed:
            assert {"pip", "setuptools", "wheel"} <= set(removed[0].split()), removed
    assert any("pip uninstall" in r.args for r in final.all("RUN"))
    # the builder, by contrast, builds the wheel (hatchling in pip's isolated build env)
    assert any("pip wheel" in r.args for r in builder.all("RUN"))


def test_runs_as_a_fixed_non_root_user(stages: tuple[Stage, Stage]) -> None:
    _, final = stages
    user = final.all("USER")[-1].args
    uid, _, gid = user.partition(":")
    assert uid == gid == "10001"
    (create,) = [r.args for r in final.all("RUN") if "useradd" in r.args]
    assert "--uid 10001" in create
    assert "--gid 10001" in create


def test_state_lives_in_the_one_writable_volume(stages: tuple[Stage, Stage]) -> None:
    _, final = stages
    env = final.env()
    state = env["DICTAMESH_STATE_DIR"]
    workdir = final.all("WORKDIR")[-1].args
    assert _volumes(final) == [state]
    # relative paths of mesh.yaml (bus.path, a SQLite catalog URL) resolve there too
    assert workdir == state
    assert env["HOME"] == state
    (create,) = [r.args for r in final.all("RUN") if "useradd" in r.args]
    assert f"-o 10001 -g 10001 -m 0750 {state}" in create


def test_serves_on_the_exposed_port_and_checks_its_health_with_the_stdlib(
    stages: tuple[Stage, Stage],
) -> None:
    _, final = stages
    env = final.env()
    assert env["DICTAMESH_API__HOST"] == "0.0.0.0"
    assert final.one("EXPOSE").args == env["DICTAMESH_API__PORT"] == "8000"
    options, command = _healthcheck(final)
    assert set(options) >= {"interval", "timeout", "start-period", "retries"}
    assert command[:2] == ["python", "-c"]
    assert "/health" in command[2]
    assert "DICTAMESH_API__PORT" in command[2]
    assert not re.search(r"\b(curl|wget)\b", command[2])


def test_entrypoint_and_command(stages: tuple[Stage, Stage]) -> None:
    _, final = stages
    assert final.one("ENTRYPOINT").exec_form() == ["dictamesh"]
    assert final.one("CMD").exec_form() == ["serve", "-c", "/etc/dictamesh/mesh.yaml"]
    copied = {c.args.split()[-1]: c.args.split()[0] for c in final.all("COPY")}
    source = copied["/etc/dictamesh/mesh.yaml"]
    # the image's default config is a valid embedded node
    assert DictaMeshSettings.from_yaml(ROOT / source).bus.backend == "embedded"


def test_oci_labels(stages: tuple[Stage, Stage]) -> None:
    _, final = stages
    labels: dict[str, str] = {}
    for label in final.all("LABEL"):
        labels.update(label.pairs())
    prefix = "org.opencontainers.image."
    for key in ("title", "description", "source", "licenses", "version", "revision"):
        assert labels.get(prefix + key), key
    assert labels[prefix + "licenses"] == PYPROJECT["project"]["license"]
    assert labels[prefix + "version"] == "${VERSION}"
    assert "VERSION" in final.arg_defaults()


def test_builder_run_lines_use_env_paths_not_literal_ones(stages: tuple[Stage, Stage]) -> None:
    """The replay below maps paths through ENV; a literal one would escape to the host."""
    builder, _ = stages
    for run in builder.all("RUN"):
        assert not re.search(r"(?<![\w$}])/(opt|src|tmp|var|etc|usr)/", run.args), run.args


# --- the build context -------------------------------------------------------------------------


def test_dockerignore_rules_work_like_dockers() -> None:
    rules = DockerIgnore.parse("*\n!src\n!deploy/image\n**/__pycache__\n**/*.py[co]\n")
    assert rules.ignored(".venv/bin/python")
    assert rules.ignored(".env")
    assert rules.ignored("deploy/helm/Chart.yaml")
    assert not rules.ignored("src/dictamesh/node.py")
    assert not rules.ignored("deploy/image/mesh.yaml")
    assert rules.ignored("src/dictamesh/__pycache__/node.cpython-311.pyc")
    assert rules.ignored("src/dictamesh/x.pyc")
    assert rules.may_reinclude_below("deploy")
    assert not rules.may_reinclude_below("tests")


def test_the_context_has_every_copied_file_and_no_local_state(
    stages: tuple[Stage, Stage],
) -> None:
    files = set(context_files())
    assert "pyproject.toml" in files
    assert "src/dictamesh/__init__.py" in files
    for secret_or_local in (".env", ".git", ".venv", ".services", ".cache", "tests", "docs"):
        assert not any(f == secret_or_local or f.startswith(secret_or_local + "/") for f in files)
    rules = DockerIgnore.parse(DOCKERIGNORE.read_text(encoding="utf-8"))
    for stage in stages:
        for copy in stage.all("COPY"):
            if "from" in copy.flags:
                continue
            for source in copy.args.split()[:-1]:
                assert not rules.ignored(source), f"COPY {source} is excluded by .dockerignore"
                assert (ROOT / source).exists(), source


# --- the build, for real -----------------------------------------------------------------------


@dataclass
class BuiltImage:
    """The builder's venv and the final stage's filesystem, under a fake root."""

    fake: FakeRoot
    final: Stage
    venv: Path
    wheel: Path
    env: dict[str, str]  # the final stage's ENV over the test's environment
    workdir: Path

    def run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), env=self.env, cwd=self.workdir, capture_output=True, text=True, **kwargs
        )


@pytest.fixture(scope="module")
def image(stages: tuple[Stage, Stage], tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    """The builder's RUN lines on a clean copy of the context, EXTRAS=all (a few minutes on
    the first run; with pip's download cache warm, about a minute)."""
    builder, final = stages
    tmp = tmp_path_factory.mktemp("image")
    fake = FakeRoot(tmp / "root")
    context = make_context(tmp / "context")
    # the base image's python and pip: a venv of the interpreter running the tests
    base = tmp / "base-python"
    subprocess.run([sys._base_executable, "-m", "venv", str(base)], check=True, timeout=120)
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("DICTAMESH_", "VIRTUAL_ENV"))
    }
    environ.pop("PYTHONPATH", None)
    environ["PATH"] = f"{base / 'bin'}:{environ.get('PATH', '/usr/bin:/bin')}"
    # pip's own download cache (~/.cache/pip, or PIP_CACHE_DIR), as the Dockerfile's cache
    # mount: it outlives fresh clones, so CI downloads the extras once
    environ.pop("PIP_NO_CACHE_DIR", None)

    build_env = replay_builder(builder, fake, context, environ)
    wheels = list(Path(build_env["WHEELS"]).glob("dictamesh-*.whl"))
    assert len(wheels) == 1, wheels
    for copy in final.all("COPY"):  # --from=builder: the same path, already in place
        if "from" not in copy.flags:
            copy_into(fake, context, "/", copy)
    workdir = fake.host(final.all("WORKDIR")[-1].args)
    workdir.mkdir(parents=True)
    return BuiltImage(
        fake, final, Path(build_env["VENV"]), wheels[0], fake.stage_env(final, environ), workdir
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """A child process whose output goes to a file (a pipe nobody reads could fill up)."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=out)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def wait_http(self, url: str, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while True:
            code = self.popen.poll()
            assert code is None, f"exited {code} before {url} answered:\n{self.output()}"
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    assert answer.status == 200
                    return
            except OSError:
                assert time.monotonic() < deadline, f"no {url} in {seconds} s:\n{self.output()}"
                time.sleep(0.5)

    def stop(self) -> None:
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


@pytest.mark.slow
def test_the_wheel_and_venv_have_the_extras_and_no_build_backend(image: BuiltImage) -> None:
    assert image.wheel.name.startswith(f"dictamesh-{PYPROJECT['project']['version']}-")
    listed = image.run(
        str(image.venv / "bin" / "python"),
        "-c",
        "import importlib.metadata as m; print(*{d.metadata['Name'].lower() for d in"
        " m.distributions()})",
    )
    installed = set(listed.stdout.split())
    assert {"dictamesh", "asyncpg", "aiokafka", "redis", "opentelemetry-sdk"} <= installed
    assert {"aiosmtplib", "openlineage-python", "cloudevents", "avro"} <= installed
    # hatchling ran in pip's isolated build environment; the venv has no installer at all
    assert not installed & {"hatchling", "pip", "setuptools", "wheel"}, installed
    assert image.env["PATH"].startswith(f"{image.venv / 'bin'}:")
    version = image.run(*image.final.one("ENTRYPOINT").exec_form(), "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"dictamesh {PYPROJECT['project']['version']}"


def _serve_and_check_health(image: BuiltImage, config: str | None) -> None:
    """ENTRYPOINT + CMD (its config path mapped, or ``config``) until /health answers; the
    HEALTHCHECK passes while the node serves, fails once it stopped."""
    port = _free_port()
    env = {**image.env, "DICTAMESH_API__HOST": "127.0.0.1", "DICTAMESH_API__PORT": str(port)}
    command = [*image.final.one("ENTRYPOINT").exec_form(), *image.final.one("CMD").exec_form()]
    command = [
        (config or str(image.fake.host(a))) if a == "/etc/dictamesh/mesh.yaml" else a
        for a in command
    ]
    _, healthcheck = _healthcheck(image.final)
    node = Process(command, env, image.workdir, image.workdir.parent / f"node-{port}.log")
    try:
        node.wait_http(f"http://127.0.0.1:{port}/health")
        assert subprocess.run(healthcheck, env=env, cwd=image.workdir, timeout=30).returncode == 0
        # state went to the volume (the working directory), relative paths included
        state = Path(env["DICTAMESH_STATE_DIR"])
        assert state == image.workdir
        assert {"bus.sqlite3", "changes.sqlite3"} <= {p.name for p in state.iterdir()}
    finally:
        node.stop()
    stopped = subprocess.run(healthcheck, env=env, cwd=image.workdir, capture_output=True)
    assert stopped.returncode != 0


@pytest.mark.slow
def test_the_image_serves_a_mounted_config_and_its_healthcheck_passes(
    image: BuiltImage, tmp_path: Path
) -> None:
    """As compose runs it: the sample sources from the image (entrypoint `python -m
    dictamesh.sources`), a node with their adapters from a mounted mesh.yaml."""
    ports = [_free_port() for _ in range(4)]
    sources = Process(
        ["python", "-m", "dictamesh.sources", "--host", "127.0.0.1", "--ports", *map(str, ports)],
        image.env,
        image.workdir,
        tmp_path / "sources.log",
    )
    try:
        for port in ports:
            sources.wait_http(f"http://127.0.0.1:{port}/_admin/stats")
        kinds = ("customers_directus", "products_rest", "invoices_ecommerce", "payments_gateway")
        keys = ("directus-demo-token", "products-demo-key", "shop-demo-token", "payments-demo-key")
        config = {
            "node_name": "image-test",
            "bus": {"path": "bus.sqlite3"},
            "catalog": {"url": "sqlite+aiosqlite:///catalog.sqlite3"},
            "governance": {"masking_key": "image-test"},
            "adapters": [
                {"name": k, "kind": k, "base_url": f"http://127.0.0.1:{p}", "api_key": key}
                for k, p, key in zip(kinds, ports, keys, strict=True)
            ],
        }
        mounted = tmp_path / "mesh.yaml"
        mounted.write_text(yaml.safe_dump(config), encoding="utf-8")
        _serve_and_check_health(image, str(mounted))
    finally:
        sources.stop()


@pytest.mark.slow
def test_the_image_default_command_serves_health(image: BuiltImage) -> None:
    """`docker run ghcr.io/dictamesh/dictamesh` with no config mounted."""
    _serve_and_check_health(image, None)


def test_the_default_config_paths_are_relative_to_the_volume() -> None:
    raw = yaml.safe_load((ROOT / "deploy/image/mesh.yaml").read_text(encoding="utf-8"))
    assert not PurePosixPath(raw["bus"]["path"]).is_absolute()
    assert raw["catalog"]["url"].startswith("sqlite+aiosqlite:///")
    assert not raw["catalog"]["url"].startswith("sqlite+aiosqlite:////")
