"""What the chaos tests need from the sample sources: the latency fault, a hang that ends
when the client gives up, and stopping/restarting one source on its port."""

from __future__ import annotations

import time

import httpx
import pytest

from dictamesh.sources import products
from dictamesh.sources.runner import run_sample_sources

KEY = {"X-API-Key": "products-demo-key"}


async def test_latency_fault_delays_then_answers_normally() -> None:
    app = products.create_app(rate_limit=None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://src", headers=KEY
    ) as client:
        bad = await client.post("/_admin/faults", json={"mode": "latency", "delay_seconds": -1})
        assert bad.status_code == 400
        set_ = await client.post("/_admin/faults", json={"mode": "latency", "delay_seconds": 0.2})
        assert set_.json()["delay_seconds"] == 0.2
        started = time.monotonic()
        response = await client.get("/v1/products/prd_1001")
        assert time.monotonic() - started >= 0.2
        assert response.status_code == 200
        assert response.json()["id"] == "prd_1001"


async def test_stop_and_start_one_source_on_the_same_port() -> None:
    async with (
        run_sample_sources(products_rate_limit=None) as sources,
        httpx.AsyncClient(base_url=sources.products_url, headers=KEY) as client,
    ):
        assert (await client.get("/v1/products/prd_1001")).status_code == 200
        await sources.stop("products")
        assert not sources.running("products")
        with pytest.raises(httpx.ConnectError):
            await client.get("/v1/products/prd_1001")
        async with httpx.AsyncClient(base_url=sources.customers_url) as other:
            assert (await other.get("/_admin/stats")).status_code == 200  # others run on
        await sources.start("products")
        assert (await client.get("/v1/products/prd_1001")).status_code == 200


async def test_a_hung_request_does_not_hold_up_stopping_the_source() -> None:
    async with (
        run_sample_sources(products_rate_limit=None) as sources,
        httpx.AsyncClient(base_url=sources.products_url, headers=KEY) as client,
    ):
        await client.post("/_admin/faults", json={"mode": "hang"})
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/v1/products/prd_1001", timeout=0.2)
        started = time.monotonic()
        await sources.stop("products")
        assert time.monotonic() - started < 1.5
