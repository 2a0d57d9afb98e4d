"""Reciprocal rank fusion: the sums, the order, ties and repeats."""

from __future__ import annotations

import pytest

from dictamesh.search.fusion import fuse, rrf_score


def test_score_is_the_sum_of_reciprocal_ranks() -> None:
    assert rrf_score([1, 3], 60) == pytest.approx(1 / 61 + 1 / 63)
    assert rrf_score([], 60) == 0.0


def test_agreement_beats_one_first_place() -> None:
    fused = fuse({"text": ["a", "b", "c"], "semantic": ["d", "b", "c"]}, k=60)
    # b: 2/62 > c: 2/63 > a = d: 1/61 (a first seen)
    assert [f.key for f in fused] == ["b", "c", "a", "d"]
    b = fused[0]
    assert b.ranks == {"text": 2, "semantic": 2}
    assert b.sources == ["text", "semantic"]
    assert b.score == pytest.approx(2 / 62)
    assert fused[2].ranks == {"text": 1}
    assert fused[2].sources == ["text"]


def test_small_k_lets_a_first_place_win() -> None:
    # with k=1 a first place (1/2) outweighs two third places (2/4): tie broken by
    # first appearance, so the text list's first entity leads
    fused = fuse({"text": ["a", "x", "c"], "semantic": ["b", "y", "c"]}, k=1)
    assert [f.key for f in fused][:3] == ["a", "c", "b"]


def test_normalized_score_is_one_only_for_first_everywhere() -> None:
    fused = fuse({"text": ["a", "b"], "semantic": ["a", "c"]}, k=60)
    assert fused[0].key == "a"
    assert fused[0].normalized == pytest.approx(1.0)
    assert all(0 < f.normalized < 1 for f in fused[1:])
    single = fuse({"text": ["a", "b"]}, k=60)
    assert single[0].normalized == pytest.approx(1.0)
    assert single[1].normalized == pytest.approx((1 / 62) / (1 / 61))


def test_a_repeated_key_counts_once_at_its_best_rank() -> None:
    fused = fuse({"text": ["a", "a", "b"]}, k=10)
    assert [(f.key, f.ranks) for f in fused] == [("a", {"text": 1}), ("b", {"text": 3})]


def test_ties_keep_first_appearance_and_empty_lists_fuse_to_nothing() -> None:
    fused = fuse({"text": ["a"], "semantic": ["b"]}, k=60)
    assert [f.key for f in fused] == ["a", "b"]
    assert fuse({"text": [], "semantic": []}, k=60) == []


def test_k_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        fuse({"text": ["a"]}, k=0)
