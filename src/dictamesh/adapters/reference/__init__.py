"""The reference adapters of the demo sources (Directus customers, REST products, e-commerce
invoices), published as ``dictamesh.adapters`` entry points.

The names below are submodules, not imported here: the registry loads one kind without
importing the others.
"""

__all__ = ["customers_directus", "invoices_ecommerce", "products_rest"]
