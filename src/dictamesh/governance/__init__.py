"""Governance: PII detection and classification suggestions, masking, access policies.

Example::

    engine = PolicyEngine.from_file("policies.yaml")
    decision = engine.decide(principal, Action.READ,
                             Resource("customer", "customers", "email", Classification.PII_EMAIL))
    value = Masker(key).mask(raw, decision.mask, Classification.PII_EMAIL)

Writes to sources (action ``write``, denied unless a rule allows it) go through a
:class:`WriteGuard`, which checks the policy and audits every write::

    guard = WriteGuard(governance)
    result = await guard.run_command(adapter, "reserve", {"product_id": "prd_1", "quantity": 2},
                                     idempotency_key="order-7:reserve", principal=principal)
"""

from dictamesh.governance.detectors import DETECTORS, Detection, Detector, detect
from dictamesh.governance.masking import REDACTED, Masker, MaskStrategy
from dictamesh.governance.policy import (
    Action,
    Decision,
    PolicyDocument,
    PolicyEngine,
    PolicyRule,
    Resource,
)
from dictamesh.governance.scan import FieldSuggestion, ScanReport, scan_adapter, scan_records
from dictamesh.governance.writes import CHANNEL_SAGA, WriteGuard, write_details

__all__ = [
    "CHANNEL_SAGA",
    "DETECTORS",
    "REDACTED",
    "Action",
    "Decision",
    "Detection",
    "Detector",
    "FieldSuggestion",
    "MaskStrategy",
    "Masker",
    "PolicyDocument",
    "PolicyEngine",
    "PolicyRule",
    "Resource",
    "ScanReport",
    "WriteGuard",
    "detect",
    "scan_adapter",
    "scan_records",
    "write_details",
]
