"""A search request is checked before anything runs: text, mode, filters, limit."""

from __future__ import annotations

import pytest

from dictamesh.core.errors import QueryLimitExceeded, ValidationError
from dictamesh.search.request import MAX_SEARCH_LIMIT, SearchMode, SearchRequest


def test_defaults_and_stripping() -> None:
    request = SearchRequest.checked("  wireless headphones ", default_mode="text")
    assert request.text == "wireless headphones"
    assert request.mode is SearchMode.TEXT
    assert request.limit == 20
    assert SearchRequest.checked("x", mode="HYBRID").mode is SearchMode.HYBRID


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"text": None}, ValidationError),
        ({"text": "   "}, ValidationError),
        ({"text": "x" * 201}, ValidationError),
        ({"text": "x", "mode": "fuzzy"}, ValidationError),
        ({"text": "x", "limit": 0}, ValidationError),
        ({"text": "x", "limit": MAX_SEARCH_LIMIT + 1}, QueryLimitExceeded),
        ({"text": "x", "entity_type": "Customer"}, ValidationError),
        ({"text": "x", "domain": "a-b"}, ValidationError),
        ({"text": "x", "source": "s" * 64}, ValidationError),
    ],
)
def test_bad_requests_are_typed_400s(kwargs: dict[str, object], error: type[Exception]) -> None:
    text = kwargs.pop("text")
    with pytest.raises(error) as raised:
        SearchRequest.checked(text, **kwargs)  # type: ignore[arg-type]
    assert type(raised.value) is error


def test_unknown_mode_names_the_modes() -> None:
    with pytest.raises(ValidationError) as raised:
        SearchRequest.checked("x", mode="vector")
    assert raised.value.details["modes"] == ["text", "semantic", "hybrid"]


def test_depth_exceeds_the_limit_and_filters_take_the_most() -> None:
    assert SearchRequest.checked("x", limit=5).depth == 50
    assert SearchRequest.checked("x", limit=40).depth == 100
    assert SearchRequest.checked("x", limit=5, domain="crm").depth == MAX_SEARCH_LIMIT
    assert SearchRequest.checked("x", limit=5, source="directus").depth == MAX_SEARCH_LIMIT
