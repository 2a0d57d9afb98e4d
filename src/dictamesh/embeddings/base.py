"""The contract every embedding provider keeps.

Example::

    provider = provider_from_settings(settings.search.embeddings)   # None when "off"
    [vector] = await provider.embed(["customer in Lisbon"])          # 256 floats, |v| = 1
    await provider.aclose()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol, runtime_checkable

from dictamesh.core.errors import DictaMeshError

__all__ = ["EmbeddingProvider", "EmbeddingProviderError"]


class EmbeddingProviderError(DictaMeshError):
    """The provider could not embed (model missing, endpoint down or refusing). The message
    never carries a credential or the texts being embedded."""

    code: ClassVar[str] = "EMBEDDING_PROVIDER_ERROR"
    http_status: ClassVar[int] = 503


@runtime_checkable
class EmbeddingProvider(Protocol):
    """Turns texts into unit-length vectors of ``dimensions`` floats.

    ``embed`` never blocks the event loop (CPU-bound models run in a thread) and returns one
    vector per text, in order. Vectors are L2-normalised, so cosine similarity is a dot
    product and pgvector's ``<=>`` (cosine distance) and ``<#>`` agree on the order.

    Bad input (an empty or whitespace-only text, one longer than
    ``search.embeddings.max_text_chars``, NUL or a lone surrogate) raises
    :class:`~dictamesh.core.inputs.InvalidInput` (400) before any model or endpoint sees
    it; a provider failure raises :class:`EmbeddingProviderError` (503).
    """

    #: registry name (``wordllama``...) and model, stored with each vector so a model change
    #: is seen and the catalog re-embedded
    name: str
    model: str
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def aclose(self) -> None: ...
