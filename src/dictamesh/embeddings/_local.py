"""What the in-process providers share: a model loaded once, lazily, in a thread, and CPU
work off the event loop, ``batch_size`` texts per thread hop, each under the deadline."""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Generic, TypeVar

from dictamesh.core.inputs import InvalidInput
from dictamesh.core.settings import EmbeddingSettings
from dictamesh.embeddings._texts import batches, check_texts
from dictamesh.embeddings.base import EmbeddingProviderError

__all__ = ["LocalProvider"]

M = TypeVar("M")


class LocalProvider(ABC, Generic[M]):
    name: str
    model: str
    dimensions: int

    def __init__(self, settings: EmbeddingSettings) -> None:
        self.dimensions = settings.dimensions
        self._batch_size = settings.batch_size
        self._timeout = settings.timeout_seconds
        self._max_chars = settings.max_text_chars
        self._loaded: M | None = None
        self._lock = threading.Lock()

    @abstractmethod
    def _load(self) -> M:
        """Read the model (runs in a worker thread, once)."""

    @abstractmethod
    def _run(self, model: M, texts: list[str]) -> list[list[float] | None]:
        """Unit vectors of ``texts`` (runs in a worker thread); ``None`` for a text that gave
        no direction (no token the model knows, or tokens that cancel out)."""

    def _model(self) -> M:
        # worker threads: concurrent first calls wait for one load instead of each loading
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _embed_batch(self, texts: list[str]) -> list[list[float] | None]:
        return self._run(self._model(), texts)

    async def load(self) -> None:
        """Load the model now (warm-up before serving); ``embed`` does it when needed."""
        await asyncio.to_thread(self._model)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        checked = check_texts(texts, max_chars=self._max_chars)
        vectors: list[list[float]] = []
        for batch in batches(checked, self._batch_size):
            try:
                async with asyncio.timeout(self._timeout):
                    found = await asyncio.to_thread(self._embed_batch, batch)
            except TimeoutError as exc:
                # the thread cannot be stopped; it finishes alone and its result is dropped
                raise EmbeddingProviderError(
                    f"{self.name}: a batch of {len(batch)} texts took longer than"
                    f" {self._timeout} s",
                    provider=self.name,
                ) from exc
            for vector in found:
                if vector is None:
                    # the input's fault, not the model's: a zero vector has no direction
                    index = len(vectors)
                    raise InvalidInput(
                        f"texts[{index}] has nothing the model can read", index=index
                    )
                vectors.append(vector)
        return vectors

    async def aclose(self) -> None:
        with self._lock:
            self._loaded = None
