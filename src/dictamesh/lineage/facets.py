"""OpenLineage facets and datasets built from what the mesh knows: entity schemas, adapters'
declared lineage, the bus's topics.

Every facet carries this package's ``producer`` (:data:`PRODUCER`) and the ``_schemaURL`` of
its facet version in the OpenLineage 2-0-2 spec (set by openlineage-python's classes).

Example::

    facets = dataset_facets(schema, owners=["team:billing"], source=("shop", None))
    facets["schema"].fields[0].name
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase

from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    datasource_dataset,
    documentation_dataset,
    documentation_job,
    error_message_run,
    input_statistics_input_dataset,
    job_type_job,
    output_statistics_output_dataset,
    ownership_dataset,
    processing_engine_run,
    schema_dataset,
)
from openlineage.client.generated.base import (
    DatasetFacet,
    InputDatasetFacet,
    JobFacet,
    OutputDatasetFacet,
    RunFacet,
)

from dictamesh import __version__
from dictamesh.core.models import EntitySchema, FieldSpec, FieldType

__all__ = [
    "ENGINE_NAME",
    "PRODUCER",
    "column_lineage",
    "dataset_facets",
    "error_facet",
    "input_statistics",
    "job_facets",
    "output_statistics",
    "owners_for",
    "run_facets",
    "schema_facet",
    "topic_schema_facet",
]

ENGINE_NAME = "dictamesh"
PRODUCER = f"https://github.com/dictamesh/dictamesh/tree/v{__version__}"
"""The ``producer`` URI of every event and facet this package emits."""

# OpenLineage types are free text; these follow what SQL-ish consumers display.
_TYPES: Mapping[FieldType, str] = {
    FieldType.STRING: "string",
    FieldType.INTEGER: "long",
    FieldType.NUMBER: "double",
    FieldType.BOOLEAN: "boolean",
    FieldType.DATETIME: "timestamp",
    FieldType.DATE: "date",
    FieldType.JSON: "json",
}


def _field(spec: FieldSpec) -> schema_dataset.SchemaDatasetFacetFields:
    kind = _TYPES[spec.type]
    return schema_dataset.SchemaDatasetFacetFields(
        name=spec.name,
        type=f"array<{kind}>" if spec.many else kind,
        description=spec.description,
    )


def _entity_fields(schema: EntitySchema) -> list[schema_dataset.SchemaDatasetFacetFields]:
    fields = [_field(spec) for spec in schema.fields]
    known = {spec.name for spec in schema.fields}
    for name, nested in schema.nested.items():
        # a nested object list is an array of structs (its items become child entities)
        struct = schema_dataset.SchemaDatasetFacetFields(
            name=name, type="array<struct>", fields=_entity_fields(nested)
        )
        if name in known:
            fields = [struct if f.name == name else f for f in fields]
        else:
            fields.append(struct)
    for position, item in enumerate(fields, start=1):
        item.ordinal_position = position
    return fields


def schema_facet(schema: EntitySchema) -> schema_dataset.SchemaDatasetFacet:
    """The data product's fields with their types (``array<...>`` for lists)."""
    return schema_dataset.SchemaDatasetFacet(fields=_entity_fields(schema), producer=PRODUCER)


def topic_schema_facet(schema: EntitySchema) -> schema_dataset.SchemaDatasetFacet:
    """A change topic's record: the event envelope with the entity in ``before``/``after``."""
    entity = _entity_fields(schema)

    def f(
        name: str,
        kind: str,
        description: str | None = None,
        fields: list[schema_dataset.SchemaDatasetFacetFields] | None = None,
    ) -> schema_dataset.SchemaDatasetFacetFields:
        return schema_dataset.SchemaDatasetFacetFields(
            name=name, type=kind, description=description, fields=fields or []
        )

    return schema_dataset.SchemaDatasetFacet(
        fields=[
            f("event_id", "string"),
            f("event_type", "string", description="CREATED | UPDATED | DELETED"),
            f("timestamp", "long", description="milliseconds since epoch"),
            f(
                "entity",
                "struct",
                fields=[f("type", "string"), f("id", "string"), f("version", "long")],
            ),
            f("source", "struct", fields=[f("domain", "string"), f("system", "string")]),
            f("changed_fields", "array<string>"),
            f("before", "struct", fields=entity),
            f("after", "struct", fields=entity),
            f("tenant_id", "string"),
            f("schema_version", "long"),
        ],
        producer=PRODUCER,
    )


def owners_for(dataset_name: str, owners: Mapping[str, Sequence[str]]) -> list[str]:
    """The owners ``owners`` (data product glob → owners) gives ``dataset_name``, in order."""
    found: list[str] = []
    for pattern, names in owners.items():
        if fnmatchcase(dataset_name, pattern):
            found.extend(n for n in names if n not in found)
    return found


def dataset_facets(
    schema: EntitySchema,
    *,
    owners: Sequence[str] = (),
    source: tuple[str, str | None] | None = None,
    topic: bool = False,
) -> dict[str, DatasetFacet]:
    """``schema`` (of the data product, or of its change topic with ``topic``),
    ``documentation`` (the schema's description), ``ownership`` (when ``owners``) and
    ``dataSource`` (``source``: its name and URI)."""
    facets: dict[str, DatasetFacet] = {
        "schema": topic_schema_facet(schema) if topic else schema_facet(schema)
    }
    if schema.description and not topic:
        facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
            description=schema.description, producer=PRODUCER
        )
    if owners:
        facets["ownership"] = ownership_dataset.OwnershipDatasetFacet(
            owners=[ownership_dataset.Owner(name=name) for name in owners], producer=PRODUCER
        )
    if source is not None:
        name, uri = source
        facets["dataSource"] = datasource_dataset.DatasourceDatasetFacet(
            name=name, uri=uri, producer=PRODUCER
        )
    return facets


def column_lineage(
    mapping: Mapping[str, Iterable[tuple[str, str, str]]],
    *,
    description: str,
) -> column_lineage_dataset.ColumnLineageDatasetFacet:
    """``mapping``: output field → the (namespace, name, field) input fields it is copied
    from (a DIRECT, IDENTITY transformation: the mesh renames, never computes)."""
    identity = column_lineage_dataset.Transformation(
        type="DIRECT", subtype="IDENTITY", description=description
    )
    fields = {
        output: column_lineage_dataset.Fields(
            inputFields=[
                column_lineage_dataset.InputField(
                    namespace=namespace, name=name, field=field, transformations=[identity]
                )
                for namespace, name, field in inputs
            ]
        )
        for output, inputs in mapping.items()
    }
    return column_lineage_dataset.ColumnLineageDatasetFacet(
        fields={k: v for k, v in fields.items() if v.inputFields}, producer=PRODUCER
    )


def job_facets(job_type: str, description: str) -> dict[str, JobFacet]:
    """``jobType`` (a STREAMING job of integration DICTAMESH) and ``documentation``."""
    return {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="STREAMING",
            integration="DICTAMESH",
            jobType=job_type,
            producer=PRODUCER,
        ),
        "documentation": documentation_job.DocumentationJobFacet(
            description=description, producer=PRODUCER
        ),
    }


def run_facets() -> dict[str, RunFacet]:
    """``processing_engine``: this dictamesh version."""
    return {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=__version__, name=ENGINE_NAME, producer=PRODUCER
        )
    }


def error_facet(error: BaseException) -> error_message_run.ErrorMessageRunFacet:
    """``errorMessage``: the error's text and type (no traceback: it may hold data)."""
    return error_message_run.ErrorMessageRunFacet(
        message=str(error) or type(error).__name__,
        programmingLanguage="python",
        stackTrace=None,
        producer=PRODUCER,
    )


def input_statistics(rows: int) -> dict[str, InputDatasetFacet]:
    """``inputStatistics``: how many events the run read from the dataset."""
    return {
        "inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
            rowCount=rows, producer=PRODUCER
        )
    }


def output_statistics(rows: int) -> dict[str, OutputDatasetFacet]:
    """``outputStatistics``: how many events (or entity changes) the run wrote."""
    return {
        "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=rows, producer=PRODUCER
        )
    }
