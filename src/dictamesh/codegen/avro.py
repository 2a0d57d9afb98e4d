"""``dictamesh codegen avro``: one ``<entity_type>.avsc`` per entity type.

The records are those the typed Avro events carry (:mod:`dictamesh.events.avro_schema`,
with ``bus.avro_timestamps``): the same field types, optionality, docs and
classifications a topic's registered value schema embeds in ``before``/``after``.
"""

from __future__ import annotations

from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.codegen.files import GeneratedFile, dump_json
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.avro_schema import entity_records

__all__ = ["generate"]


def generate(settings: DictaMeshSettings, registry: AdapterRegistry) -> list[GeneratedFile]:
    records = entity_records(registry.schemas().values(), timestamps=settings.bus.avro_timestamps)
    return [GeneratedFile(f"{r.entity_type}.avsc", dump_json(r.schema)) for r in records]
