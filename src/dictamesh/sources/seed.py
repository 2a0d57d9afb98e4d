"""Deterministic, coherent sample data for the demo sources.

The same seed always gives the same customers, products, invoices and charges; invoices
point at existing customers and products, totals add up, and each charge pays one paid
invoice in full. Timestamps are ISO 8601 UTC with
microseconds and come from a :class:`StoreClock` that never goes backwards.

Example::

    data = generate(seed=42)
    data.customers[0]["id"]          # 1 (Directus-style integer id)
    data.invoices[0]["customer_id"]  # '1' (canonical customer id, a str)
    data.charges[0]["id"]            # 'ch_1' (pays a paid invoice)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dictamesh.sources._store import StoreClock, format_ts, parse_ts

__all__ = [
    "N_CHARGES",
    "N_CUSTOMERS",
    "N_INVOICES",
    "N_PRODUCTS",
    "SeedData",
    "StoreClock",
    "format_ts",
    "generate",
    "parse_ts",
]

N_CUSTOMERS = 50
N_PRODUCTS = 40
N_INVOICES = 150
N_CHARGES = 12

#: seeded records are dated inside this window (before "now", so live writes sort after)
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_WINDOW_SECONDS = 200 * 24 * 3600


_FIRST = [
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances",
    "Edsger", "Radia", "Tim", "Hedy", "John", "Sophie", "Guido", "Anita", "Bjarne",
    "Katherine", "Niklaus", "Shafi", "Donald", "Lucia", "Mateo", "Yuki", "Amara",
]  # fmt: skip
_LAST = [
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
    "Allen", "Dijkstra", "Perlman", "Berners-Lee", "Lamarr", "Backus", "Wilson", "van Rossum",
    "Borg", "Stroustrup", "Johnson", "Wirth", "Goldwasser", "Knuth", "Moreau", "Silva",
]  # fmt: skip
_COMPANIES = [
    "Acme Corp", "Globex", "Initech", "Umbrella Labs", "Stark Industries", "Wayne Enterprises",
    "Hooli", "Vandelay Industries", "Soylent", "Tyrell Systems", None, None,
]  # fmt: skip
# (ISO-2 country, E.164 prefix, cities, currency)
_COUNTRIES = [
    ("DE", "+49", ["Berlin", "Hamburg", "Munich"], "EUR"),
    ("FR", "+33", ["Paris", "Lyon", "Nantes"], "EUR"),
    ("NL", "+31", ["Amsterdam", "Utrecht"], "EUR"),
    ("GB", "+44", ["London", "Leeds", "Bristol"], "GBP"),
    ("US", "+1", ["Austin", "Boston", "Denver"], "USD"),
]
_STREETS = ["Main St", "High St", "Park Ave", "Market St", "Station Rd", "Elm St", "Canal St"]
_CATEGORIES = {
    "hardware": ["Keyboard", "Mouse", "Monitor", "Dock", "Webcam", "Headset"],
    "software": ["IDE License", "Backup Suite", "VPN Seat", "Design Tool"],
    "services": ["Onboarding", "Support Plan", "Training Day"],
    "accessories": ["Cable", "Laptop Sleeve", "Stand", "Adapter"],
}
_ADJECTIVES = ["Pro", "Lite", "Max", "Mini", "Plus", "Classic", "Ultra", "Eco"]
_INVOICE_STATUSES = ["draft", "open", "paid", "paid", "paid", "void"]


@dataclass
class SeedData:
    customers: list[dict[str, Any]]
    products: list[dict[str, Any]]
    invoices: list[dict[str, Any]]
    #: the newest timestamp in the data; a store clock must start after it
    latest: datetime
    #: payments taken for paid invoices (the payments source)
    charges: list[dict[str, Any]] = field(default_factory=list)


def _moment(rng: random.Random, after: datetime | None = None) -> datetime:
    start = after or _EPOCH
    end = _EPOCH + timedelta(seconds=_WINDOW_SECONDS)
    span = max(1, int((end - start).total_seconds()))
    return start + timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(1_000_000))


def _customers(rng: random.Random) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n in range(1, N_CUSTOMERS + 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        country, prefix, cities, _ = rng.choice(_COUNTRIES)
        created = _moment(rng)
        updated = _moment(rng, after=created)
        handle = f"{first}.{last}".lower().replace(" ", "").replace("-", "")
        out.append(
            {
                "id": n,
                "first_name": first,
                "last_name": last,
                "email": f"{handle}.{n}@example.com",
                "phone": f"{prefix}{rng.randrange(10**8, 10**9)}{rng.randrange(10)}",
                "company": rng.choice(_COMPANIES),
                "country": country,
                "address": {
                    "street": f"{rng.randrange(1, 200)} {rng.choice(_STREETS)}",
                    "city": rng.choice(cities),
                    "postal_code": f"{rng.randrange(10000, 99999)}",
                },
                # customer 1 is the demo's customer: always live
                "status": "archived" if n > 1 and rng.random() < 0.1 else "published",
                "date_created": format_ts(created),
                "date_updated": format_ts(updated),
                "version": rng.randrange(1, 4),
            }
        )
    return out


def _products(rng: random.Random) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    categories = sorted(_CATEGORIES)
    for n in range(1001, 1001 + N_PRODUCTS):
        category = rng.choice(categories)
        name = f"{rng.choice(_CATEGORIES[category])} {rng.choice(_ADJECTIVES)}"
        out.append(
            {
                "id": f"prd_{n}",
                "sku": f"SKU-{n}",
                "name": name,
                "category": category,
                "price_cents": rng.randrange(500, 50_000, 5),
                "currency": "EUR",
                "stock": rng.randrange(0, 500),
                "active": rng.random() > 0.1,
                "updated_at": format_ts(_moment(rng)),
                "deleted_at": None,
                "version": rng.randrange(1, 4),
            }
        )
    return out


def _invoices(
    rng: random.Random, customers: list[dict[str, Any]], products: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    live = [c for c in customers if c["status"] == "published"]
    sellable = [p for p in products if p["active"]]
    currency_of = {c[0]: c[3] for c in _COUNTRIES}
    for n in range(1, N_INVOICES + 1):
        # the first three invoices belong to customer 1, so the demo has something to show
        customer = customers[0] if n <= 3 else rng.choice(live)
        issued = _moment(rng)
        updated = _moment(rng, after=issued)
        items = []
        for line, product in enumerate(rng.sample(sellable, rng.randrange(1, 5)), start=1):
            items.append(
                {
                    "id": str(line),
                    "product_id": product["id"],
                    "quantity": rng.randrange(1, 6),
                    "unit_price_cents": product["price_cents"],
                }
            )
        number = f"INV-2026-{n:05d}"
        out.append(
            {
                "id": number,
                "invoice_number": number,
                "customer_id": str(customer["id"]),
                "status": rng.choice(_INVOICE_STATUSES),
                "issued_at": format_ts(issued),
                "currency": currency_of.get(customer["country"], "EUR"),
                "line_items": items,
                "total_cents": sum(i["quantity"] * i["unit_price_cents"] for i in items),
                "updated_at": format_ts(updated),
                "deleted_at": None,
                "version": rng.randrange(1, 3),
            }
        )
    return out


def _charges(rng: random.Random, invoices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One succeeded charge for each of the first paid invoices, for its total."""
    out: list[dict[str, Any]] = []
    paid = [i for i in invoices if i["status"] == "paid"][:N_CHARGES]
    for n, invoice in enumerate(paid, start=1):
        created = format_ts(_moment(rng, after=parse_ts(invoice["issued_at"])))
        out.append(
            {
                "id": f"ch_{n}",
                "status": "succeeded",
                "amount_cents": invoice["total_cents"],
                "amount_refunded_cents": 0,
                "refunded": False,
                "currency": invoice["currency"],
                "customer_id": invoice["customer_id"],
                "invoice_id": invoice["id"],
                "idempotency_key": None,
                "created_at": created,
                "updated_at": created,
                "version": 1,
            }
        )
    return out


def generate(seed: int = 42) -> SeedData:
    """Every data set from one ``random.Random(seed)``: same seed, same data."""
    rng = random.Random(seed)
    customers = _customers(rng)
    products = _products(rng)
    invoices = _invoices(rng, customers, products)
    charges = _charges(rng, invoices)  # drawn last: the other sets do not change with it
    stamps = (
        [c["date_updated"] for c in customers]
        + [p["updated_at"] for p in products]
        + [i["updated_at"] for i in invoices]
        + [c["updated_at"] for c in charges]
    )
    latest = max(parse_ts(s) for s in stamps)
    return SeedData(customers, products, invoices, latest=latest, charges=charges)
