"""Per-tenant topics (``<tenant>.<domain>.<source>.<event>``) and an event's tenant.

With ``tenancy.topic_prefix_per_tenant`` the publisher sends every event carrying a tenant
to its tenant's topic, so a Kafka cluster can give each tenant's producers and consumers
ACLs on their own prefix. A node consumes the unprefixed topics (the default tenant's) and
the prefixed ones of every tenant in ``tenancy.tenants`` (the bus interface subscribes to
named topics, no patterns).

On the consuming side the topic is the authority: :func:`event_for_topic` gives an event
without a tenant the tenant of its topic, and refuses (``PermissionDenied``: not transient,
so the consumer dead-letters it) an event whose ``tenant_id`` contradicts the topic — a
producer allowed on one tenant's topics must not write another tenant's data.

Example::

    subscription_topics(["crm.hub.entity_changed"], settings.tenancy)
    # ['crm.hub.entity_changed', 'acme.crm.hub.entity_changed', 'globex.crm.hub...']
    event = event_for_topic(event, "acme.crm.hub.entity_changed")   # tenant_id 'acme'
    with tenant_context(event.tenant_id):
        ...                                # the catalog and the cache act for 'acme'
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator

from dictamesh.core.context import current_tenant
from dictamesh.core.errors import PermissionDenied, ValidationError
from dictamesh.core.models import ChangeEvent
from dictamesh.core.settings import TenancySettings

__all__ = [
    "event_for_topic",
    "subscription_topics",
    "tenant_context",
    "tenant_topic",
    "topic_tenant",
]

_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DEFAULT_TENANTS = (None, "", "default")


def tenant_topic(topic: str, tenant: str | None) -> str:
    """``<tenant>.<topic>``, or ``topic`` for no tenant (or the default one).

    A tenant id that cannot be a topic part (uppercase, ``-``...) is refused with a
    :class:`ValidationError`: mapping it to a similar name could merge two tenants.
    """
    if tenant in _DEFAULT_TENANTS:
        return topic
    assert tenant is not None
    if not _PREFIX.match(tenant):
        raise ValidationError(
            f"tenant {tenant!r} cannot prefix a topic: lowercase letters, digits and '_',"
            " starting with a letter",
            tenant=tenant[:64],
        )
    return f"{tenant}.{topic}"


def topic_tenant(topic: str) -> str | None:
    """The tenant prefix of a ``<tenant>.<domain>.<source>.<event>[.dlq]`` topic, else None."""
    parts = topic.removesuffix(".dlq").split(".")
    return parts[0] if len(parts) == 4 else None


def subscription_topics(topics: Iterable[str], tenancy: TenancySettings) -> list[str]:
    """``topics`` plus, with per-tenant prefixes, each configured tenant's copy of them."""
    base = list(dict.fromkeys(topics))
    if not tenancy.topic_prefix_per_tenant:
        return base
    return base + [tenant_topic(t, tenant) for tenant in tenancy.tenants for t in base]


def event_for_topic(event: ChangeEvent, topic: str, *, strict: bool = False) -> ChangeEvent:
    """``event`` with the tenant its topic implies.

    * on ``<tenant>.…`` topics: an event without ``tenant_id`` gets ``<tenant>``; one with
      another tenant raises :class:`PermissionDenied`;
    * on unprefixed topics the event is returned unchanged, unless ``strict`` (the mesh
      uses per-tenant topics) and it names a tenant other than the default one: that
      belongs on its tenant's topic, so it is refused too.
    """
    prefix = topic_tenant(topic)
    if prefix is None:
        if strict and event.tenant_id not in _DEFAULT_TENANTS:
            raise PermissionDenied(
                f"event of tenant {event.tenant_id!r} on the shared topic {topic!r}",
                topic=topic,
                event_id=str(event.event_id),
            )
        return event
    if event.tenant_id is None:
        return event.model_copy(update={"tenant_id": prefix})
    if event.tenant_id != prefix:
        raise PermissionDenied(
            f"event of tenant {event.tenant_id!r} on tenant {prefix!r}'s topic {topic!r}",
            topic=topic,
            event_id=str(event.event_id),
        )
    return event


@contextlib.contextmanager
def tenant_context(tenant: str | None) -> Iterator[None]:
    """Bind :data:`~dictamesh.core.context.current_tenant` to ``tenant`` for the block."""
    token = current_tenant.set(tenant)
    try:
        yield
    finally:
        current_tenant.reset(token)
