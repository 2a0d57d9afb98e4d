"""Helpers of the router's unit tests: events, messages, compiled rule sets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from dictamesh.core.models import ChangeEvent, EntityVersionRef, EventType, SourceRef
from dictamesh.core.router_config import RouteRule
from dictamesh.events.bus import Message
from dictamesh.events.serde import JsonEventSerializer
from dictamesh.governance.masking import Masker
from dictamesh.router.codec import RouterCodec
from dictamesh.router.rules import RuleSet, compile_rules

TOPIC = "customers.crm.entity_changed"
MASK_KEY = b"router-tests-key"


def event(
    entity_id: str = "c-1",
    *,
    event_type: EventType = EventType.UPDATED,
    entity_type: str = "customer",
    version: int = 1,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    changed: Sequence[str] = (),
    tenant: str | None = None,
) -> ChangeEvent:
    return ChangeEvent(
        event_type=event_type,
        entity=EntityVersionRef(type=entity_type, id=entity_id, version=version),
        source=SourceRef(domain="customers", system="crm"),
        changed_fields=list(changed),
        before=before,
        after=after,
        tenant_id=tenant,
    )


def message(ev: ChangeEvent, topic: str = TOPIC, offset: int = 0) -> Message:
    value, headers = JsonEventSerializer().encode(ev)
    return Message(topic, 0, offset, ev.key, value, headers)


def rules(*raw: dict[str, Any], sources: Sequence[str] = (TOPIC,)) -> RuleSet:
    return compile_rules(
        [RouteRule.model_validate(r) for r in raw],
        codec=RouterCodec(),
        masker=Masker(MASK_KEY),
        sources=sources,
    )


@pytest.fixture
def codec() -> RouterCodec:
    return RouterCodec()
