"""CreateInvoiceSaga: reserve the stock, write the invoice, charge the customer — or undo.

Steps (entity types are served by whichever adapters the node has for them)::

    reserve_inventory  product.reserve (per line)      ↺ product.release (per line)
    create_invoice     invoice create                   ↺ invoice.cancel
    charge_customer    payment.charge                   ↺ payment.refund

A payment declined (``card_declined``) cancels the invoice, then releases the stock, in that
order. Every compensation also works when its step's outcome is unknown (the step timed out,
or the node died in it): it finds what the action created by the action's idempotency key,
and does nothing when it finds nothing.

Example::

    record, _ = await engine.start("create_invoice", {
        "customer_id": "1", "currency": "EUR",
        "items": [{"product_id": "prd_1001", "quantity": 2}],
    })
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dictamesh.saga.definition import SagaDefinition, SagaStep, StepContext, StepRetry

__all__ = ["CREATE_INVOICE", "CreateInvoiceInput", "InvoiceLine"]

_Id = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$", max_length=128)
]


class InvoiceLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    product_id: _Id
    quantity: int = Field(ge=1, le=10_000)


class CreateInvoiceInput(BaseModel):
    """What ``createInvoice`` / ``POST /api/v1/sagas/create-invoice`` take."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: _Id
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "EUR"
    items: list[InvoiceLine] = Field(min_length=1, max_length=50)


def _lines(ctx: StepContext) -> list[dict[str, Any]]:
    return list(ctx.input["items"])


async def reserve_inventory(ctx: StepContext) -> dict[str, Any]:
    reservations = []
    for i, line in enumerate(_lines(ctx)):
        product = await ctx.writer.get("product", line["product_id"])
        price = round(float(product.attributes["price"]) * 100)
        result = await ctx.command(
            "product",
            "reserve",
            {"product_id": line["product_id"], "quantity": line["quantity"]},
            call=str(i),
        )
        reservations.append(
            {
                "id": result.data["id"],
                "product_id": line["product_id"],
                "quantity": line["quantity"],
                "unit_price_cents": price,
            }
        )
    return {"reservations": reservations}


async def release_inventory(ctx: StepContext) -> dict[str, Any]:
    done: Mapping[str, Any] = ctx.output("reserve_inventory") or {}
    reserved = list(done.get("reservations") or [])
    released = []
    for i, _line in enumerate(_lines(ctx)):
        payload = (
            {"reservation_id": reserved[i]["id"]}
            if i < len(reserved)
            else {"reserve_key": f"{ctx.action_key}:{i}"}
        )
        result = await ctx.command("product", "release", payload, call=str(i))
        released.append(result.data.get("id"))
    return {"released": released}


async def create_invoice(ctx: StepContext) -> dict[str, Any]:
    reserved = ctx.output("reserve_inventory")["reservations"]
    result = await ctx.create(
        "invoice",
        {
            "customer_id": ctx.input["customer_id"],
            "currency": ctx.input["currency"],
            "items": [
                {
                    "product_id": r["product_id"],
                    "quantity": r["quantity"],
                    "unit_price": r["unit_price_cents"] / 100,
                }
                for r in reserved
            ],
        },
    )
    total = sum(r["quantity"] * r["unit_price_cents"] for r in reserved)
    invoice_id = result.entity.id if result.entity is not None else str(result.data["id"])
    return {"invoice_id": invoice_id, "total_cents": total}


async def cancel_invoice(ctx: StepContext) -> dict[str, Any]:
    created = ctx.output("create_invoice")
    payload = {"invoice_id": created["invoice_id"]} if created else {"create_key": ctx.action_key}
    result = await ctx.command("invoice", "cancel", payload)
    return {"cancelled": result.data.get("id", result.data.get("invoice_id"))}


async def charge_customer(ctx: StepContext) -> dict[str, Any]:
    invoice = ctx.output("create_invoice")
    result = await ctx.command(
        "payment",
        "charge",
        {
            "amount_cents": invoice["total_cents"],
            "currency": ctx.input["currency"],
            "customer_id": ctx.input["customer_id"],
            "invoice_id": invoice["invoice_id"],
        },
    )
    return {"charge_id": result.data["id"], "status": result.data.get("status")}


async def refund(ctx: StepContext) -> dict[str, Any]:
    charged = ctx.output("charge_customer")
    payload = {"charge_id": charged["charge_id"]} if charged else {"charge_key": ctx.action_key}
    result = await ctx.command("payment", "refund", payload)
    return {"refund": result.data.get("id")}


#: calls to sources are retried by the adapters first; these retries are the saga's own
_ACTION_RETRY = StepRetry(max_attempts=4, initial_backoff=0.2, max_backoff=2.0)

CREATE_INVOICE = SagaDefinition(
    name="create_invoice",
    input_model=CreateInvoiceInput,
    description="Reserve inventory, create the invoice, charge the customer; undo on failure.",
    steps=[
        SagaStep(
            "reserve_inventory",
            reserve_inventory,
            release_inventory,
            timeout_seconds=15,
            retry=_ACTION_RETRY,
            writes=("product",),
        ),
        SagaStep(
            "create_invoice",
            create_invoice,
            cancel_invoice,
            timeout_seconds=10,
            retry=_ACTION_RETRY,
            writes=("invoice",),
        ),
        SagaStep(
            "charge_customer",
            charge_customer,
            refund,
            timeout_seconds=10,
            retry=_ACTION_RETRY,
            writes=("payment",),
        ),
    ],
)
