"""The codegen targets and one entry point generating any of them (in memory).

``openapi`` is :mod:`dictamesh.codegen.openapi` (the OpenAPI document of the node's REST
API), imported only when asked for: it starts a node without adapters to read the served
document, which the other targets do not need.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

import dictamesh.codegen.avro as avro
import dictamesh.codegen.graphql as graphql
import dictamesh.codegen.jsonschema as jsonschema
import dictamesh.codegen.python as python
import dictamesh.codegen.typescript as typescript
from dictamesh.codegen.files import GeneratedFile, dump_json
from dictamesh.codegen.mesh import load_registry
from dictamesh.core.settings import DictaMeshSettings

__all__ = ["OPENAPI_FILE", "CodegenTarget", "generate"]

OPENAPI_FILE: Final = "openapi.json"


class CodegenTarget(StrEnum):
    GRAPHQL = "graphql"
    AVRO = "avro"
    JSONSCHEMA = "jsonschema"
    OPENAPI = "openapi"
    TYPESCRIPT = "typescript"
    PYTHON = "python"


def _openapi(settings: DictaMeshSettings) -> list[GeneratedFile]:
    from dictamesh.codegen.openapi import generate as openapi_document

    return [GeneratedFile(OPENAPI_FILE, dump_json(openapi_document(settings)))]


def generate(
    target: CodegenTarget,
    settings: DictaMeshSettings,
    *,
    package: str = python.DEFAULT_PACKAGE,
) -> list[GeneratedFile]:
    """The files of ``target`` for the mesh ``settings`` describe, sorted by path.

    Raises :class:`ConfigurationError` (no adapters, an unknown adapter kind, names that
    cannot be generated)."""
    if target is CodegenTarget.OPENAPI:
        files = _openapi(settings)
    else:
        registry = load_registry(settings)
        if target is CodegenTarget.GRAPHQL:
            files = graphql.generate(settings, registry)
        elif target is CodegenTarget.AVRO:
            files = avro.generate(settings, registry)
        elif target is CodegenTarget.JSONSCHEMA:
            files = jsonschema.generate(settings, registry)
        elif target is CodegenTarget.TYPESCRIPT:
            files = typescript.generate(settings, registry)
        else:
            files = python.generate(settings, registry, package=package)
    return sorted(files, key=lambda f: f.path)
