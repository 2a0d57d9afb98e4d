"""What every provider checks and does the same way: input texts, batches, unit vectors."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from dictamesh.core.inputs import InvalidInput, check_text

__all__ = ["batches", "check_texts", "unit"]


def check_texts(texts: Sequence[str], *, max_chars: int) -> list[str]:
    """``texts`` as a list, or :class:`InvalidInput` naming the first bad one by position
    (never by content: it may be a query about someone)."""
    if isinstance(texts, str):  # a str is a Sequence[str]: one vector per character
        raise InvalidInput("texts must be a list of strings, not one string")
    checked = list(texts)
    for i, text in enumerate(checked):
        where = f"texts[{i}]"
        if not isinstance(text, str):
            raise InvalidInput(f"{where} is not a string", index=i)
        if len(text) > max_chars:
            raise InvalidInput(
                f"{where} is longer than {max_chars} characters", index=i, max_chars=max_chars
            )
        if not text.strip():
            # a model has nothing to average: a zero vector has no direction to compare
            raise InvalidInput(f"{where} is empty", index=i)
        check_text(text, where)
    return checked


def batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def unit(vector: Sequence[float]) -> list[float] | None:
    """``vector`` scaled to length 1; ``None`` for a zero or non-finite one (no direction)."""
    norm = math.sqrt(math.fsum(x * x for x in vector))
    if norm == 0.0 or not math.isfinite(norm):
        return None
    return [float(x) / norm for x in vector]
