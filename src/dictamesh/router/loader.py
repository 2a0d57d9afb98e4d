"""Where a node's rules come from, and reloading them when their file changes.

Rules are either inline (``router.rules`` in ``mesh.yaml``) or in ``router.rules_file``.
:class:`RulesLoader` reads and compiles them (:func:`~dictamesh.router.rules.compile_rules`:
a bad set is a :class:`~dictamesh.router.errors.RouterConfigError` naming the file and
line). :meth:`RulesLoader.poll` looks at the file's modification time and size, then its
content hash: an unchanged file costs one ``stat``; a changed one is compiled completely
before it replaces the running set, and a bad one is refused (logged, counted) while the
old set keeps running.

Example::

    loader = RulesLoader(settings, codec=codec, masker=masker, sources=topics)
    rules = loader.load()              # RouterConfigError when bad
    new = loader.poll()                # None: unchanged (or refused: see last_error)
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pydantic

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.router_config import RouterRulesFile
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.core.yaml_env import load_yaml_file
from dictamesh.governance.masking import Masker
from dictamesh.router.codec import RouterCodec
from dictamesh.router.errors import RouterConfigError
from dictamesh.router.rules import RuleSet, compile_rules, problems_of

__all__ = ["RulesLoader"]

log = logging.getLogger("dictamesh.router")


@dataclass(frozen=True, slots=True)
class _Seen:
    mtime_ns: int
    size: int
    digest: str


class RulesLoader:
    def __init__(
        self,
        settings: DictaMeshSettings,
        *,
        codec: RouterCodec,
        masker: Masker,
        sources: list[str] | None = None,
        on_predicate_error: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.masker = masker
        self.sources = list(sources or [])
        self.on_predicate_error = on_predicate_error
        self.path = self._resolve(settings.router.rules_file)
        #: accepted loads so far (the rule-set version)
        self.version = 0
        #: refused reloads so far
        self.failures = 0
        #: why the latest reload was refused (``None`` after an accepted one)
        self.last_error: str | None = None
        self._seen: _Seen | None = None

    def _resolve(self, path: Path | None) -> Path | None:
        # relative to mesh.yaml, as a user reading the file expects
        if path is None or path.is_absolute() or self.settings.source_file is None:
            return path
        return self.settings.source_file.parent / path

    def load(self) -> RuleSet:
        """The current rules, compiled (raises :class:`RouterConfigError`)."""
        if self.path is None:
            rules = compile_rules(
                self.settings.router.rules,
                codec=self.codec,
                masker=self.masker,
                origin=self.settings.source_file,
                loc=("router", "rules"),
                sources=self.sources,
                on_predicate_error=self.on_predicate_error,
            )
        else:
            seen, rules = self._read_file(self.path)
            self._seen = seen
        return self._accepted(rules)

    def poll(self) -> RuleSet | None:
        """A new rule set when the file changed and the change is valid; ``None`` when it
        did not change, or when the new content was refused (:attr:`last_error`)."""
        if self.path is None:
            return None
        try:
            stat = self.path.stat()
        except OSError as exc:
            self._refused(f"{self.path}: cannot be read: {exc.strerror or exc}", None)
            return None
        if self._seen is not None and (stat.st_mtime_ns, stat.st_size) == (
            self._seen.mtime_ns,
            self._seen.size,
        ):
            return None
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            self._refused(f"{self.path}: cannot be read: {exc.strerror or exc}", None)
            return None
        digest = hashlib.sha256(data).hexdigest()
        seen = _Seen(stat.st_mtime_ns, stat.st_size, digest)
        if self._seen is not None and digest == self._seen.digest:
            self._seen = seen  # touched, not changed
            return None
        try:
            _, rules = self._read_file(self.path, digest=digest)
        except ConfigurationError as exc:
            self._refused(exc.message, seen)
            return None
        self._seen = seen
        return self._accepted(rules)

    def _read_file(self, path: Path, digest: str | None = None) -> tuple[_Seen, RuleSet]:
        try:
            stat = path.stat()
            data = path.read_bytes()
        except OSError as exc:
            raise RouterConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
        digest = digest or hashlib.sha256(data).hexdigest()
        raw = load_yaml_file(path, dict(os.environ))  # ConfigurationError: YAML, ${VAR}
        try:
            parsed = RouterRulesFile.model_validate(raw)
        except pydantic.ValidationError as exc:
            raise RouterConfigError(problems_of(exc, path, ())) from exc
        rules = compile_rules(
            parsed.rules,
            codec=self.codec,
            masker=self.masker,
            origin=path,
            loc=("rules",),
            sources=self.sources,
            digest=digest,
            on_predicate_error=self.on_predicate_error,
        )
        return _Seen(stat.st_mtime_ns, stat.st_size, digest), rules

    def _accepted(self, rules: RuleSet) -> RuleSet:
        self.version += 1
        rules.version = self.version
        self.last_error = None
        return rules

    def _refused(self, reason: str, seen: _Seen | None) -> None:
        if seen is not None:
            self._seen = seen  # the same bad content is refused once, not at every poll
        if reason != self.last_error:  # an unreadable file: logged and counted once
            log.error("router rules refused, the previous rules keep running: %s", reason)
            self.failures += 1
        self.last_error = reason
