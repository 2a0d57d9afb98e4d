"""``python -m dictamesh.sources [--seed N] [--host H]``: serve the sample sources until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from dictamesh.sources.runner import run_sample_sources


async def _main(host: str, seed: int, ports: tuple[int, int, int, int]) -> None:
    async with run_sample_sources(host=host, seed=seed, ports=ports) as s:
        print(f"customers (Directus)  {s.customers_url}  Authorization: Bearer {s.customers_token}")
        print(f"products (REST)       {s.products_url}  X-API-Key: {s.products_api_key}")
        print(f"invoices (e-commerce) {s.invoices_url}  Authorization: Bearer {s.invoices_token}")
        print(f"payments (gateway)    {s.payments_url}  Authorization: Bearer {s.payments_token}")
        print("Ctrl-C to stop", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m dictamesh.sources")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ports", type=int, nargs=4, default=(8055, 8081, 8082, 8083))
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.host, args.seed, tuple(args.ports)))


if __name__ == "__main__":
    main()
