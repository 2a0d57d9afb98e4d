"""Data product adapters: the contract, the base class with cache and resilience, and the
registry that finds adapter kinds through the ``dictamesh.adapters`` entry-point group.

Example::

    from dictamesh.adapters import AdapterBase, AdapterRegistry

    registry = AdapterRegistry()
    registry.register(registry.build(config, cache=cache))
"""

from dictamesh.adapters.base import AdapterBase, RawPage, RawWrite
from dictamesh.adapters.contract import AdapterCapability, DataProductAdapter, WriteResult
from dictamesh.adapters.registry import AdapterRegistry

__all__ = [
    "AdapterBase",
    "AdapterCapability",
    "AdapterRegistry",
    "DataProductAdapter",
    "RawPage",
    "RawWrite",
    "WriteResult",
]
