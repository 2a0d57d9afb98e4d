"""The reference adapters of the demo sources (Directus customers, REST products, e-commerce
invoices, a Stripe-like payment gateway), published as ``dictamesh.adapters`` entry points.

Products (``reserve``/``release``, update, delete), invoices (create, ``cancel``) and payments
(``charge``/``refund``) also write, with idempotency keys (``docs/adapters.md``, "Writes").

The names below are submodules, not imported here: the registry loads one kind without
importing the others.
"""

__all__ = ["customers_directus", "invoices_ecommerce", "payments_gateway", "products_rest"]
