"""Governance: PII detection and classification suggestions, masking, access policies.

Example::

    engine = PolicyEngine.from_file("policies.yaml")
    decision = engine.decide(principal, Action.READ,
                             Resource("customer", "customers", "email", Classification.PII_EMAIL))
    value = Masker(key).mask(raw, decision.mask, Classification.PII_EMAIL)
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

__all__ = [
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
    "detect",
    "scan_adapter",
    "scan_records",
]
