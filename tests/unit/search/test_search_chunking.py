"""Chunking: word boundaries, sizes, overlap, limits."""

from __future__ import annotations

import itertools

import pytest

from dictamesh.search.chunking import MAX_CHUNKS, chunks


def test_short_text_is_one_chunk_with_whitespace_collapsed() -> None:
    assert chunks("  Acme   Corp\nBerlin ", chunk_chars=100, overlap=10) == ["Acme Corp Berlin"]


def test_blank_text_has_no_chunk() -> None:
    assert chunks(" \n\t ", chunk_chars=100, overlap=10) == []


def test_long_text_is_cut_on_word_boundaries_within_the_size() -> None:
    words = [f"word{i:03d}" for i in range(200)]  # 7 characters each
    out = chunks(" ".join(words), chunk_chars=100, overlap=0)
    assert len(out) > 1
    assert all(len(c) <= 100 for c in out)
    # nothing lost, nothing cut inside a word, nothing repeated without overlap
    assert " ".join(out).split() == words


def test_chunks_overlap_by_whole_words() -> None:
    words = [f"w{i:02d}" for i in range(60)]  # 3 characters each
    out = chunks(" ".join(words), chunk_chars=40, overlap=10)
    for before, after in itertools.pairwise(out):
        head = after.split()[:2]
        assert before.split()[-2:] == head  # the last words (<= 10 chars) begin the next
    assert out[-1].split()[-1] == "w59"


def test_a_word_longer_than_a_chunk_is_cut() -> None:
    out = chunks("x" * 250 + " tail", chunk_chars=100, overlap=0)
    assert out == ["x" * 100, "x" * 100, "x" * 50 + " tail"]


def test_a_huge_overlap_still_advances() -> None:
    out = chunks(" ".join(["abc"] * 100), chunk_chars=20, overlap=10_000)
    assert 1 < len(out) <= MAX_CHUNKS


def test_at_most_max_chunks() -> None:
    out = chunks("word " * 100_000, chunk_chars=100, overlap=0)
    assert len(out) == MAX_CHUNKS


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        chunks("x", chunk_chars=0, overlap=0)
