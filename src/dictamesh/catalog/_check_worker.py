"""The worker process of the schema registry's compatibility checks (``_registry_check``).

Run as ``python -m dictamesh.catalog._check_worker``: one JSON request per line on stdin,
one JSON answer per line on stdout, until stdin closes. A request is
``{"new": text, "previous": [text, ...], "level": "BACKWARD", "limits": {...}}``; the
answer ``{"reasons": [...]}`` or ``{"error": "too_complex" | "invalid" | "internal",
"message": ...}``.
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any

from dictamesh.catalog._avro_compat import avro_compatibility_reasons
from dictamesh.catalog._avro_limits import AvroLimits, InvalidAvroSchema, SchemaTooComplex
from dictamesh.catalog.records import Compatibility


def answer(request: dict[str, Any]) -> dict[str, Any]:
    try:
        reasons = avro_compatibility_reasons(
            request["new"],
            request["previous"],
            Compatibility(request["level"]),
            AvroLimits(**request["limits"]),
        )
    except SchemaTooComplex as exc:
        return {"error": "too_complex", "message": str(exc)}
    except InvalidAvroSchema as exc:
        return {"error": "invalid", "message": str(exc)}
    except Exception as exc:  # a bug of ours: the registry answers 500 without the text
        return {"error": "internal", "message": type(exc).__name__}
    return {"reasons": reasons}


def main() -> None:
    # Ctrl+C in a terminal reaches the whole process group: the parent decides when this
    # worker ends (it closes stdin), so a keyboard interrupt must not print a traceback here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for line in sys.stdin:
        sys.stdout.write(json.dumps(answer(json.loads(line))) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
