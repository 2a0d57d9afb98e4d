"""The attacked node: the three sample sources and one embedded-backend node, in a process of
their own so that the attacker's CPU (hypothesis, JSON building) does not slow the node and
/health latencies measure the node alone.

Run as ``python -m tests.security.node_process STATE_DIR``: prints one JSON line with the API
URL once serving and synced (every sample record in the catalog), and stops when its stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from dictamesh._serving import serve_in_process
from dictamesh.core.settings import GraphQLSettings
from dictamesh.demo import demo_settings
from dictamesh.node import MeshNode
from dictamesh.sources.runner import run_sample_sources


async def serve(state_dir: Path) -> None:
    async with run_sample_sources() as sources:
        settings = demo_settings(sources, state_dir, poll=1.0)
        # the fuzzers send hundreds of requests a second from one client: the per-client
        # rate limit would answer most of them 429 and nothing behind it would be attacked
        graphql = GraphQLSettings(rate_limit_per_second=0)
        settings = settings.model_copy(update={"graphql": graphql})
        async with (
            MeshNode(settings) as node,
            serve_in_process(node.asgi_app(), "127.0.0.1", 0, shutdown_timeout=2) as url,
        ):
            # attacks start on the whole catalog: graph walks cost what the full graph costs
            stores = (sources.customers_store, sources.products_store, sources.invoices_store)
            expected = sum(len(store.ids()) for store in stores)
            while await node.catalog.count_entities() < expected:  # noqa: ASYNC110 (a poll)
                await asyncio.sleep(0.2)
            names = {a.kind: a.name for a in settings.adapters}
            # the demo signs webhooks per adapter: the attacker signs too, so its bodies reach
            # the parser instead of stopping at the signature check
            secrets = {
                a.name: a.webhook_secret.get_secret_value()
                for a in settings.adapters
                if a.webhook_secret is not None
            }
            print(json.dumps({"url": url, "adapters": names, "secrets": secrets}), flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1])))
