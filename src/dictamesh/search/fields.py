"""Which attributes of an entity are embedded, and the text made of them.

An entity's text is its chosen fields' values: ``search.fields[entity_type]`` when set,
else every string attribute of its schema but identifiers (``id``, ``*_id``). Whatever is
chosen, a field **some** caller could be kept from reading in clear is never part of it
(:meth:`~dictamesh.governance.policy.PolicyEngine.could_restrict_read`: every classified
field, and an unclassified one a field- or tag-level ``deny read`` rule could apply to).

Why the union over every principal and not the caller's own view: vectors are computed
once, at ingest, for everyone. A vector holding a value one caller may not read would let
that value move their scores and orderings (asking "near 'Berlin'" would rank the
customers by a hidden address). So the embedded text is what *every* caller may read;
entity-level rules need no such care, since a caller denied the entity sees none of its
hits.

Only top-level attributes are embedded (nested item lists are entities of their own).
Without a schema nothing is known to be safe but the configured names, which are checked
against the policy as public fields.

Example::

    chooser = FieldChooser(policy, settings.search.fields)
    text = chooser.text(schema, "customer", attributes)      # "" when nothing to embed
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from dictamesh.core.models import Classification, EntitySchema, FieldType
from dictamesh.governance.policy import PolicyEngine, Resource

__all__ = ["FieldChooser", "text_hash"]

#: most characters of one entity's text that is embedded (the rest is cut)
MAX_TEXT_CHARS = 200_000


def _is_identifier(name: str) -> bool:
    """Ids and references (``id``, ``customer_id``) carry no meaning to embed; the text
    search finds entities by id."""
    return name == "id" or name.endswith("_id")


def text_hash(text: str, *, chunk_chars: int, chunk_overlap: int) -> str:
    """What identifies the vectors of ``text``: its hash with the chunking that cut it (a
    new chunk size re-embeds, as a changed text does)."""
    digest = hashlib.sha256(f"{chunk_chars}:{chunk_overlap}\n".encode())
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


class FieldChooser:
    """Chooses the embedded fields per entity type (remembered per schema version)."""

    def __init__(self, policy: PolicyEngine, configured: Mapping[str, Sequence[str]]) -> None:
        self.policy = policy
        self.configured = {k: list(v) for k, v in configured.items()}
        self._chosen: dict[tuple[str, str | None, int | None], tuple[str, ...]] = {}

    def fields(self, entity_type: str, schema: EntitySchema | None) -> tuple[str, ...]:
        """The names embedded for ``entity_type``, in order."""
        key = (entity_type, schema.domain if schema else None, schema.version if schema else None)
        found = self._chosen.get(key)
        if found is None:
            found = self._chosen[key] = self._choose(entity_type, schema)
        return found

    def _choose(self, entity_type: str, schema: EntitySchema | None) -> tuple[str, ...]:
        configured = self.configured.get(entity_type)
        if schema is None:
            names = configured or []
            specs: dict[str, Any] = {}
        else:
            specs = {spec.name: spec for spec in schema.fields}
            if configured is not None:
                names = [n for n in configured if n in specs]
            else:
                names = [
                    s.name
                    for s in schema.fields
                    if s.type is FieldType.STRING and not _is_identifier(s.name)
                ]
        chosen: list[str] = []
        for name in names:
            spec = specs.get(name)
            classification = spec.classification if spec is not None else Classification.PUBLIC
            resource = Resource(
                entity_type, schema.domain if schema else None, name, classification
            )
            if not self.policy.could_restrict_read(resource):
                chosen.append(name)
        return tuple(chosen)

    def text(
        self, entity_type: str, schema: EntitySchema | None, attributes: Mapping[str, Any]
    ) -> str:
        """The entity's text: its type, then each chosen field's value, one per line
        (empty when no chosen field has a value)."""
        parts: list[str] = []
        for name in self.fields(entity_type, schema):
            value = attributes.get(name)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and item.strip():
                    parts.append(" ".join(item.split()))
                elif isinstance(item, int | float) and not isinstance(item, bool):
                    parts.append(str(item))
        if not parts:
            return ""
        text = "\n".join([entity_type.replace("_", " "), *parts])[:MAX_TEXT_CHARS]
        # no provider takes NUL or a lone surrogate (JSON allows both)
        return text.replace("\x00", " ").encode("utf-8", "ignore").decode("utf-8")
