"""``sagaStatus(id)`` on node B follows a saga that node A runs: two saga engines (two nodes)
over one catalog; the subscription polls the shared saga store, so it needs no Redis."""

from __future__ import annotations

import json

from dictamesh.testing.graphql import GraphQLTestClient
from tests.unit.api.conftest import Node
from tests.unit.api.test_graphql_ws import receive, served, session
from tests.unit.gateway.test_saga_graphql import CREATE, INPUT
from tests.unit.saga.fake_sources import FakeSources
from tests.unit.saga.support import running_engine

FOLLOW = "subscription($id: ID!) { sagaStatus(id: $id) { id status steps { step node } } }"


async def test_saga_status_on_b_follows_a_saga_run_by_a(sqlite_catalog_url: str) -> None:
    sources = FakeSources()
    sources.delay = 0.15  # each source call: slow enough to see the steps go by
    async with (
        running_engine(sqlite_catalog_url, sources, node="node-a") as engine_a,
        running_engine(sqlite_catalog_url, sources, node="node-b") as engine_b,
    ):
        node_a, node_b = Node(sagas=engine_a), Node(sagas=engine_b)
        started = await GraphQLTestClient(node_a.app).query(CREATE, {"input": INPUT})
        assert started.data is not None
        saga_id = started.data["createInvoice"]["sagaId"]
        subscribe = {
            "id": "s",
            "type": "subscribe",
            "payload": {"query": FOLLOW, "variables": {"id": saga_id}},
        }
        seen: list[str] = []
        nodes: set[str] = set()
        async with served(node_b) as url, session(url) as ws:
            assert await receive(ws) == {"type": "connection_ack"}
            await ws.send(json.dumps(subscribe))
            while True:
                message = await receive(ws)
                if message["type"] == "complete":
                    break
                assert message["type"] == "next", message
                saga = message["payload"]["data"]["sagaStatus"]
                seen.append(saga["status"])
                nodes.update(step["node"] for step in saga["steps"])
    assert seen[0] == "RUNNING"
    assert seen[-1] == "COMPLETED"
    assert len(seen) >= 3  # B saw the steps go by while A ran them
    assert nodes == {"node-a"}
