"""Compiled router rules: which rules an event fires, in order.

:func:`compile_rules` checks a whole rule set before it may run — predicates compile in
the sandbox, mask strategies exist, target topics are valid mesh topic names, no target is
a topic the rules read (a loop) — and reports every problem at once with its YAML line
(:class:`~dictamesh.router.errors.RouterConfigError`).

Rules evaluate in order and **every** matching rule fires (fan-out across rules) until
one with ``stop: true`` or ``drop: true`` fired. A predicate that fails to evaluate on an
event is a non-match, counted per rule.

Example::

    rules = compile_rules(settings.router.rules, codec=codec, masker=masker,
                          origin=settings.source_file, loc=("router", "rules"))
    for rule in rules.select(event, topic):
        rule.name, rule.targets, rule.drop
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from dictamesh.core.expressions import Predicate, compile_predicate, predicate_problem, sandbox
from dictamesh.core.models import ChangeEvent
from dictamesh.core.router_config import RouteRule
from dictamesh.core.yaml_env import config_problem
from dictamesh.events.topics import TopicSpec
from dictamesh.governance.masking import Masker
from dictamesh.router.codec import RouterCodec
from dictamesh.router.errors import RouterConfigError
from dictamesh.router.transforms import Transform, mask_problem

__all__ = [
    "PREDICATE_NAMES",
    "CompiledRule",
    "RuleSet",
    "changed_fields",
    "compile_rules",
    "predicate_context",
    "problems_of",
    "rules_digest",
]

#: the names a router predicate may use (``docs/router.md``)
PREDICATE_NAMES = frozenset(
    {
        "event",
        "topic",
        "event_type",
        "entity_type",
        "entity_id",
        "before",
        "after",
        "changed_fields",
        "tenant_id",
    }
)

_SANDBOX = sandbox()


def _glob(patterns: Iterable[str]) -> re.Pattern[str] | None:
    patterns = list(patterns)
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def changed_fields(event: ChangeEvent) -> frozenset[str]:
    """What an event changed: its ``changed_fields``; a create or delete changes every
    field it has."""
    if event.changed_fields:
        return frozenset(event.changed_fields)
    return frozenset(event.after or event.before or {})


def predicate_context(event: ChangeEvent, topic: str) -> dict[str, Any]:
    """The names a predicate sees."""
    body = event.model_dump(mode="json")
    return {
        "event": {**body, "topic": topic},
        "topic": topic,
        "event_type": event.event_type.value.lower(),
        "entity_type": event.entity.type,
        "entity_id": event.entity.id,
        "before": body.get("before") or {},
        "after": body.get("after") or {},
        "changed_fields": sorted(changed_fields(event)),
        "tenant_id": event.tenant_id or "default",
    }


@dataclass(slots=True)
class CompiledRule:
    rule: RouteRule
    transform: Transform | None
    topics: re.Pattern[str] | None
    entity_types: re.Pattern[str] | None
    event_types: frozenset[str]
    changed: frozenset[str]
    tenants: frozenset[str]
    predicate: Predicate | None

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def targets(self) -> list[str]:
        return self.rule.to

    @property
    def drop(self) -> bool:
        return self.rule.drop

    @property
    def ends(self) -> bool:
        return self.rule.stop or self.rule.drop

    def reads(self, topic: str) -> bool:
        return self.topics is None or self.topics.match(topic) is not None

    def matches(self, event: ChangeEvent, topic: str, context: _LazyContext) -> bool:
        if self.topics is not None and not self.topics.match(topic):
            return False
        if self.entity_types is not None and not self.entity_types.match(event.entity.type):
            return False
        if self.event_types and event.event_type.value.lower() not in self.event_types:
            return False
        if self.tenants and (event.tenant_id or "default") not in self.tenants:
            return False
        if self.changed and not (self.changed & changed_fields(event)):
            return False
        return self.predicate is None or self.predicate(context.get())


class _LazyContext:
    """The predicate context, built on first use (most rules need none)."""

    __slots__ = ("_event", "_topic", "_value")

    def __init__(self, event: ChangeEvent, topic: str) -> None:
        self._event = event
        self._topic = topic
        self._value: dict[str, Any] | None = None

    def get(self) -> dict[str, Any]:
        if self._value is None:
            self._value = predicate_context(self._event, self._topic)
        return self._value


@dataclass
class RuleSet:
    """A validated rule set; ``version`` counts accepted loads, ``digest`` names the
    content (sha256 of the file or of the rules)."""

    rules: list[CompiledRule]
    digest: str
    origin: str
    version: int = 0
    targets: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.targets = list(dict.fromkeys(t for r in self.rules for t in r.targets))

    def select(self, event: ChangeEvent, topic: str) -> list[CompiledRule]:
        """The rules ``event`` (read from ``topic``) fires, in order."""
        context = _LazyContext(event, topic)
        fired: list[CompiledRule] = []
        for rule in self.rules:
            if rule.matches(event, topic, context):
                fired.append(rule)
                if rule.ends:
                    break
        return fired

    def subscription(self, sources: Sequence[str]) -> list[str]:
        """The topics of ``sources`` some rule reads."""
        return [t for t in sources if any(r.reads(t) for r in self.rules)]

    def predicate_errors(self) -> dict[str, int]:
        return {r.name: r.predicate.errors for r in self.rules if r.predicate is not None}


def rules_digest(rules: Sequence[RouteRule]) -> str:
    text = json.dumps([r.model_dump(mode="json") for r in rules], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def compile_rules(
    rules: Sequence[RouteRule],
    *,
    codec: RouterCodec,
    masker: Masker,
    origin: Path | None = None,
    loc: tuple[str | int, ...] = ("router", "rules"),
    sources: Sequence[str] = (),
    digest: str | None = None,
    on_predicate_error: Callable[[str], None] | None = None,
) -> RuleSet:
    """Compile and check ``rules`` (read from ``origin`` at ``loc``); every problem at once
    as one :class:`RouterConfigError`. ``sources``: the topics the router reads (no
    target may be one of them); ``on_predicate_error(rule)``: a predicate failed."""
    problems: list[str] = []

    def problem(where: tuple[str | int, ...], message: str) -> None:
        problems.append(config_problem(origin, (*loc, *where), message))

    readers = [(_glob(r.match.topics), i) for i, r in enumerate(rules)]
    compiled: list[CompiledRule] = []
    for i, rule in enumerate(rules):
        predicate = None
        if rule.match.predicate is not None:
            found = predicate_problem(_SANDBOX, rule.match.predicate, PREDICATE_NAMES)
            if found is not None:
                problem((i, "match", "predicate"), found)
            else:
                predicate = compile_predicate(
                    _SANDBOX,
                    rule.match.predicate,
                    PREDICATE_NAMES,
                    on_error=_reporter(on_predicate_error, rule.name),
                )
        for s, step in enumerate(rule.transform):
            for name, spec in (step.mask or {}).items():
                bad = mask_problem(spec.strategy)
                if bad is not None:
                    problem((i, "transform", s, "mask", name), bad)
        for t, target in enumerate(rule.to):
            bad = _target_problem(target, readers, sources)
            if bad is not None:
                problem((i, "to", t), bad)
        if problems:
            continue
        compiled.append(
            CompiledRule(
                rule=rule,
                transform=None
                if rule.drop
                else Transform.compile(rule, codec=codec, masker=masker),
                topics=readers[i][0],
                entity_types=_glob(rule.match.entity_types),
                event_types=frozenset(rule.match.event_types),
                changed=frozenset(rule.match.changed_fields),
                tenants=frozenset(rule.match.tenants),
                predicate=predicate,
            )
        )
    if problems:
        raise RouterConfigError(problems)
    return RuleSet(
        compiled,
        digest=digest or rules_digest(rules),
        origin=str(origin) if origin is not None else "settings",
    )


def _reporter(
    report: Callable[[str], None] | None, rule: str
) -> Callable[[Exception], None] | None:
    if report is None:
        return None
    return lambda exc: report(rule)


def _target_problem(
    target: str, readers: Sequence[tuple[re.Pattern[str] | None, int]], sources: Sequence[str]
) -> str | None:
    try:
        TopicSpec(name=target)
    except pydantic.ValidationError:
        return f"target {target!r} is not a topic name '<domain>.<source>.<event_type>'"
    if target.endswith(".dlq"):
        return f"target {target!r}: .dlq topics are the dead letters' own"
    for pattern, index in readers:
        if pattern is not None and pattern.match(target):
            return f"target {target!r} is read by rules[{index}]: routing there would loop"
    if target in sources:
        return f"target {target!r} is a topic the router reads: routing there would loop"
    return None


def problems_of(
    exc: pydantic.ValidationError, origin: Path | None, prefix: Sequence[str | int]
) -> list[str]:
    """pydantic's errors worded with their YAML lines."""
    out = []
    for error in exc.errors(include_url=False):
        message = str(error["msg"])
        if error.get("type") == "value_error":
            message = message.removeprefix("Value error, ")
        out.append(config_problem(origin, (*prefix, *error["loc"]), message))
    return out
