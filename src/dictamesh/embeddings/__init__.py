"""Embedding providers: text in, fixed-size float vectors out (``docs/search.md``).

A provider is a plugin found by name in :mod:`dictamesh.embeddings.registry`, like adapters
and bus backends: ``wordllama`` (the default, a small static model inside its wheel, no
download), ``sentence-transformers`` (a model directory on disk) and ``openai`` (any
OpenAI-compatible ``/embeddings`` endpoint). The catalog's search layer
(:mod:`dictamesh.search`) is their only user; this package knows nothing of entities.

Example::

    provider = provider_from_settings(settings.search.embeddings)   # None when "off"
    vectors = await provider.embed(["customer in Lisbon", "unpaid invoice"])
"""

from dictamesh.embeddings.base import EmbeddingProvider, EmbeddingProviderError
from dictamesh.embeddings.registry import embedding_providers, provider_from_settings

__all__ = [
    "EmbeddingProvider",
    "EmbeddingProviderError",
    "embedding_providers",
    "provider_from_settings",
]
