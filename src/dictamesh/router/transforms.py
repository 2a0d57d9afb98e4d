"""A rule's ``transform`` steps compiled into one function: event in, record out.

``project``, ``rename`` and ``mask`` edit the event's ``before``/``after`` (and
``changed_fields``); ``headers`` adds record headers; ``envelope`` converts the value. A
rule without edits forwards the source record's bytes untouched (no re-encoding).
Every routed record carries ``router-rule: <rule name>``.

Example::

    transform = Transform.compile(rule, codec=codec, masker=masker)
    record = transform.apply(event, message)     # TransformError when it cannot
    record.value, record.headers
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dictamesh.core.models import ChangeEvent, Classification
from dictamesh.core.router_config import RouteRule, TransformStep
from dictamesh.events.bus import Message
from dictamesh.events.envelopes import cloudevent_headers
from dictamesh.events.serde import HEADER_TRACEPARENT
from dictamesh.governance.masking import Masker, MaskStrategy
from dictamesh.router.codec import RouterCodec
from dictamesh.router.errors import TransformError

__all__ = ["HEADER_RULE", "Routed", "Transform", "mask_problem"]

#: the header naming the rule that routed a record
HEADER_RULE = "router-rule"

Values = dict[str, Any] | None
Edit = Callable[[Values, Values, list[str]], tuple[Values, Values, list[str]]]
"""``(before, after, changed_fields) -> (before, after, changed_fields)``: steps edit plain
data, and the event is copied once at the end."""


@dataclass(frozen=True, slots=True)
class Routed:
    """One record to write (to each of the rule's targets)."""

    value: bytes
    headers: Mapping[str, bytes]


def mask_problem(strategy: str) -> str | None:
    try:
        MaskStrategy(strategy)
    except ValueError:
        known = ", ".join(s.value for s in MaskStrategy)
        return f"unknown mask strategy {strategy!r} (known: {known})"
    return None


def _project(fields: list[str]) -> Edit:
    keep = frozenset(fields)

    def only(values: Values) -> Values:
        return None if values is None else {k: v for k, v in values.items() if k in keep}

    def edit(before: Values, after: Values, changed: list[str]) -> tuple[Values, Values, list[str]]:
        return only(before), only(after), [f for f in changed if f in keep]

    return edit


def _rename(rule: str, mapping: dict[str, str]) -> Edit:
    def rename(values: Values) -> Values:
        if values is None:
            return None
        out: dict[str, Any] = {}
        for key, value in values.items():
            new = mapping.get(key, key)
            if new in out:
                raise TransformError(
                    rule, f"rename: field {new!r} exists already (renaming {key!r} onto it)"
                )
            out[new] = value
        return out

    def edit(before: Values, after: Values, changed: list[str]) -> tuple[Values, Values, list[str]]:
        return rename(before), rename(after), [mapping.get(f, f) for f in changed]

    return edit


def _mask(masker: Masker, fields: Mapping[str, tuple[MaskStrategy, Classification]]) -> Edit:
    def mask(values: Values) -> Values:
        if values is None:
            return None
        out = dict(values)
        for name, (strategy, classification) in fields.items():
            if name in out:
                out[name] = masker.mask(out[name], strategy, classification)
        return out

    def edit(before: Values, after: Values, changed: list[str]) -> tuple[Values, Values, list[str]]:
        return mask(before), mask(after), changed

    return edit


@dataclass(frozen=True, slots=True)
class Transform:
    rule: str
    edits: tuple[Edit, ...]
    headers: Mapping[str, bytes]
    debezium: bool
    cloudevents: bool
    codec: RouterCodec

    @classmethod
    def compile(cls, rule: RouteRule, *, codec: RouterCodec, masker: Masker) -> Transform:
        """The rule's steps (already validated: :func:`mask_problem` is checked by
        ``compile_rules``)."""
        edits: list[Edit] = []
        headers: dict[str, bytes] = {}
        debezium = cloudevents = False
        for step in rule.transform:
            edit = _edit(rule.name, step, masker)
            if edit is not None:
                edits.append(edit)
            if step.headers:
                headers.update({k: v.encode() for k, v in step.headers.items()})
            if step.envelope is not None:
                debezium, cloudevents = step.envelope.debezium, step.envelope.cloudevents
        headers[HEADER_RULE] = rule.name.encode()
        return cls(rule.name, tuple(edits), headers, debezium, cloudevents, codec)

    def apply(self, event: ChangeEvent, message: Message) -> Routed:
        """The record this rule writes for ``event`` (read from ``message``)."""
        try:
            if self.edits:
                before, after, changed = event.before, event.after, event.changed_fields
                for edit in self.edits:
                    before, after, changed = edit(before, after, changed)
                event = event.model_copy(
                    update={"before": before, "after": after, "changed_fields": changed}
                )
            if self.debezium:
                value, headers = self.codec.encode_debezium(event)
            elif self.edits:
                value, headers = self.codec.encode(event)
            else:  # nothing edited: the source record as it came
                value, headers = message.value, dict(message.headers)
            if self.cloudevents:
                headers.update(
                    cloudevent_headers(event, traceparent=headers.get(HEADER_TRACEPARENT))
                )
        except TransformError:
            raise
        except Exception as exc:  # an encoder refusing the edited event, a bug: the DLQ
            raise TransformError(self.rule, f"{type(exc).__name__}: {exc}") from exc
        headers.update(self.headers)
        return Routed(value, headers)


def _edit(rule: str, step: TransformStep, masker: Masker) -> Edit | None:
    if step.project:
        return _project(step.project)
    if step.rename:
        return _rename(rule, step.rename)
    if step.mask:
        fields = {
            name: (MaskStrategy(spec.strategy), spec.classification)
            for name, spec in step.mask.items()
        }
        return _mask(masker, fields)
    return None
