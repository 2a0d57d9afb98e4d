"""The shipped Dockerfile read as data (``dockerfile-parse``), its build context (the
``.dockerignore`` rules), and the builder stage replayed outside Docker.

There is no Docker engine where the tests run, so ``replay`` does what the engine would
with the builder's instructions: ``COPY`` from the context, ``ENV``/``ARG`` into the
environment, each ``RUN`` through ``/bin/sh -c`` as written. Absolute container paths live
under a fake root directory (``/opt/dictamesh`` → ``<root>/opt/dictamesh``); that is why
the Dockerfile keeps the paths its ``RUN`` lines use in ``ENV`` variables.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

_FLAGS = re.compile(r"^((?:--\S+\s+)*)")
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class Instruction:
    name: str
    value: str

    @property
    def flags(self) -> dict[str, str]:
        """``--mount=...``, ``--from=...``: the options before the arguments."""
        found = _FLAGS.match(self.value)
        out: dict[str, str] = {}
        for flag in (found.group(1) if found else "").split():
            key, _, val = flag[2:].partition("=")
            out[key] = val
        return out

    @property
    def args(self) -> str:
        """The value without its leading ``--flags``."""
        return _FLAGS.sub("", self.value, count=1).strip()

    def exec_form(self) -> list[str]:
        """The JSON array of ``ENTRYPOINT``/``CMD`` (the shell form is refused)."""
        parsed = json.loads(self.args)
        assert isinstance(parsed, list), f"{self.name} {self.value} is not in exec form"
        return [str(item) for item in parsed]

    def pairs(self) -> dict[str, str]:
        """``KEY=value`` pairs of ``ENV``/``ARG``/``LABEL`` (quotes as the shell reads them)."""
        out: dict[str, str] = {}
        for word in shlex.split(self.args):
            key, sep, val = word.partition("=")
            out[key] = val if sep else ""
        return out


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, name: str) -> list[Instruction]:
        return [i for i in self.instructions if i.name == name]

    def one(self, name: str) -> Instruction:
        found = self.all(name)
        assert len(found) == 1, f"stage {self.name or self.base}: {len(found)} {name} lines"
        return found[0]

    def env(self) -> dict[str, str]:
        """Its ``ENV`` values as written (``$PATH`` left unexpanded)."""
        out: dict[str, str] = {}
        for instruction in self.all("ENV"):
            out.update(instruction.pairs())
        return out

    def arg_defaults(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for instruction in self.all("ARG"):
            out.update(instruction.pairs())
        return out


def stages(path: Path = DOCKERFILE) -> list[Stage]:
    parser = DockerfileParser(path=str(path))
    out: list[Stage] = []
    for item in parser.structure:
        name, value = item["instruction"], item["value"].strip()
        if name == "COMMENT":
            continue
        if name == "FROM":
            words = value.split()
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            out.append(Stage(base=words[0], name=alias))
            continue
        assert out, f"{name} before the first FROM"
        out[-1].instructions.append(Instruction(name, value))
    return out


def builder_and_final(path: Path = DOCKERFILE) -> tuple[Stage, Stage]:
    found = stages(path)
    assert len(found) >= 2, "the Dockerfile is not multi-stage"
    (builder,) = [s for s in found if s.name == "builder"]
    return builder, found[-1]


# --- .dockerignore ---------------------------------------------------------------------------


def _pattern(text: str) -> re.Pattern[str]:
    """Docker's pattern syntax (Go ``filepath.Match`` plus ``**``) as a regex on a path."""
    out, i = "", 0
    text = text.strip("/")
    while i < len(text):
        if text.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif text.startswith("**", i):
            out, i = out + ".*", i + 2
        elif text[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif text[i] == "?":
            out, i = out + "[^/]", i + 1
        elif text[i] == "[":
            end = text.index("]", i)
            out, i = out + text[i : end + 1], end + 1
        else:
            out, i = out + re.escape(text[i]), i + 1
    return re.compile(out)


@dataclass(frozen=True)
class DockerIgnore:
    rules: tuple[tuple[bool, str, re.Pattern[str]], ...]  # (negated, text, regex)

    @classmethod
    def parse(cls, text: str) -> DockerIgnore:
        rules = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            body = line[1:].strip() if negated else line
            rules.append((negated, body.strip("/"), _pattern(body)))
        return cls(tuple(rules))

    def ignored(self, relative: str) -> bool:
        """Whether ``relative`` (a POSIX path in the context) stays out of the build: the
        last rule matching it or one of its parent directories decides, as Docker does."""
        parts = PurePosixPath(relative).parts
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        excluded = False
        for negated, _, regex in self.rules:
            if any(regex.fullmatch(p) for p in prefixes):
                excluded = not negated
        return excluded

    def may_reinclude_below(self, directory: str) -> bool:
        return any(neg and text.startswith(directory + "/") for neg, text, _ in self.rules)


def context_files(root: Path = ROOT) -> Iterator[str]:
    """Every file of the build context Docker would send from ``root``."""
    rules = DockerIgnore.parse(DOCKERIGNORE.read_text(encoding="utf-8"))
    for current, dirs, files in os.walk(root):
        here = Path(current).relative_to(root).as_posix()
        here = "" if here == "." else here + "/"
        dirs[:] = [
            d for d in dirs if not rules.ignored(here + d) or rules.may_reinclude_below(here + d)
        ]
        for name in files:
            if not rules.ignored(here + name):
                yield here + name


def make_context(destination: Path, root: Path = ROOT) -> Path:
    """A clean copy of the build context (only what ``.dockerignore`` lets through)."""
    for relative in context_files(root):
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, target)
    return destination


# --- replaying a stage -----------------------------------------------------------------------


@dataclass
class FakeRoot:
    """Container paths mapped into a directory of the host."""

    root: Path

    def host(self, container_path: str) -> Path:
        assert container_path.startswith("/"), container_path
        return self.root / container_path.lstrip("/")

    def env_value(self, value: str, environ: Mapping[str, str]) -> str:
        """An ``ENV`` value: absolute parts (``:``-separated) mapped, ``$VAR`` expanded."""
        parts = [str(self.host(p)) if p.startswith("/") else p for p in value.split(":")]
        joined = ":".join(parts)
        return _VARIABLE.sub(lambda m: environ.get(m.group(1) or m.group(2), ""), joined)

    def stage_env(self, stage: Stage, environ: Mapping[str, str]) -> dict[str, str]:
        env = dict(environ)
        for key, value in stage.env().items():
            env[key] = self.env_value(value, env)
        return env


def copy_into(fake: FakeRoot, context: Path, workdir: str, instruction: Instruction) -> None:
    """A ``COPY`` from the build context (not ``--from``), with Docker's rules: a directory
    source copies its contents; several sources, or a destination ending in ``/``, go into
    that directory."""
    assert "from" not in instruction.flags, instruction.value
    *sources, destination = shlex.split(instruction.args)
    target = fake.host(str(PurePosixPath(workdir, destination)))
    into_directory = destination.endswith("/") or len(sources) > 1
    for source in sources:
        path = context / source
        assert path.exists(), f"COPY {source}: not in the build context (.dockerignore?)"
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
        elif into_directory:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / path.name)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def replay_builder(
    stage: Stage,
    fake: FakeRoot,
    context: Path,
    environ: Mapping[str, str],
    build_args: Mapping[str, str] | None = None,
    timeout: float = 900.0,
) -> dict[str, str]:
    """Run ``stage`` as the engine would; returns its final environment."""
    env = dict(environ)
    workdir = "/"
    for instruction in stage.instructions:
        if instruction.name == "ARG":
            for key, default in instruction.pairs().items():
                env[key] = (build_args or {}).get(key, default)
        elif instruction.name == "ENV":
            for key, value in instruction.pairs().items():
                env[key] = fake.env_value(value, env)
        elif instruction.name == "WORKDIR":
            workdir = str(PurePosixPath(workdir, instruction.args))
            fake.host(workdir).mkdir(parents=True, exist_ok=True)
        elif instruction.name == "COPY":
            copy_into(fake, context, workdir, instruction)
        elif instruction.name == "RUN":
            done = subprocess.run(
                ["/bin/sh", "-c", instruction.args],
                cwd=fake.host(workdir),
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            assert done.returncode == 0, (
                f"RUN {instruction.args}\nexit {done.returncode}\n{done.stdout[-3000:]}"
                f"\n{done.stderr[-3000:]}"
            )
        else:
            raise AssertionError(f"the builder stage has {instruction.name}: replay it here")
    return env
