"""Requests to the routes of an OpenAPI document: random path parameters, query strings
(known parameters and unknown ones) and JSON bodies."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from tests.security.graphql_grammar import REAL_WORDS, junk
from tests.security.graphql_grammar import Alphabet as Values
from tests.security.support import raw_json

Route = tuple[str, str, list[dict[str, Any]]]


def routes_of(document: dict[str, Any], methods: tuple[str, ...] | None = None) -> list[Route]:
    return [
        (method.upper(), path, operation.get("parameters") or [])
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if methods is None or method.upper() in methods
    ]


def encode(value: Any) -> str:
    """A path segment or query value as a client would percent-encode it (lone surrogates
    as their UTF-8-like bytes, which are not valid UTF-8)."""
    text = value if isinstance(value, str) else str(value).lower()
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def param_values(param: dict[str, Any], values: Values) -> st.SearchStrategy[Any]:
    schema = param.get("schema") or {}
    kinds = {s.get("type") for s in schema.get("anyOf", [schema])}
    typed: st.SearchStrategy[Any] = values.text | st.sampled_from(REAL_WORDS)
    if "integer" in kinds or "number" in kinds:
        typed = values.ints | typed
    if "boolean" in kinds:
        typed = st.booleans() | typed
    return typed


@st.composite
def requests(draw: Any, routes: list[Route], values: Values) -> tuple[str, str, bytes | None]:
    method, path, params = draw(st.sampled_from(routes))
    query: list[str] = []
    for param in params:
        if param["in"] == "path":
            path = path.replace(
                "{" + param["name"] + "}", encode(draw(param_values(param, values)))
            )
        elif param["in"] == "query" and draw(st.booleans()):
            query.append(f"{param['name']}={encode(draw(param_values(param, values)))}")
    if draw(st.integers(0, 5)) == 0:  # a parameter the route does not know
        query.append(f"{encode(draw(values.text))}={encode(draw(values.text))}")
    body = raw_json(draw(junk(values))) if method in ("POST", "PUT", "PATCH") else None
    return method, path + ("?" + "&".join(query) if query else ""), body
