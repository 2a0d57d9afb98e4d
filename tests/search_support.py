"""A small deterministic embedding provider for search tests (no model, no download).

:class:`HashingProvider` hashes each word into one of ``dimensions`` buckets (a signed
bag of words), L2-normalised: texts sharing words are close, others far, and the same text
always gives the same vector. It counts what it embedded and can be told to fail.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from dictamesh.core.inputs import InvalidInput
from dictamesh.embeddings.base import EmbeddingProviderError

__all__ = ["HashingProvider", "hashed_vector"]


def hashed_vector(text: str, dimensions: int) -> list[float]:
    vector = [0.0] * dimensions
    for word in text.lower().split():
        digest = hashlib.sha256(word.strip(".,;:!?").encode()).digest()
        bucket = int.from_bytes(digest[:4], "big") % dimensions
        vector[bucket] += 1.0 if digest[4] % 2 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


class HashingProvider:
    name = "hashing"
    model = "words-v1"

    def __init__(self, dimensions: int = 64, *, model: str | None = None) -> None:
        self.dimensions = dimensions
        if model is not None:
            self.model = model
        #: every text embedded, in order
        self.texts: list[str] = []
        self.calls = 0
        #: the next this many calls fail (a provider outage)
        self.fail_calls = 0
        self.closed = False
        #: a text containing this word is refused as invalid input (400)
        self.refuse: str | None = None

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        if self.fail_calls:
            self.fail_calls -= 1
            raise EmbeddingProviderError("the test provider is down")
        if self.refuse is not None:
            for i, t in enumerate(texts):
                if self.refuse in t:
                    raise InvalidInput(f"texts[{i}] gives no direction", index=i)
        self.texts.extend(texts)
        return [hashed_vector(t, self.dimensions) for t in texts]

    async def aclose(self) -> None:
        self.closed = True
