"""The event router (``docs/router.md``): YAML rules that match events on the bus,
transform them (project, rename, mask, headers, envelope) and write them to target topics
or drop them — at-least-once, per-key order kept, a DLQ for what a transform fails on,
rules reloaded on change after validation.

Example::

    router = NodeRouter.build(settings, bus=bus, sources=topics, metrics=metrics)
    await router.start()
    await router.consume(stop)
"""

from dictamesh.router.codec import RouterCodec
from dictamesh.router.engine import Router, RouterStats
from dictamesh.router.errors import RouterConfigError, TransformError
from dictamesh.router.loader import RulesLoader
from dictamesh.router.metrics import RouterMetrics
from dictamesh.router.rules import CompiledRule, RuleSet, compile_rules
from dictamesh.router.runtime import NodeRouter
from dictamesh.router.transforms import HEADER_RULE, Routed, Transform

__all__ = [
    "HEADER_RULE",
    "CompiledRule",
    "NodeRouter",
    "Routed",
    "Router",
    "RouterCodec",
    "RouterConfigError",
    "RouterMetrics",
    "RouterStats",
    "RuleSet",
    "RulesLoader",
    "Transform",
    "TransformError",
    "compile_rules",
]
