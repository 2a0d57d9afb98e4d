"""Which rules an event matches: topics, entity types, event types, changed fields, a
predicate, or one of the mesh's own events.

Events reach the rules as :class:`EventView` — a change event or a mesh event (a JSON body on
a ``system.*`` topic) in one shape. Globs use ``*`` (any run within and across dots) and
``?``; event types are compared without case (``updated`` matches ``UPDATED``). A predicate
that fails to evaluate is a non-match, counted in :attr:`RuleSet.predicate_errors`.

Example::

    rules = RuleSet.compile(settings.notifications.rules, templates.compile_predicate)
    for match in rules.match(view):
        match.rule.name, match.mesh_event
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dictamesh.core.models import ChangeEvent
from dictamesh.core.notification_config import MESH_EVENTS, NotificationRule

__all__ = ["CompiledRule", "EventView", "RuleMatch", "RuleSet"]

Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class EventView:
    """One event as rules and templates see it (before masking: the notifier masks the
    ``before``/``after`` of change events per recipient before rendering)."""

    topic: str
    tenant_id: str
    event_id: str
    #: change events: created / updated / deleted; mesh events: their ``event_type``
    event_type: str
    body: Mapping[str, Any]
    entity_type: str | None = None
    entity_id: str | None = None
    changed_fields: frozenset[str] = frozenset()
    occurred_at: datetime | None = None
    #: the change event itself (``None`` for mesh events)
    change: ChangeEvent | None = None

    @classmethod
    def of_change(cls, event: ChangeEvent, topic: str) -> EventView:
        changed = set(event.changed_fields)
        if not changed:  # a create or delete "changes" every field it has
            changed = set(event.after or event.before or {})
        return cls(
            topic=topic,
            tenant_id=event.tenant_id or "default",
            event_id=str(event.event_id),
            event_type=event.event_type.value.lower(),
            body=event.model_dump(mode="json"),
            entity_type=event.entity.type,
            entity_id=event.entity.id,
            changed_fields=frozenset(changed),
            occurred_at=datetime.fromtimestamp(event.timestamp / 1000, UTC),
            change=event,
        )

    @classmethod
    def of_mesh_event(cls, body: Mapping[str, Any], topic: str, *, fallback_id: str) -> EventView:
        occurred = body.get("occurred_at")
        at: datetime | None = None
        if isinstance(occurred, str):
            try:
                at = datetime.fromisoformat(occurred)
            except ValueError:
                at = None
        tenant = body.get("tenant_id")
        return cls(
            topic=topic,
            tenant_id=tenant if isinstance(tenant, str) and tenant else "default",
            event_id=str(body.get("event_id") or fallback_id),
            event_type=str(body.get("event_type") or topic.rsplit(".", 1)[-1]).lower(),
            body=body,
            occurred_at=at,
        )

    def context(self) -> dict[str, Any]:
        """The names a predicate or template sees (``docs/notifications.md``)."""
        body = dict(self.body)
        return {
            "event": {**body, "topic": self.topic, "event_type": self.event_type},
            "topic": self.topic,
            "event_type": self.event_type,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "before": body.get("before") or {},
            "after": body.get("after") or {},
            "changed_fields": sorted(self.changed_fields),
            "tenant_id": self.tenant_id,
        }


@dataclass(frozen=True, slots=True)
class RuleMatch:
    rule: NotificationRule
    #: the mesh event name the rule matched on (``breaker_opened``), else ``None``
    mesh_event: str | None


def _glob(patterns: Iterable[str]) -> re.Pattern[str] | None:
    patterns = list(patterns)
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


@dataclass(slots=True)
class CompiledRule:
    rule: NotificationRule
    topics: re.Pattern[str] | None
    entity_types: re.Pattern[str] | None
    event_types: frozenset[str]
    changed_fields: frozenset[str]
    predicate: Predicate | None
    #: (name, topic pattern, required body fields) per mesh event of the rule
    mesh_events: list[tuple[str, re.Pattern[str], dict[str, str]]] = field(default_factory=list)

    def match(self, view: EventView, context: Mapping[str, Any]) -> RuleMatch | None:
        mesh_event: str | None = None
        if self.mesh_events:
            for name, pattern, required in self.mesh_events:
                if pattern.match(view.topic) and all(
                    str(view.body.get(k)) == v for k, v in required.items()
                ):
                    mesh_event = name
                    break
            else:
                return None
        if self.topics is not None and not self.topics.match(view.topic):
            return None
        if self.entity_types is not None and not (
            view.entity_type and self.entity_types.match(view.entity_type)
        ):
            return None
        if self.event_types and view.event_type not in self.event_types:
            return None
        if self.changed_fields and not (self.changed_fields & view.changed_fields):
            return None
        if self.predicate is not None and not self.predicate(context):
            return None
        return RuleMatch(self.rule, mesh_event)


class RuleSet:
    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.rules = list(rules)
        #: predicates that raised while evaluating (counted as non-matches)
        self.predicate_errors = 0

    @classmethod
    def compile(
        cls,
        rules: Sequence[NotificationRule],
        compile_predicate: Callable[[str], Predicate],
    ) -> RuleSet:
        compiled = [
            CompiledRule(
                rule=r,
                topics=_glob(r.when.topics),
                entity_types=_glob(r.when.entity_types),
                event_types=frozenset(t.lower() for t in r.when.event_types),
                changed_fields=frozenset(r.when.changed_fields),
                predicate=compile_predicate(r.when.predicate) if r.when.predicate else None,
                mesh_events=[
                    (
                        name,
                        re.compile(fnmatch.translate(MESH_EVENTS[name][0])),
                        MESH_EVENTS[name][1],
                    )
                    for name in r.when.mesh_events
                ],
            )
            for r in rules
        ]
        return cls(compiled)

    def topic_patterns(self) -> list[re.Pattern[str]]:
        """Every topic pattern a rule listens on (the notifier subscribes to the known
        topics they match)."""
        out: list[re.Pattern[str]] = []
        for rule in self.rules:
            if rule.topics is not None:
                out.append(rule.topics)
            out.extend(p for _, p, _ in rule.mesh_events)
        return out

    def wants_all_entity_topics(self) -> bool:
        """A rule that names entity types but no topics listens to every entity topic."""
        return any(r.topics is None and not r.mesh_events for r in self.rules)

    def match(self, view: EventView) -> list[RuleMatch]:
        context = view.context()
        found: list[RuleMatch] = []
        for rule in self.rules:
            try:
                hit = rule.match(view, context)
            except Exception:  # a predicate that fails on this event: no match, counted
                self.predicate_errors += 1
                continue
            if hit is not None:
                found.append(hit)
        return found
