"""Customers from a Directus CMS (``/items/customers``), as ``customer`` entities.

Example::

    config = AdapterConfig(name="customers_directus", kind="customers_directus",
                           base_url="http://127.0.0.1:8055", api_key="directus-demo-token")
    async with DirectusCustomersAdapter(config) as customers:
        ada = await customers.get_entity("1")
        ada.attributes["email"]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from dictamesh.adapters.base import AdapterBase, RawPage
from dictamesh.adapters.http import read_json
from dictamesh.adapters.reference._common import (
    QueryPairs,
    filter_values,
    source_entity,
    source_object,
    timestamp_param,
    unsupported_filter,
    unsupported_sort,
)
from dictamesh.core.errors import SourceResponseError, ValidationError
from dictamesh.core.models import (
    SLA,
    Classification,
    Entity,
    EntitySchema,
    FieldFilter,
    FieldSpec,
    FieldType,
    FilterOp,
    Query,
    SourceRef,
)

__all__ = ["DirectusCustomersAdapter"]

_PATH = "/items/customers"
#: canonical attribute → Directus field (only those the adapter can filter or sort on)
_FIELDS = {
    "id": "id",
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "email",
    "phone": "phone",
    "company": "company",
    "country": "country",
    "status": "status",
    "created_at": "date_created",
    "updated_at": "date_updated",
}
_DATETIMES = {"created_at", "updated_at"}
_OPS = {
    FilterOp.EQ: "_eq",
    FilterOp.IN: "_in",
    FilterOp.GT: "_gt",
    FilterOp.GTE: "_gte",
    FilterOp.LT: "_lt",
    FilterOp.LTE: "_lte",
    FilterOp.CONTAINS: "_contains",
}

_S = FieldType.STRING
_SCHEMA = EntitySchema(
    entity_type="customer",
    domain="customers",
    description="A customer of the company, mastered in the Directus CMS.",
    fields=[
        FieldSpec(name="id", type=_S, required=True),
        FieldSpec(name="first_name", type=_S, classification=Classification.PII_NAME),
        FieldSpec(name="last_name", type=_S, classification=Classification.PII_NAME),
        FieldSpec(name="email", type=_S, required=True, classification=Classification.PII_EMAIL),
        FieldSpec(name="phone", type=_S, classification=Classification.PII_PHONE),
        FieldSpec(name="company", type=_S),
        FieldSpec(name="country", type=_S, description="ISO 3166-1 alpha-2"),
        FieldSpec(name="address", type=FieldType.JSON, classification=Classification.PII_ADDRESS),
        FieldSpec(name="status", type=_S, description="published | archived"),
        FieldSpec(name="created_at", type=FieldType.DATETIME),
        FieldSpec(name="updated_at", type=FieldType.DATETIME),
    ],
)


class DirectusCustomersAdapter(AdapterBase):
    entity_type = "customer"
    source = SourceRef(domain="customers", system="directus")
    source_collection = "customers"
    source_fields = {**_FIELDS, "address": "address"}
    schema = _SCHEMA
    sla = SLA(freshness_seconds=60, availability_target=0.99, latency_p95_ms=300)

    # --- reads --------------------------------------------------------------------------

    async def fetch_one(self, client: httpx.AsyncClient, entity_id: str) -> dict[str, Any] | None:
        if not entity_id.isdigit():
            return None  # Directus ids are integers: nothing else can exist
        body = read_json(await client.get(f"{_PATH}/{entity_id}"), self.name)
        return None if body is None else source_object(body["data"], self.name, "a customer")

    async def fetch_many(
        self, client: httpx.AsyncClient, entity_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        ids = [i for i in dict.fromkeys(entity_ids) if i.isdigit()]
        if not ids:
            return []
        params = {"filter[id][_in]": ",".join(ids), "limit": "-1"}
        return _rows(
            read_json(await client.get(_PATH, params=params), self.name),
            self.name,
        )

    async def fetch_page(self, client: httpx.AsyncClient, query: Query) -> RawPage:
        params: QueryPairs = []
        if query.ids is not None:
            ids = [i for i in query.ids if i.isdigit()]
            if not ids:
                return RawPage(items=[], total=0)
            params.append(("filter[id][_in]", ",".join(ids)))
        filtered = {f.field for f in query.filters}
        for flt in query.filters:
            pair = self._filter_param(flt)
            if pair is None:
                return RawPage(items=[], total=0)  # an id that cannot exist
            params.append(pair)
        if "status" not in filtered:
            # archived customers are deletions: keep them out, so pages stay full
            params.append(("filter[status][_neq]", "archived"))
        sort = []
        for spec in query.sort:
            name = _FIELDS.get(spec.field)
            if name is None:
                raise unsupported_sort(self.name, spec)
            sort.append(f"-{name}" if spec.descending else name)
        if "id" not in [s.lstrip("-") for s in sort]:
            sort.append("id")  # a total order, so offsets page stably
        offset = _offset(query.cursor)
        params += [
            ("sort", ",".join(sort)),
            ("limit", str(query.limit)),
            ("offset", str(offset)),
            ("meta", "filter_count"),
        ]
        body = read_json(await client.get(_PATH, params=params), self.name)
        rows = _rows(body, self.name)
        total = int(body["meta"]["filter_count"])
        end = offset + len(rows)
        return RawPage(
            items=rows, next_cursor=str(end) if rows and end < total else None, total=total
        )

    def _filter_param(self, flt: FieldFilter) -> tuple[str, str] | None:
        name = _FIELDS.get(flt.field)
        if name is None:
            raise unsupported_filter(self.name, flt)
        datetime_field = flt.field in _DATETIMES
        texts = [_text(v, datetime_field=datetime_field) for v in filter_values(flt)]
        if flt.field == "id":
            if flt.op not in (FilterOp.EQ, FilterOp.IN):
                raise unsupported_filter(self.name, flt)
            texts = [t for t in texts if t.isdigit()]
            if not texts:
                return None
        if any("," in t for t in texts) and flt.op is FilterOp.IN:
            raise unsupported_filter(self.name, flt)  # Directus splits _in values on ','
        return f"filter[{name}][{_OPS[flt.op]}]", ",".join(texts)

    # --- change detection -----------------------------------------------------------------

    async def fetch_changed_since(
        self, client: httpx.AsyncClient, watermark: str | None, limit: int
    ) -> list[dict[str, Any]]:
        params = {"sort": "date_updated,id", "limit": str(limit)}
        if watermark is not None:
            params["filter[date_updated][_gte]"] = watermark
        return _rows(
            read_json(await client.get(_PATH, params=params), self.name),
            self.name,
        )

    def watermark_of(self, raw: dict[str, Any]) -> str:
        return str(raw["date_updated"])

    def is_deleted(self, raw: dict[str, Any]) -> bool:
        return raw.get("status") == "archived"

    def parse_webhook(self, payload: Any) -> list[str]:
        if payload.get("collection") != "customers":
            return []
        return [str(key) for key in payload["keys"]]

    # --- transform ------------------------------------------------------------------------

    def transform(self, raw: dict[str, Any]) -> Entity:
        attributes = {
            "id": str(raw["id"]),
            "first_name": raw.get("first_name"),
            "last_name": raw.get("last_name"),
            "email": raw["email"],
            "phone": raw.get("phone"),
            "company": raw.get("company"),
            "country": raw.get("country"),
            "address": raw.get("address"),
            "status": raw.get("status"),
            "created_at": raw.get("date_created"),
            "updated_at": raw.get("date_updated"),
        }
        return source_entity(self, raw, attributes, raw.get("date_updated"))


def _text(value: Any, *, datetime_field: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if datetime_field:
        return timestamp_param(value)
    return str(value)


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit():
        raise ValidationError("invalid cursor for customers", cursor=cursor[:100])
    return int(cursor)


def _rows(body: Any, source: str) -> list[dict[str, Any]]:
    if body is None or not isinstance(body.get("data"), list):
        raise SourceResponseError(f"{source}: expected a Directus list answer", source=source)
    return [source_object(row, source, "a customer") for row in body["data"]]
