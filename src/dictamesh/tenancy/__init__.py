"""Multi-tenancy: per-tenant quotas, per-tenant topics, and the row-level security check.

How a tenant is resolved, isolated in the catalog (PostgreSQL row-level security) and
limited is described in ``docs/tenancy.md`` (ADR 0004 for the database roles).

Example::

    from dictamesh.tenancy import TenantQuotas, charge_query_cost, install_tenant_quotas

    quotas = TenantQuotas(settings.tenancy.quotas)
    install_tenant_quotas(app, quotas)            # before install_auth(app, settings.auth)
"""

from __future__ import annotations

from dictamesh.tenancy.quotas import (
    DEFAULT_TENANT,
    QuotaDecision,
    TenantQuotaMiddleware,
    TenantQuotas,
    TokenBucket,
    active_quotas,
    charge_query_cost,
    install_tenant_quotas,
    resolve_tenant,
    use_quotas,
)
from dictamesh.tenancy.topics import (
    event_for_topic,
    subscription_topics,
    tenant_context,
    tenant_topic,
    topic_tenant,
)

__all__ = [
    "DEFAULT_TENANT",
    "QuotaDecision",
    "TenantQuotaMiddleware",
    "TenantQuotas",
    "TokenBucket",
    "active_quotas",
    "charge_query_cost",
    "event_for_topic",
    "install_tenant_quotas",
    "resolve_tenant",
    "subscription_topics",
    "tenant_context",
    "tenant_topic",
    "topic_tenant",
    "use_quotas",
]
