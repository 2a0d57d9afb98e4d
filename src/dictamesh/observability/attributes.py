"""Span attribute names the node sets and reads.

A module of its own, free of the OpenTelemetry SDK: the API imports it whether or not the
``otel`` extra is installed.
"""

from __future__ import annotations

__all__ = ["TENANT_ATTRIBUTE"]

#: span attribute naming the tenant a request was served for (set by the HTTP middleware)
TENANT_ATTRIBUTE = "dictamesh.tenant"
