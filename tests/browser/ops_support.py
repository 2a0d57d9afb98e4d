"""A variant of the browser tests' mesh (``tests/browser/mesh.py``) for the operations pages:
the same node, served a second time on its loop by an app with a third API key, for the user
the demo's notification rule writes to (its in-app inbox; the mesh's ``reader`` and ``admin``
keys work unchanged).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import dictamesh.node as node_module
from dictamesh._serving import serve_in_process
from dictamesh.api.context import ApiContext
from dictamesh.auth import hash_api_key
from dictamesh.core.settings import ApiKeyConfig, AuthSettings
from dictamesh.demo import DEMO_USER
from tests.browser.mesh import ADMIN_KEY, RunningMesh

INBOX_KEY = "browser-inbox-key-5d2a9e7c13"


@dataclasses.dataclass
class OpsSite:
    """Where the operations pages are served, over ``mesh``'s node."""

    url: str
    mesh: RunningMesh


def _auth(auth: AuthSettings) -> AuthSettings:
    key = ApiKeyConfig(sha256=hash_api_key(INBOX_KEY), subject=DEMO_USER, roles=["reader"])
    return auth.model_copy(update={"api_keys": [*auth.api_keys, key]})


def _variant(create_app: Any) -> Any:
    def create(ctx: ApiContext) -> Any:
        changes: dict[str, Any] = {}
        if isinstance(ctx.auth, AuthSettings):
            changes["auth"] = _auth(ctx.auth)
        return create_app(dataclasses.replace(ctx, **changes))

    return create


@contextlib.contextmanager
def ops_site(mesh: RunningMesh) -> Iterator[OpsSite]:
    node = mesh.node
    stack = contextlib.AsyncExitStack()

    async def start() -> str:
        original = node_module.create_app
        node_module.create_app = _variant(original)
        try:
            app = node.asgi_app()
        finally:
            node_module.create_app = original
        url: str = await stack.enter_async_context(
            serve_in_process(app, "127.0.0.1", 0, what="operations pages node")
        )
        return url

    url = mesh.run(start)
    try:
        # the node passes its bus: the dead-letter routes are served (else every DLQ check is moot)
        answer = httpx.get(f"{url}/api/v1/admin/dlq", headers={"X-API-Key": ADMIN_KEY})
        if answer.status_code != 200:
            pytest.fail(f"/api/v1/admin/dlq answered {answer.status_code}: {answer.text}")
        yield OpsSite(url, mesh)
    finally:
        mesh.run(stack.aclose)
