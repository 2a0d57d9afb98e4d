"""Cutting long text into overlapping chunks on word boundaries.

Each chunk holds at most ``chunk_chars`` characters of whole words (a single word longer
than that is cut) and begins with the last words, up to ``overlap`` characters, of the
chunk before, so a phrase cut at a boundary is still whole in one of them. Short text is
one chunk. An entity's search score is its best chunk's (:mod:`dictamesh.search.store`).

Example::

    chunks("a long description ...", chunk_chars=1000, overlap=100)
"""

from __future__ import annotations

__all__ = ["MAX_CHUNKS", "chunks"]

#: most chunks of one text: the rest of a longer text is not embedded
MAX_CHUNKS = 64


def chunks(text: str, *, chunk_chars: int, overlap: int) -> list[str]:
    """``text`` in chunks (none for blank text)."""
    if chunk_chars < 1 or overlap < 0:
        raise ValueError("chunk_chars must be positive and overlap not negative")
    overlap = min(overlap, chunk_chars // 2)  # else a window could fail to advance
    words: list[str] = []
    for word in text.split():
        # a word longer than a chunk is cut into chunk-sized pieces
        words.extend(word[i : i + chunk_chars] for i in range(0, len(word), chunk_chars))
    if not words:
        return []
    out: list[str] = []
    start = 0
    while start < len(words) and len(out) < MAX_CHUNKS:
        end, size = start, 0
        while end < len(words) and size + len(words[end]) + (end > start) <= chunk_chars:
            size += len(words[end]) + (end > start)
            end += 1
        out.append(" ".join(words[start:end]))
        if end >= len(words):
            break
        # the next chunk repeats the last words of this one, up to ``overlap`` characters
        back, kept = end, 0
        while back - 1 > start and kept + len(words[back - 1]) + 1 <= overlap:
            back -= 1
            kept += len(words[back]) + 1
        start = back
    return out
