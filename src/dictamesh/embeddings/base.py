"""The contract every embedding provider keeps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol, runtime_checkable

from dictamesh.core.errors import DictaMeshError

__all__ = ["EmbeddingProvider", "EmbeddingProviderError"]


class EmbeddingProviderError(DictaMeshError):
    """The provider could not embed (model missing, endpoint down or refusing)."""

    code: ClassVar[str] = "EMBEDDING_PROVIDER_ERROR"
    http_status: ClassVar[int] = 503


@runtime_checkable
class EmbeddingProvider(Protocol):
    """Turns texts into unit-length vectors of ``dimensions`` floats.

    ``embed`` never blocks the event loop (CPU-bound models run in a thread) and returns one
    vector per text, in order. Vectors are L2-normalised, so cosine similarity is a dot
    product and pgvector's ``<=>`` (cosine distance) and ``<#>`` agree on the order.
    """

    #: registry name (``wordllama``...) and model, stored with each vector so a model change
    #: is seen and the catalog re-embedded
    name: str
    model: str
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def aclose(self) -> None: ...
