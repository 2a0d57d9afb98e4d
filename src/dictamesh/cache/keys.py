"""Cache keys. The tenant is always part of a key, so one tenant never reads another's.

Example::

    entity_key("acme", "customer", "c-1")   # 'dm:v1:acme:entity:customer:c-1'
    entity_key(None, "customer", "c-1")     # 'dm:v1:default:entity:customer:c-1'
    lookup_key("acme", "invoice", "customer_id", "c-1")
    # 'dm:v1:acme:lookup:invoice:customer_id:c-1'  (the invoices whose customer_id is c-1)
"""

from __future__ import annotations

from urllib.parse import quote, unquote

__all__ = [
    "DEFAULT_TENANT",
    "KEY_PREFIX",
    "entity_key",
    "lookup_key",
    "lookup_prefix",
    "parse_entity_key",
    "tenant_prefix",
]

KEY_PREFIX = "dm:v1"
"""Bump the version when the cached value's shape changes, so old copies are ignored."""

DEFAULT_TENANT = "default"
"""Stands for "no tenant" (``None`` or empty): the same name the catalog gives untenanted rows,
so an event that names the default tenant and one that names none invalidate the same key."""


def _part(value: str) -> str:
    # percent-encode so a ':' inside a tenant or type can never forge another key
    return quote(value, safe="")


def tenant_prefix(tenant: str | None) -> str:
    """The prefix shared by every key of ``tenant``."""
    return f"{KEY_PREFIX}:{_part(tenant or DEFAULT_TENANT)}:"


def entity_key(tenant: str | None, entity_type: str, entity_id: str) -> str:
    """The key of one canonical entity. ``entity_id`` goes last, unencoded (ids are
    already restricted to a safe alphabet, and being last it cannot shift other parts)."""
    return f"{tenant_prefix(tenant)}entity:{_part(entity_type)}:{entity_id}"


def parse_entity_key(key: str) -> tuple[str, str, str] | None:
    """``(tenant, entity type, entity id)`` of an :func:`entity_key`; None for other keys."""
    head = f"{KEY_PREFIX}:"
    if not key.startswith(head):
        return None
    tenant, sep, rest = key[len(head) :].partition(":")
    kind, sep2, rest = rest.partition(":")
    entity_type, sep3, entity_id = rest.partition(":")
    if not (sep and sep2 and sep3) or kind != "entity" or not entity_id:
        return None
    return unquote(tenant), unquote(entity_type), entity_id


def lookup_prefix(tenant: str | None, entity_type: str) -> str:
    """The prefix shared by every inverse-lookup key of ``entity_type`` (all via fields):
    dropping it drops every cached lookup of the type (:mod:`dictamesh.cache.lookups`)."""
    return f"{tenant_prefix(tenant)}lookup:{_part(entity_type)}:"


def lookup_key(tenant: str | None, entity_type: str, via_field: str, value: str) -> str:
    """The key of one inverse lookup: the ``entity_type`` entities whose ``via_field`` is
    ``value`` (an entity id, last and unencoded like :func:`entity_key`'s)."""
    return f"{lookup_prefix(tenant, entity_type)}{_part(via_field)}:{value}"
