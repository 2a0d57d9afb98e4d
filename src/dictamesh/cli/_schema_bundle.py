"""The schemas a mesh offers, as one bundle: what ``dictamesh schema export`` writes and what
``dictamesh schema check|diff --against`` compares with.

A bundle holds any of: the GraphQL SDL the node serves at ``/graphql``; each adapter
topic's Avro value schema under its subject (``<topic>-value``, as the node registers it);
the entity schemas (``/api/v1/schemas``). :func:`current_bundle` builds it from a config
without connecting to anything; :func:`read_baseline` reads one from a file, a directory
or a running node; only the parts a baseline has are compared.

Files: a JSON bundle (``{"format": "dictamesh-schema-bundle", ...}``); a directory with
``schema.graphql``, ``avro/<subject>.avsc`` and ``entities/<type>.json``; a single
``.graphql`` file; a single ``<subject>.avsc``; or a GraphQL introspection result (JSON).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, unquote

import pydantic

from dictamesh.core.errors import DictaMeshError, ValidationError
from dictamesh.core.models import EntitySchema

if TYPE_CHECKING:
    from dictamesh.core.settings import DictaMeshSettings

__all__ = [
    "BUNDLE_FORMAT",
    "BaselineError",
    "SchemaBundle",
    "current_bundle",
    "read_baseline",
    "write_bundle",
]

BUNDLE_FORMAT: Final = "dictamesh-schema-bundle"
_SDL_SUFFIXES: Final = (".graphql", ".graphqls", ".gql", ".sdl")


class BaselineError(DictaMeshError):
    """The baseline cannot be read: a missing or malformed file, an unreachable node."""


@dataclass
class SchemaBundle:
    """Schemas by kind; ``None``: the kind is not in this bundle (not compared)."""

    graphql: str | None = None
    #: subject → Avro schema text
    avro: dict[str, str] | None = None
    entities: dict[str, EntitySchema] | None = None
    #: compare only the Avro subjects this bundle has (a single ``.avsc`` baseline)
    only_its_subjects: bool = False

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"format": BUNDLE_FORMAT, "version": 1}
        if self.graphql is not None:
            document["graphql"] = self.graphql
        if self.avro is not None:
            document["avro"] = {s: json.loads(t) for s, t in sorted(self.avro.items())}
        if self.entities is not None:
            document["entities"] = {
                t: s.model_dump(mode="json") for t, s in sorted(self.entities.items())
            }
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any], where: str) -> SchemaBundle:
        if document.get("format") != BUNDLE_FORMAT:
            raise BaselineError(f'{where}: not a schema bundle (no "format": {BUNDLE_FORMAT!r})')
        graphql = document.get("graphql")
        if graphql is not None and not isinstance(graphql, str):
            raise BaselineError(f'{where}: "graphql" must be SDL text')
        avro = document.get("avro")
        if avro is not None and not isinstance(avro, dict):
            raise BaselineError(f'{where}: "avro" must map subjects to schemas')
        entities = document.get("entities")
        if entities is not None and not isinstance(entities, dict):
            raise BaselineError(f'{where}: "entities" must map entity types to schemas')
        return cls(
            graphql=graphql,
            avro=None if avro is None else {s: _schema_text(v) for s, v in avro.items()},
            entities=None if entities is None else _entities(entities.values(), where),
        )


def _schema_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _entities(items: Any, where: str) -> dict[str, EntitySchema]:
    try:
        schemas = [EntitySchema.model_validate(item) for item in items]
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise BaselineError(f"{where}: not an entity schema: {loc}: {first['msg']}") from None
    return {s.entity_type: s for s in schemas}


# --- the current schemas ------------------------------------------------------------------


def current_bundle(settings: DictaMeshSettings) -> SchemaBundle:
    """The schemas a node with ``settings`` serves: adapters are built, not connected.

    Raises :class:`~dictamesh.core.errors.ConfigurationError` for an adapter that cannot be
    built or schemas that cannot be turned into GraphQL or Avro."""
    from dictamesh.adapters.registry import AdapterRegistry
    from dictamesh.api.served_schema import served_sdl
    from dictamesh.core.bus_config import Envelope, topic_settings_for
    from dictamesh.events.avro import TopicNameStrategy
    from dictamesh.events.avro_schema import (
        change_event_value_schema,
        debezium_value_schema,
        entity_records,
    )

    registry = AdapterRegistry.configured(settings.adapters)
    by_topic: dict[str, list[EntitySchema]] = {}
    for adapter in registry.adapters():
        topic = adapter.source.change_topic
        by_topic.setdefault(topic, []).append(adapter.get_schema())
    avro: dict[str, str] = {}
    for topic, schemas in sorted(by_topic.items()):
        entry = topic_settings_for(settings.bus.topics, topic)
        records = entity_records(schemas, timestamps=settings.bus.avro_timestamps)
        debezium = entry is not None and entry.envelope is Envelope.DEBEZIUM
        value = debezium_value_schema(records) if debezium else change_event_value_schema(records)
        # the text TypedAvroEventSerializer.register_topic sends
        avro[TopicNameStrategy(topic, "")] = json.dumps(value, separators=(",", ":"))
    return SchemaBundle(
        graphql=served_sdl(settings, registry), avro=avro, entities=dict(registry.schemas())
    )


# --- reading a baseline -------------------------------------------------------------------


def read_baseline(
    against: str,
    *,
    token: str | None = None,
    api_key: str | None = None,
    timeout: float = 10.0,
) -> SchemaBundle:
    """The bundle at ``against``: an ``http(s)://`` node URL (called with a bearer
    ``token`` or an ``api_key``, if given), or a file or directory."""
    if against.startswith(("http://", "https://")):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if api_key:
            headers["X-API-Key"] = api_key
        return asyncio.run(_read_node(against, headers, timeout))
    path = Path(against)
    try:
        if path.is_dir():
            return _read_directory(path)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"cannot read baseline {against}: {exc}") from exc
    if path.suffix.lower() in _SDL_SUFFIXES:
        return SchemaBundle(graphql=text)
    if path.suffix.lower() == ".avsc":
        return SchemaBundle(avro={unquote(path.stem): text}, only_its_subjects=True)
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise BaselineError(
            f"{against}: neither SDL (.graphql), Avro (.avsc) nor JSON: {exc}"
        ) from exc
    if isinstance(document, dict):
        data = document.get("data", document)
        if isinstance(data, dict) and "__schema" in data:
            return SchemaBundle(graphql=_sdl_from_introspection(data, against))
        return SchemaBundle.from_json(document, against)
    raise BaselineError(f"{against}: not a schema bundle (a JSON object is expected)")


def _sdl_from_introspection(data: Mapping[str, Any], where: str) -> str:
    from dictamesh.gateway.sdl_diff import sdl_from_introspection

    try:
        return sdl_from_introspection(data)
    except ValidationError as exc:
        raise BaselineError(f"{where}: {exc.message}") from exc


def _read_directory(path: Path) -> SchemaBundle:
    bundle = SchemaBundle()
    sdl = path / "schema.graphql"
    if sdl.is_file():
        bundle.graphql = sdl.read_text(encoding="utf-8")
    if (path / "avro").is_dir():
        bundle.avro = {
            unquote(f.stem): f.read_text(encoding="utf-8")
            for f in sorted((path / "avro").glob("*.avsc"))
        }
    if (path / "entities").is_dir():
        items = []
        for file in sorted((path / "entities").glob("*.json")):
            try:
                items.append(json.loads(file.read_text(encoding="utf-8")))
            except ValueError as exc:
                raise BaselineError(f"{file}: not JSON: {exc}") from exc
        bundle.entities = _entities(items, str(path / "entities"))
    if bundle.graphql is None and bundle.avro is None and bundle.entities is None:
        raise BaselineError(
            f"{path}: no schema.graphql, avro/ or entities/ in this directory"
            " (write one with `dictamesh schema export -o DIR`)"
        )
    return bundle


async def _read_node(url: str, headers: dict[str, str], timeout: float) -> SchemaBundle:
    """A running node's schemas: ``/graphql`` introspection, ``/schema-registry`` latest
    versions, ``/api/v1/schemas``. A registry or REST API the node does not serve (404) is
    left out of the comparison."""
    import httpx

    from dictamesh.gateway.sdl_diff import INTROSPECTION_QUERY

    base = url.rstrip("/").removesuffix("/graphql")
    try:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=timeout) as http:
            answer = await http.post("/graphql", json={"query": INTROSPECTION_QUERY})
            _ok(answer)
            body = answer.json()
            if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
                errors = body.get("errors") if isinstance(body, dict) else None
                raise BaselineError(
                    f"cannot read baseline {base}/graphql: no introspection answer"
                    f" ({json.dumps(errors)[:200] if errors else 'no data'})"
                )
            sdl = _sdl_from_introspection(body["data"], f"{base}/graphql")
            return SchemaBundle(
                graphql=sdl,
                avro=await _node_subjects(http),
                entities=await _node_entities(http),
            )
    except httpx.HTTPError as exc:
        raise BaselineError(f"cannot read baseline {base}: {type(exc).__name__}: {exc}") from exc
    except ValueError as exc:  # a body that is not JSON
        raise BaselineError(f"cannot read baseline {base}: an answer is not JSON: {exc}") from exc
    except (KeyError, TypeError, AttributeError) as exc:  # JSON, but not a node's answer
        raise BaselineError(
            f"cannot read baseline {base}: an answer is not what a DictaMesh node sends"
            f" ({type(exc).__name__}: {exc})"
        ) from exc


def _ok(answer: Any) -> None:
    if answer.status_code in (401, 403):
        raise BaselineError(
            f"cannot read baseline {answer.request.url}: HTTP {answer.status_code}"
            " (pass --token or --api-key, or set DICTAMESH_TOKEN or DICTAMESH_API_KEY)"
        )
    if answer.status_code >= 400:
        raise BaselineError(f"cannot read baseline {answer.request.url}: HTTP {answer.status_code}")


async def _node_subjects(http: Any) -> dict[str, str] | None:
    answer = await http.get("/schema-registry/subjects")
    if answer.status_code == 404:
        return None
    _ok(answer)
    names = answer.json()
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise TypeError("/schema-registry/subjects is not a list of subjects")
    subjects: dict[str, str] = {}
    for subject in names:
        path = f"/schema-registry/subjects/{quote(subject, safe='')}/versions/latest"
        latest = await http.get(path)
        _ok(latest)
        body = latest.json()
        if body.get("schemaType", "AVRO") == "AVRO":
            subjects[subject] = body["schema"]
    return subjects


async def _node_entities(http: Any) -> dict[str, EntitySchema] | None:
    answer = await http.get("/api/v1/schemas")
    if answer.status_code == 404:
        return None
    _ok(answer)
    return _entities(answer.json().get("schemas", []), str(answer.request.url))


# --- writing a bundle ---------------------------------------------------------------------


def write_bundle(bundle: SchemaBundle, out: Path) -> list[Path]:
    """Write ``bundle`` to ``out``: a ``.json`` file, else a directory (created; it must
    be empty or absent, nothing is overwritten). The files written."""
    if out.suffix.lower() == ".json":
        out.write_text(json.dumps(bundle.to_json(), indent=2, ensure_ascii=False) + "\n")
        return [out]
    files: dict[Path, str] = {}
    if bundle.graphql is not None:
        files[out / "schema.graphql"] = bundle.graphql
    for subject, text in sorted((bundle.avro or {}).items()):
        files[out / "avro" / f"{quote(subject, safe='')}.avsc"] = (
            json.dumps(json.loads(text), indent=2) + "\n"
        )
    for entity_type, schema in sorted((bundle.entities or {}).items()):
        files[out / "entities" / f"{entity_type}.json"] = (
            json.dumps(schema.model_dump(mode="json"), indent=2) + "\n"
        )
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)
