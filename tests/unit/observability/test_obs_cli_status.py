"""``dictamesh status``: every check with its reason; exit 0 ready, 1 not, 2 bad input."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from typer.testing import CliRunner

from dictamesh.cli.main import app
from dictamesh.observability.status import check_reason, readiness_url

runner = CliRunner()
NODE = "http://node.test:8000"

READY = {
    "status": "ready",
    "checks": {
        "catalog": {"status": "healthy", "latency_ms": 1.25, "details": {}},
        "bus": {"status": "healthy", "latency_ms": 0.5, "details": {}},
        "adapter:crm": {
            "status": "degraded",
            "latency_ms": 420.0,
            "details": {"breaker": "closed", "reasons": ["latency 420 ms above SLA p95 300 ms"]},
        },
    },
}
NOT_READY = {
    "status": "not_ready",
    "checks": {
        "catalog": {"status": "healthy", "latency_ms": 1.0, "details": {}},
        "adapter:billing": {
            "status": "unhealthy",
            "latency_ms": 2001.0,
            "details": {
                "breaker": "open",
                "error": {"code": "SOURCE_UNAVAILABLE", "message": "billing: timed out"},
            },
        },
    },
    "reasons": {"adapter:billing": {"status": "unhealthy"}},
}


def flat(text: str) -> str:
    return " ".join(text.split())  # rich wraps long lines


def no_sla() -> None:
    """A node that serves no ``/api/v1/adapters`` (ops only)."""
    respx.get(f"{NODE}/api/v1/adapters").mock(return_value=httpx.Response(404, json={}))


@respx.mock
def test_ready_node_exits_0_and_lists_every_check() -> None:
    no_sla()
    respx.get(f"{NODE}/ready").mock(return_value=httpx.Response(200, json=READY))
    result = runner.invoke(app, ["status", "--url", NODE])
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "READY" in out
    for name in ("catalog", "bus", "adapter:crm"):
        assert name in out
    assert "latency 420 ms above SLA p95 300 ms" in out


@respx.mock
def test_not_ready_node_exits_1_with_the_reason() -> None:
    no_sla()
    respx.get(f"{NODE}/ready").mock(return_value=httpx.Response(503, json=NOT_READY))
    result = runner.invoke(app, ["status", "--url", NODE + "/"])
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    assert "NOT READY" in out
    assert "SOURCE_UNAVAILABLE: billing: timed out" in out
    assert "circuit breaker open" in out


@respx.mock
def test_readiness_that_timed_out_is_explained() -> None:
    no_sla()
    body = {"status": "not_ready", "checks": {}, "reasons": {"readiness": "timed out"}}
    respx.get(f"{NODE}/ready").mock(return_value=httpx.Response(503, json=body))
    result = runner.invoke(app, ["status", "--url", NODE])
    assert result.exit_code == 1
    assert "timed out" in flat(result.output)


@respx.mock
def test_json_output_is_the_answer_as_is() -> None:
    no_sla()
    respx.get(f"{NODE}/ready").mock(return_value=httpx.Response(503, json=NOT_READY))
    result = runner.invoke(app, ["status", "--url", NODE, "--format", "json"])
    assert result.exit_code == 1
    assert json.loads(result.output) == NOT_READY
    # the old spelling still works; its deprecation note goes to stderr, not into the JSON
    alias = runner.invoke(app, ["status", "--url", NODE, "--json"])
    assert json.loads(alias.stdout) == NOT_READY
    assert "deprecated" in alias.stderr


@respx.mock
def test_unreachable_or_foreign_server_exits_1() -> None:
    respx.get(f"{NODE}/ready").mock(side_effect=httpx.ConnectError("refused"))
    result = runner.invoke(app, ["status", "--url", NODE])
    assert result.exit_code == 1
    assert "not reachable" in flat(result.output)
    respx.get("http://other.test/ready").mock(return_value=httpx.Response(200, text="<html>"))
    result = runner.invoke(app, ["status", "--url", "http://other.test"])
    assert result.exit_code == 1
    assert "not a DictaMesh node" in flat(result.output)


@pytest.mark.parametrize(
    "args",
    [["--url", "ftp://node"], ["--url", "not a url"], ["--url", NODE, "--timeout", "0"]],
)
def test_bad_input_exits_2(args: list[str]) -> None:
    result = runner.invoke(app, ["status", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def _objective(target: float, measured: float | None, *, met: bool | None, state: str) -> dict:
    return {
        "target": target,
        "measured": measured,
        "samples": 40,
        "met": met,
        "state": state,
        "since": "2026-01-01T00:00:00+00:00",
        "breaches": 1 if state == "breached" else 0,
    }


ADAPTERS = {
    "adapters": [
        {
            "name": "crm",
            "sla_window": {
                "window_seconds": 300.0,
                "objectives": {
                    "availability": _objective(0.99, 0.8, met=False, state="breached"),
                    "latency_p95_ms": _objective(300.0, 12.5, met=True, state="ok"),
                    "freshness_catalog": _objective(60.0, 1.25, met=True, state="ok"),
                    "freshness_api": _objective(60.0, None, met=None, state="ok"),
                },
            },
        },
        {"name": "unmonitored", "sla_window": None},
    ]
}


@respx.mock
def test_the_sla_section_shows_each_objective_and_keeps_the_exit_code() -> None:
    respx.get(f"{NODE}/ready").mock(return_value=httpx.Response(200, json=READY))
    route = respx.get(f"{NODE}/api/v1/adapters").mock(
        return_value=httpx.Response(200, json=ADAPTERS)
    )
    result = runner.invoke(app, ["status", "--url", NODE, "--api-key", "k-123"])
    assert result.exit_code == 0, result.output  # a breach is reported, readiness decides
    out = flat(result.output)
    assert "SLA over the last 300 s" in out
    for cell in ("0.8 / 0.99", "12.5 / 300 ms", "1.25 / 60 s", "- / 60 s"):
        assert cell in out
    assert out.endswith("availability")  # the breached column
    assert "unmonitored" not in out
    assert route.calls.last.request.headers["X-API-Key"] == "k-123"
    as_json = runner.invoke(app, ["status", "--url", NODE, "--format", "json"])
    found = json.loads(as_json.output)
    assert found["sla"]["crm"]["objectives"]["availability"]["state"] == "breached"
    assert found["checks"] == READY["checks"]


@respx.mock
def test_an_sla_the_node_refuses_is_explained_not_failed() -> None:
    respx.get(f"{NODE}/ready").mock(return_value=httpx.Response(200, json=READY))
    respx.get(f"{NODE}/api/v1/adapters").mock(return_value=httpx.Response(401, json={}))
    result = runner.invoke(app, ["status", "--url", NODE])
    assert result.exit_code == 0
    assert "SLA: not shown: HTTP 401 (pass --token or --api-key)" in flat(result.output)


def test_helpers() -> None:
    assert readiness_url("http://h:1/base/") == "http://h:1/base/ready"
    assert check_reason({"status": "healthy", "details": {}}) == ""
    assert check_reason({"details": {"error": "boom"}}) == "boom"
