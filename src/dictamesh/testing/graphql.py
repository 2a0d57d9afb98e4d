"""A small GraphQL client for tests: real HTTP requests into an ASGI app, no server.

Example::

    gql = GraphQLTestClient(create_app(ctx))
    result = await gql.query('query($id: ID!) { customer(id: $id) { name } }', {"id": "c-1"})
    assert result.data == {"customer": {"name": "Ada"}}
    assert result.error_codes == []
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.types import ASGIApp

__all__ = ["GraphQLResult", "GraphQLTestClient"]


@dataclass(frozen=True)
class GraphQLResult:
    """One GraphQL response as received over HTTP."""

    status_code: int
    data: dict[str, Any] | None
    errors: list[dict[str, Any]] = field(default_factory=list)
    extensions: dict[str, Any] | None = None

    @property
    def error_codes(self) -> list[str]:
        """``extensions.code`` of every error, in order."""
        return [str((e.get("extensions") or {}).get("code")) for e in self.errors]

    def errors_at(self, *path: str | int) -> list[dict[str, Any]]:
        """Errors whose ``path`` starts with ``path``."""
        return [e for e in self.errors if list(e.get("path") or [])[: len(path)] == list(path)]

    def raise_for_errors(self) -> GraphQLResult:
        if self.errors:
            raise AssertionError(f"GraphQL errors: {self.errors}")
        return self


class GraphQLTestClient:
    """Posts queries to ``path`` of an ASGI app through ``httpx.ASGITransport``."""

    def __init__(
        self, app: ASGIApp, *, path: str = "/graphql", headers: Mapping[str, str] | None = None
    ) -> None:
        self.app = app
        self.path = path
        self.headers = dict(headers or {})

    async def query(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        operation_name: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> GraphQLResult:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = dict(variables)
        if operation_name is not None:
            payload["operationName"] = operation_name
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.post(
                self.path, json=payload, headers={**self.headers, **(headers or {})}
            )
        body = response.json()
        if not isinstance(body, dict):
            raise AssertionError(f"not a GraphQL response: {body!r}")
        errors: Sequence[dict[str, Any]] = body.get("errors") or []
        return GraphQLResult(
            status_code=response.status_code,
            data=body.get("data"),
            errors=list(errors),
            extensions=body.get("extensions"),
        )
