"""What every provider refuses before a model or endpoint sees it, and unit vectors."""

from __future__ import annotations

import math
import re

import pytest

from dictamesh.core.inputs import InvalidInput
from dictamesh.embeddings._texts import batches, check_texts, unit


@pytest.mark.parametrize(
    ("texts", "words"),
    [
        (["fine", ""], "texts[1] is empty"),
        (["   \n\t"], "texts[0] is empty"),
        (["x" * 101], "longer than 100 characters"),
        (["a\x00b"], "texts[0]"),
        (["lone \ud800 half"], "texts[0]"),
        ("a string", "not one string"),
        ([b"bytes"], "texts[0] is not a string"),
    ],
)
def test_bad_texts_are_refused_without_echoing_them(texts: object, words: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(words)) as caught:
        check_texts(texts, max_chars=100)  # type: ignore[arg-type]
    assert caught.value.http_status == 400
    for secret in ("bytes", "half", "a\x00b", "fine"):
        assert secret not in caught.value.message


def test_good_texts_pass_unchanged() -> None:
    assert check_texts(("a", "b c"), max_chars=3) == ["a", "b c"]
    assert check_texts([], max_chars=3) == []


def test_batches_keep_order() -> None:
    assert list(batches(["a", "b", "c", "d", "e"], 2)) == [["a", "b"], ["c", "d"], ["e"]]


def test_unit() -> None:
    v = unit([3.0, 4.0])
    assert v == pytest.approx([0.6, 0.8])
    assert unit([0.0, 0.0]) is None
    assert unit([math.inf, 1.0]) is None
