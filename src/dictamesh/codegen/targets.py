"""The codegen targets and one entry point generating any of them (in memory).

``openapi`` is this package's ``openapi`` module (``generate(settings) -> dict``, the
OpenAPI document of the node's REST API), imported when asked for; while that module is not
installed the target raises :class:`CodegenUnavailable`.
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from typing import Final

from dictamesh.codegen import avro, graphql, jsonschema, python, typescript
from dictamesh.codegen.files import GeneratedFile, dump_json
from dictamesh.codegen.mesh import load_registry
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.settings import DictaMeshSettings

__all__ = ["OPENAPI_FILE", "CodegenTarget", "CodegenUnavailable", "generate"]

OPENAPI_FILE: Final = "openapi.json"


class CodegenTarget(StrEnum):
    GRAPHQL = "graphql"
    AVRO = "avro"
    JSONSCHEMA = "jsonschema"
    OPENAPI = "openapi"
    TYPESCRIPT = "typescript"
    PYTHON = "python"


class CodegenUnavailable(ConfigurationError):
    """The target's generator is not part of this installation."""


def _openapi(settings: DictaMeshSettings) -> list[GeneratedFile]:
    try:
        module = importlib.import_module("dictamesh.codegen.openapi")
    except ModuleNotFoundError as exc:
        if exc.name != "dictamesh.codegen.openapi":
            raise  # a dependency of the module is missing: that is its own error
        raise CodegenUnavailable("codegen openapi is not available in this version") from None
    document = module.generate(settings)
    return [GeneratedFile(OPENAPI_FILE, dump_json(document))]


def generate(
    target: CodegenTarget,
    settings: DictaMeshSettings,
    *,
    package: str = python.DEFAULT_PACKAGE,
) -> list[GeneratedFile]:
    """The files of ``target`` for the mesh ``settings`` describe, sorted by path.

    Raises :class:`ConfigurationError` (no adapters, an unknown adapter kind, names that
    cannot be generated) or :class:`CodegenUnavailable`."""
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
