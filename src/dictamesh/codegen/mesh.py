"""The adapters of a mesh, built from its settings without connecting to any source."""

from __future__ import annotations

from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.settings import DictaMeshSettings

__all__ = ["load_registry"]


def load_registry(settings: DictaMeshSettings) -> AdapterRegistry:
    """Every configured adapter built (not started: no source is called) and registered.

    Raises :class:`ConfigurationError` when no adapter is configured, a kind is unknown or
    disabled, or two adapters serve one entity type."""
    if not settings.adapters:
        raise ConfigurationError("no adapters configured: codegen reads the adapters' schemas")
    return AdapterRegistry.configured(settings.adapters)
