"""In-memory data products with call counters, shared by the gateway and API tests.

``MemoryAdapter`` implements the adapter contract over a list of raw records and counts
every source-level call, so tests can assert exactly how many calls a query costs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from dictamesh.adapters.contract import AdapterCapability, DataProductAdapter
from dictamesh.core.errors import EntityNotFound, UnknownEntityType, ValidationError
from dictamesh.core.models import (
    SLA,
    AdapterMetrics,
    ChangeEvent,
    DatasetRef,
    Entity,
    EntitySchema,
    FieldSpec,
    FieldType,
    FilterOp,
    HealthState,
    HealthStatus,
    Lineage,
    LineageEdge,
    Page,
    Query,
    RelationshipSpec,
    SourceRef,
)

CUSTOMER = EntitySchema(
    entity_type="customer",
    domain="customers",
    description="A customer of the shop.",
    fields=[
        FieldSpec(name="name", type=FieldType.STRING, required=True),
        FieldSpec(name="email", type=FieldType.STRING, classification="pii_email"),
        FieldSpec(name="country", type=FieldType.STRING),
        FieldSpec(name="vip", type=FieldType.BOOLEAN),
        FieldSpec(name="created_at", type=FieldType.DATETIME),
        FieldSpec(name="tags", type=FieldType.STRING, many=True),
        FieldSpec(name="preferences", type=FieldType.JSON),
    ],
)
PRODUCT = EntitySchema(
    entity_type="product",
    domain="catalog",
    fields=[
        FieldSpec(name="sku", type=FieldType.STRING, required=True),
        FieldSpec(name="name", type=FieldType.STRING, required=True),
        FieldSpec(name="price", type=FieldType.NUMBER),
        FieldSpec(name="stock", type=FieldType.INTEGER),
    ],
)
INVOICE_ITEM = EntitySchema(
    entity_type="invoice_item",
    domain="billing",
    fields=[
        FieldSpec(name="product_id", type=FieldType.STRING, required=True),
        FieldSpec(name="quantity", type=FieldType.INTEGER, required=True),
        FieldSpec(name="unit_price", type=FieldType.NUMBER),
    ],
    relationships=[RelationshipSpec(name="product", target_type="product", via_field="product_id")],
)
INVOICE = EntitySchema(
    entity_type="invoice",
    domain="billing",
    fields=[
        FieldSpec(name="invoice_number", type=FieldType.STRING, required=True),
        FieldSpec(name="customer_id", type=FieldType.STRING, required=True),
        FieldSpec(name="total", type=FieldType.NUMBER),
        FieldSpec(name="issued_on", type=FieldType.DATE),
    ],
    relationships=[
        RelationshipSpec(
            name="customer",
            target_type="customer",
            via_field="customer_id",
            inverse="invoices",
            relationship_type="billed_to",
        )
    ],
    nested={"items": INVOICE_ITEM},
)

SLA_DEFAULT = SLA(freshness_seconds=60, availability_target=0.99, latency_p95_ms=300)


class MemoryAdapter(DataProductAdapter):
    """A data product over in-memory records (``id`` key + attributes) with call counters."""

    capabilities = frozenset(
        {AdapterCapability.BATCH_GET, AdapterCapability.FILTER, AdapterCapability.WEBHOOKS}
    )

    def __init__(
        self,
        schema: EntitySchema,
        records: Iterable[dict[str, Any]] = (),
        *,
        name: str | None = None,
        system: str = "memory",
        page_size: int | None = None,
    ) -> None:
        self.schema = schema
        self.entity_type = schema.entity_type
        self.name = name or f"{schema.entity_type}s_{system}"
        self.source = SourceRef(domain=schema.domain, system=system)
        self.records = {str(r["id"]): dict(r) for r in records}
        self.calls: Counter[str] = Counter()
        self.queries: list[Query] = []
        self.batches: list[list[str]] = []
        self.webhooks: list[Any] = []
        #: raised by every read while set
        self.fail: BaseException | None = None
        #: the source's own page cap (smaller than the query's limit when set)
        self.page_size = page_size

    def _entity(self, record: dict[str, Any]) -> Entity:
        attributes = {k: v for k, v in record.items() if k != "id"}
        return Entity(
            type=self.entity_type, id=str(record["id"]), attributes=attributes, source=self.source
        )

    def _check(self) -> None:
        if self.fail is not None:
            raise self.fail

    async def get_entity(self, entity_id: str) -> Entity:
        self.calls["get_entity"] += 1
        self._check()
        record = self.records.get(entity_id)
        if record is None:
            raise EntityNotFound(self.entity_type, entity_id)
        return self._entity(record)

    async def get_entities(self, entity_ids: Sequence[str]) -> list[Entity | None]:
        self.calls["get_entities"] += 1
        self.batches.append(list(entity_ids))
        self._check()
        return [self._entity(self.records[i]) if i in self.records else None for i in entity_ids]

    async def query_entities(self, query: Query) -> Page:
        self.calls["query_entities"] += 1
        self.queries.append(query)
        self._check()
        rows = list(self.records.values())
        if query.ids is not None:
            rows = [r for r in rows if str(r["id"]) in query.ids]
        for f in query.filters:
            if f.op is FilterOp.EQ:
                rows = [r for r in rows if r.get(f.field) == f.value]
            elif f.op is FilterOp.IN:
                assert isinstance(f.value, list)
                rows = [r for r in rows if r.get(f.field) in f.value]
            elif f.op is FilterOp.GT:
                try:
                    rows = [r for r in rows if r.get(f.field) is not None and r[f.field] > f.value]
                except TypeError:
                    # a real source answers a type mismatch with a 4xx, not a crash
                    raise ValidationError(f"cannot compare {f.field} with {f.value!r}") from None
            else:
                raise ValidationError(f"filter {f.op.value!r} is not supported", op=f.op.value)
        for s in reversed(query.sort):
            rows.sort(key=lambda r, s=s: str(r.get(s.field) or ""), reverse=s.descending)
        start = int(query.cursor or 0)
        size = min(query.limit, self.page_size or query.limit)
        chunk = rows[start : start + size]
        more = start + size < len(rows)
        return Page(
            items=[self._entity(r) for r in chunk],
            next_cursor=str(start + size) if more else None,
            total=len(rows),
        )

    def get_schema(self) -> EntitySchema:
        return self.schema

    def get_sla(self) -> SLA:
        return SLA_DEFAULT

    def get_lineage(self) -> Lineage:
        return Lineage(
            entity_type=self.entity_type,
            edges=[
                LineageEdge(
                    upstream=DatasetRef(namespace=self.source.system, name=self.entity_type),
                    downstream=DatasetRef(namespace="dictamesh", name=self.entity_type),
                    transformation="transform",
                )
            ],
        )

    async def stream_changes(self) -> AsyncIterator[ChangeEvent]:  # pragma: no cover
        return
        yield

    async def health_check(self) -> HealthStatus:
        return HealthStatus(status=HealthState.HEALTHY)

    def get_metrics(self) -> AdapterMetrics:
        return AdapterMetrics(adapter=self.name, calls=sum(self.calls.values()))

    async def handle_webhook(self, payload: Any) -> int:
        self.webhooks.append(payload)
        if not isinstance(payload, dict) or not isinstance(payload.get("ids"), list):
            raise ValidationError("webhook payload needs an 'ids' list")
        return len(payload["ids"])


class MemoryRegistry:
    """The registry surface the gateway and API use."""

    def __init__(self, adapters: Iterable[DataProductAdapter]) -> None:
        self._adapters = {a.entity_type: a for a in adapters}

    def for_type(self, entity_type: str) -> DataProductAdapter:
        try:
            return self._adapters[entity_type]
        except KeyError:
            raise UnknownEntityType(entity_type, list(self._adapters)) from None

    def by_name(self, name: str) -> DataProductAdapter:
        for adapter in self._adapters.values():
            if adapter.name == name:
                return adapter
        raise KeyError(name)

    def adapters(self) -> list[DataProductAdapter]:
        return list(self._adapters.values())

    def entity_types(self) -> list[str]:
        return sorted(self._adapters)

    def schemas(self) -> dict[str, EntitySchema]:
        return {t: a.get_schema() for t, a in self._adapters.items()}


def shop(
    customers: int = 3,
    invoices_per_customer: int = 2,
    items_per_invoice: int = 3,
    products: int = 4,
) -> tuple[MemoryAdapter, MemoryAdapter, MemoryAdapter]:
    """Customers, their invoices, and products referenced by invoice items."""
    customer_rows = [
        {
            "id": f"c-{c}",
            "name": f"Customer {c}",
            "email": f"c{c}@example.com",
            "country": "DE" if c % 2 else "FR",
            "vip": c == 1,
            "created_at": f"2024-01-0{1 + c % 9}T10:00:00+00:00",
            "tags": ["a", f"t{c}"],
            "preferences": {"newsletter": c % 2 == 0},
        }
        for c in range(1, customers + 1)
    ]
    product_rows = [
        {"id": f"p-{p}", "sku": f"SKU-{p}", "name": f"Product {p}", "price": 10.0 * p, "stock": p}
        for p in range(1, products + 1)
    ]
    invoice_rows = []
    for c in range(1, customers + 1):
        for i in range(1, invoices_per_customer + 1):
            invoice_rows.append(
                {
                    "id": f"inv-{c}-{i}",
                    "invoice_number": f"INV-{c:03d}-{i}",
                    "customer_id": f"c-{c}",
                    "total": 99.5,
                    "issued_on": "2024-03-01",
                    "items": [
                        {
                            "product_id": f"p-{1 + (c + i + k) % products}",
                            "quantity": k + 1,
                            "unit_price": 10.0,
                        }
                        for k in range(items_per_invoice)
                    ],
                }
            )
    return (
        MemoryAdapter(CUSTOMER, customer_rows, name="customers_directus", system="directus"),
        MemoryAdapter(INVOICE, invoice_rows, name="invoices_ecommerce", system="shop"),
        MemoryAdapter(PRODUCT, product_rows, name="products_rest", system="pim"),
    )
