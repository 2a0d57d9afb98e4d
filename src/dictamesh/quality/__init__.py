"""Data-quality rules (``docs/quality.md``): checks declared per entity type in ``mesh.yaml``,
evaluated on ingest and on a schedule over the catalog, with results, scores and failure
events.

Per-event rules are checked in memory on each committed ingest batch
(:mod:`dictamesh.quality.streaming`); every rule, referential integrity across domains
included, runs in set-based SQL over the catalog (:mod:`dictamesh.quality.sql`) on one node
of the cluster at a time (:mod:`dictamesh.quality.runtime`).
"""

from dictamesh.quality.evaluator import QUALITY_TOPIC, QualityEvaluator, select_rules
from dictamesh.quality.metrics import QualityMetrics
from dictamesh.quality.runtime import NodeQuality
from dictamesh.quality.store import QualityStore, RuleResult, Run, TypeScore, score
from dictamesh.quality.streaming import IngestChecker

__all__ = [
    "QUALITY_TOPIC",
    "IngestChecker",
    "NodeQuality",
    "QualityEvaluator",
    "QualityMetrics",
    "QualityStore",
    "RuleResult",
    "Run",
    "TypeScore",
    "score",
    "select_rules",
]
