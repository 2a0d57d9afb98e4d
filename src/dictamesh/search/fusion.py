"""Reciprocal rank fusion (RRF) of ranked hit lists.

Each list votes ``1 / (k + rank)`` (rank from 1) for each of its entities; an entity's fused
score is the sum of its votes. Only ranks count, so a text score in [0, 1] and a cosine
similarity need no common scale (Cormack, Clarke and Büttcher, SIGIR 2009). ``k`` damps the
head of each list: a larger ``k`` lets agreement between lists outweigh one list's first
place.

Example::

    fused = fuse({"text": [("customer", "1"), ("customer", "2")],
                  "semantic": [("customer", "2")]}, k=60)
    fused[0].key, fused[0].ranks   # ('customer', '2'), {'text': 2, 'semantic': 1}
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Fused", "fuse", "rrf_score"]

K = TypeVar("K", bound=Hashable)


@dataclass
class Fused(Generic[K]):
    """One entity after fusion: its key, which lists found it at which rank, its score."""

    key: K
    #: list name -> 1-based rank in that list
    ranks: dict[str, int] = field(default_factory=dict)
    #: sum of ``1 / (k + rank)`` over the lists that found it
    score: float = 0.0
    #: ``score`` divided by the best score possible (first in every list): in (0, 1]
    normalized: float = 0.0

    @property
    def sources(self) -> list[str]:
        """The lists that found it, in the order the lists were given."""
        return list(self.ranks)


def rrf_score(ranks: Sequence[int], k: int) -> float:
    """``sum(1 / (k + r))`` over 1-based ``ranks``."""
    if k < 1:
        raise ValueError("rrf k must be at least 1")
    return sum(1.0 / (k + r) for r in ranks)


def fuse(lists: Mapping[str, Sequence[K]], k: int) -> list[Fused[K]]:
    """The keys of every list, fused by RRF, best first.

    A key repeated within one list counts at its first (best) rank only. Ties keep the
    order of first appearance (lists in the order given, then by rank), so the result is
    deterministic.
    """
    if k < 1:
        raise ValueError("rrf k must be at least 1")
    found: dict[K, Fused[K]] = {}
    for name, keys in lists.items():
        for rank, key in enumerate(keys, start=1):
            hit = found.setdefault(key, Fused(key))
            if name not in hit.ranks:
                hit.ranks[name] = rank
                hit.score += 1.0 / (k + rank)
    best = rrf_score([1] * len(lists), k) if lists else 1.0
    order = {key: i for i, key in enumerate(found)}
    fused = sorted(found.values(), key=lambda f: (-f.score, order[f.key]))
    for hit in fused:
        hit.normalized = min(1.0, hit.score / best)
    return fused
