"""Run ``dictamesh`` as on an install without the ``otel`` extra: the OpenTelemetry SDK,
exporters and instrumentations cannot be imported (the API package stays, as it is a core
dependency). Used as ``python _no_otel.py demo --check``."""

from __future__ import annotations

import runpy
import sys
from typing import Any

_BLOCKED = ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.instrumentation")


class _NoOtelSdk:
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.startswith(_BLOCKED):
            raise ImportError(f"No module named {name!r} (the otel extra is not installed)")


sys.meta_path.insert(0, _NoOtelSdk())
if __name__ == "__main__":
    sys.argv = ["dictamesh", *sys.argv[1:]]
    runpy.run_module("dictamesh", run_name="__main__", alter_sys=True)
