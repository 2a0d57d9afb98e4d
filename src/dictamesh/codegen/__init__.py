"""Code generated from a mesh's entity schemas (``dictamesh codegen``).

Each target reads the configured adapters' :class:`~dictamesh.core.models.EntitySchema`
(built, never connected) and returns :class:`GeneratedFile` objects; nothing touches the
disk until :func:`write_files`. Output is deterministic (sorted, stable), so CI can run
codegen and diff. One module per target: :mod:`~dictamesh.codegen.graphql` (the node's SDL),
:mod:`~dictamesh.codegen.avro` (reusing :mod:`dictamesh.events.avro_schema`),
:mod:`~dictamesh.codegen.jsonschema` (2020-12), :mod:`~dictamesh.codegen.typescript`,
:mod:`~dictamesh.codegen.python` (pydantic models and an async client), and
``openapi`` (the REST API's OpenAPI document).

Example::

    settings = DictaMeshSettings.from_yaml("mesh.yaml")
    files = generate(CodegenTarget.AVRO, settings)
    write_files(Path("schemas/avro"), files)
"""

from dictamesh.codegen.files import GeneratedFile, check_output_dir, write_files
from dictamesh.codegen.targets import CodegenTarget, generate

__all__ = [
    "CodegenTarget",
    "GeneratedFile",
    "check_output_dir",
    "generate",
    "write_files",
]
