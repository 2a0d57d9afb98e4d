"""Schema registry clients: where Avro writers register schemas and readers find them by id.

:class:`SchemaRegistryClient` is the small interface :class:`~dictamesh.events.avro.
AvroEventSerializer` needs. Two implementations:

* :class:`HttpSchemaRegistryClient` speaks the Confluent Schema Registry REST API (the
  DictaMesh catalog serves a compatible one), so Confluent/Karapace/Apicurio-in-compat-mode
  registries work too;
* :class:`InMemorySchemaRegistry` for tests and single-process setups.

Ids are global to a registry: the same schema text registered under two subjects gets one
id, and registering a schema already present under a subject returns its existing id.

Example::

    async with HttpSchemaRegistryClient("http://node:8000/schema-registry") as registry:
        schema_id = await registry.register("customers.directus.entity_changed-value", schema)
        assert await registry.get_by_id(schema_id) == schema
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import httpx

from dictamesh.core.errors import (
    CatalogError,
    NotFoundError,
    SchemaCompatibilityError,
    ValidationError,
)
from dictamesh.core.lifecycle import AsyncResource

__all__ = [
    "SCHEMA_REGISTRY_CONTENT_TYPE",
    "CompatibilityCheck",
    "HttpSchemaRegistryClient",
    "InMemorySchemaRegistry",
    "RegisteredSchema",
    "SchemaRegistryClient",
    "canonical_schema",
]

SCHEMA_REGISTRY_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
CompatibilityCheck = Callable[[list[str], str], "str | None"]
"""``(earlier schema strs, new schema str) -> why it is incompatible, or None``."""

_ACCEPT = (
    "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json; q=0.9,"
    " application/json; q=0.5"
)


@runtime_checkable
class SchemaRegistryClient(Protocol):
    """What a serializer needs from a schema registry."""

    async def register(self, subject: str, schema_str: str, schema_type: str = "AVRO") -> int:
        """Register ``schema_str`` under ``subject`` (idempotent) and return its global id.

        Raises :class:`SchemaCompatibilityError` if the subject's compatibility rule refuses it.
        """
        ...

    async def get_by_id(self, schema_id: int) -> str:
        """The schema text with this id; :class:`NotFoundError` if unknown."""
        ...

    async def get_latest(self, subject: str) -> tuple[int, int, str]:
        """``(id, version, schema_str)`` of the subject's latest version."""
        ...


@dataclass(frozen=True, slots=True)
class RegisteredSchema:
    id: int
    version: int
    subject: str
    schema: str
    schema_type: str = "AVRO"


def canonical_schema(schema_str: str) -> str:
    """A whitespace/key-order independent form, used to recognise an already known schema.

    (Not the full Avro Parsing Canonical Form: doc strings and defaults still count, which
    is what registries do too.) Non-JSON text (e.g. a protobuf schema) is kept as is.
    """
    try:
        parsed = json.loads(schema_str)
    except ValueError:
        return schema_str.strip()
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"))


class InMemorySchemaRegistry:
    """A process-local registry with the same id/version semantics as a real one.

    No compatibility checks are made unless ``compatible`` is given: a callable
    ``(previous_schema_strs, new_schema_str) -> error message | None``.
    """

    def __init__(self, compatible: CompatibilityCheck | None = None) -> None:
        self._by_id: dict[int, tuple[str, str]] = {}
        self._ids_by_canonical: dict[tuple[str, str], int] = {}
        self._subjects: dict[str, list[RegisteredSchema]] = {}
        self._compatible = compatible
        #: number of register/get calls, so tests can assert the serializer caches
        self.calls = 0

    async def register(self, subject: str, schema_str: str, schema_type: str = "AVRO") -> int:
        self.calls += 1
        _check_subject(subject)
        canonical = canonical_schema(schema_str)
        versions = self._subjects.setdefault(subject, [])
        for registered in versions:
            if canonical_schema(registered.schema) == canonical:
                return registered.id
        if versions and self._compatible is not None:
            problem = self._compatible([v.schema for v in versions], schema_str)
            if problem:
                raise SchemaCompatibilityError(
                    f"schema being registered is incompatible with an earlier schema for"
                    f" subject {subject!r}: {problem}",
                    subject=subject,
                )
        schema_id = self._ids_by_canonical.get((schema_type, canonical))
        if schema_id is None:
            schema_id = len(self._by_id) + 1
            self._by_id[schema_id] = (schema_str, schema_type)
            self._ids_by_canonical[(schema_type, canonical)] = schema_id
        version = versions[-1].version + 1 if versions else 1
        versions.append(RegisteredSchema(schema_id, version, subject, schema_str, schema_type))
        return schema_id

    async def get_by_id(self, schema_id: int) -> str:
        self.calls += 1
        try:
            return self._by_id[schema_id][0]
        except KeyError:
            raise NotFoundError(f"schema id {schema_id} not found", schema_id=schema_id) from None

    async def get_latest(self, subject: str) -> tuple[int, int, str]:
        self.calls += 1
        versions = self._subjects.get(subject)
        if not versions:
            raise NotFoundError(f"subject {subject!r} not found", subject=subject)
        latest = versions[-1]
        return latest.id, latest.version, latest.schema

    def subjects(self) -> list[str]:
        return sorted(self._subjects)

    def versions(self, subject: str) -> list[RegisteredSchema]:
        return list(self._subjects.get(subject, []))


class HttpSchemaRegistryClient(AsyncResource):
    """A client for the Confluent Schema Registry REST API (v1), with id/subject caches.

    ``base_url`` is the registry root (``/subjects`` and ``/schemas`` live under it). Pass
    ``client`` to reuse an :class:`httpx.AsyncClient` (e.g. one with a ``MockTransport`` or
    auth); it is then not closed by :meth:`aclose`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout, auth=auth)
        self._headers = {
            "Content-Type": SCHEMA_REGISTRY_CONTENT_TYPE,
            "Accept": _ACCEPT,
            **(headers or {}),
        }
        # Ids are immutable, so both caches never need invalidation.
        self._schemas_by_id: dict[int, str] = {}
        self._ids_by_subject: dict[tuple[str, str, str], int] = {}

    async def register(self, subject: str, schema_str: str, schema_type: str = "AVRO") -> int:
        _check_subject(subject)
        cache_key = (subject, schema_type, canonical_schema(schema_str))
        cached = self._ids_by_subject.get(cache_key)
        if cached is not None:
            return cached
        body = await self._request(
            "POST",
            f"/subjects/{_quote(subject)}/versions",
            json_body={"schema": schema_str, "schemaType": schema_type},
            what=f"registering a schema under subject {subject!r}",
        )
        schema_id = _int_field(body, "id", self.base_url)
        self._ids_by_subject[cache_key] = schema_id
        self._schemas_by_id.setdefault(schema_id, schema_str)
        return schema_id

    async def lookup(self, subject: str, schema_str: str, schema_type: str = "AVRO") -> int | None:
        """The id of ``schema_str`` if already registered under ``subject`` (never registers)."""
        cache_key = (subject, schema_type, canonical_schema(schema_str))
        cached = self._ids_by_subject.get(cache_key)
        if cached is not None:
            return cached
        try:
            body = await self._request(
                "POST",
                f"/subjects/{_quote(subject)}",
                json_body={"schema": schema_str, "schemaType": schema_type},
                what=f"looking up a schema under subject {subject!r}",
            )
        except NotFoundError:
            return None
        schema_id = _int_field(body, "id", self.base_url)
        self._ids_by_subject[cache_key] = schema_id
        return schema_id

    async def get_by_id(self, schema_id: int) -> str:
        cached = self._schemas_by_id.get(schema_id)
        if cached is not None:
            return cached
        body = await self._request(
            "GET", f"/schemas/ids/{int(schema_id)}", what=f"fetching schema id {schema_id}"
        )
        schema = body.get("schema")
        if not isinstance(schema, str):
            raise CatalogError(
                f"schema registry at {self.base_url} answered without a 'schema' string",
                schema_id=schema_id,
            )
        self._schemas_by_id[schema_id] = schema
        return schema

    async def get_latest(self, subject: str) -> tuple[int, int, str]:
        body = await self._request(
            "GET",
            f"/subjects/{_quote(subject)}/versions/latest",
            what=f"fetching the latest schema of subject {subject!r}",
        )
        schema_id = _int_field(body, "id", self.base_url)
        version = _int_field(body, "version", self.base_url)
        schema = body.get("schema")
        if not isinstance(schema, str):
            raise CatalogError(
                f"schema registry at {self.base_url} answered without a 'schema' string",
                subject=subject,
            )
        self._schemas_by_id.setdefault(schema_id, schema)
        return schema_id, version, schema

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _request(
        self, method: str, path: str, *, what: str, json_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        url = self.base_url + path
        content = None if json_body is None else json.dumps(json_body).encode()
        try:
            response = await self._client.request(
                method, url, content=content, headers=self._headers
            )
        except httpx.HTTPError as exc:
            raise CatalogError(
                f"schema registry at {self.base_url} unreachable while {what}: {exc}",
                url=url,
            ) from exc
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.is_success:
            return body
        message = str(body.get("message") or response.reason_phrase or "error")
        error_code = body.get("error_code")
        details: dict[str, Any] = {"status": response.status_code, "url": url}
        if error_code is not None:
            details["registry_error_code"] = error_code
        text = f"schema registry refused {what}: {message}"
        if response.status_code == 404:
            raise NotFoundError(text, **details)
        if response.status_code == 409:
            raise SchemaCompatibilityError(text, **details)
        if response.status_code == 422:
            raise ValidationError(text, **details)
        raise CatalogError(text, **details)


def _quote(subject: str) -> str:
    return quote(subject, safe="")


def _check_subject(subject: str) -> None:
    if not subject or not subject.strip():
        raise ValidationError("schema registry subject must be a non-empty string")


def _int_field(body: dict[str, Any], name: str, base_url: str) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise CatalogError(
            f"schema registry at {base_url} answered without an integer {name!r}",
            body=str(body)[:200],
        )
    return value
