"""The governed node of ``enforce_support`` with consent rules and a consent service: purpose
``marketing`` needs consent to read customers' personal fields in clear (masked without it),
``sale`` (a CCPA opt-out) is denied for subjects that opted out."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tests.unit.auth.support import bearer, hs_token
from tests.unit.governance.enforce_support import POLICY, GovernedNode

from dictamesh.catalog.service import CatalogService
from dictamesh.core.settings import ConsentSettings
from dictamesh.governance.consent import ConsentService
from dictamesh.governance.consent_store import ConsentStore
from dictamesh.governance.policy import PolicyEngine

CONSENT_POLICY = (
    POLICY
    + """
  - id: marketing-needs-consent
    effect: mask
    mask: redact
    actions: [read]
    purposes: [marketing]
    require_consent: marketing
    resource: {entity_types: [customer], tags: ["pii_*"]}
  - id: no-sale-after-opt-out
    effect: deny
    actions: [read]
    purposes: [sale]
    require_consent: sale
    resource: {entity_types: [customer], tags: ["pii_*", confidential]}
"""
)

CONSENT_SETTINGS = ConsentSettings.model_validate(
    {
        "purposes": {
            "marketing": {"description": "newsletters and offers"},
            "analytics": {"description": "product analytics"},
            "sale": {"description": "CCPA sale", "opt_out": True},
            "share": {"description": "CCPA share", "opt_out": True},
        },
        "third_party_roles": ["partner"],
        "max_evidence_chars": 200,
    }
)


def consent_node(catalog: CatalogService) -> GovernedNode:
    node = GovernedNode(catalog)
    governance = node.governance
    fresh = type(governance)(
        PolicyEngine.from_yaml(CONSENT_POLICY),
        audit=node.writer,
        audit_log=node.audit_log,
        consent=ConsentService(
            CONSENT_SETTINGS, ConsentStore(catalog.database), audit=node.audit_log
        ),
    )
    node.governance = fresh
    node.ctx.governance = fresh
    from dictamesh.api import create_app

    node.app = create_app(node.ctx)
    return node


@contextlib.asynccontextmanager
async def consent_governed_node(catalog_url: str) -> AsyncIterator[GovernedNode]:
    async with await CatalogService.open(catalog_url, migrate=False) as catalog:
        node = consent_node(catalog)
        await node.seed_catalog()
        try:
            yield node
        finally:
            await node.writer.aclose()


def auth(
    *roles: str, sub: str = "alice", purpose: str | None = None, **claims: Any
) -> dict[str, str]:
    headers = bearer(hs_token(sub=sub, roles=list(roles), tenant_id=None, **claims))
    if purpose is not None:
        headers["X-DictaMesh-Purpose"] = purpose
    return headers
