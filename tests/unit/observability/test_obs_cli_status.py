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


@respx.mock
def test_ready_node_exits_0_and_lists_every_check() -> None:
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
    respx.get(f"{NODE}/ready").mock(return_value=httpx.Response(503, json=NOT_READY))
    result = runner.invoke(app, ["status", "--url", NODE + "/"])
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    assert "NOT READY" in out
    assert "SOURCE_UNAVAILABLE: billing: timed out" in out
    assert "circuit breaker open" in out


@respx.mock
def test_readiness_that_timed_out_is_explained() -> None:
    body = {"status": "not_ready", "checks": {}, "reasons": {"readiness": "timed out"}}
    respx.get(f"{NODE}/ready").mock(return_value=httpx.Response(503, json=body))
    result = runner.invoke(app, ["status", "--url", NODE])
    assert result.exit_code == 1
    assert "timed out" in flat(result.output)


@respx.mock
def test_json_output_is_the_answer_as_is() -> None:
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


def test_helpers() -> None:
    assert readiness_url("http://h:1/base/") == "http://h:1/base/ready"
    assert check_reason({"status": "healthy", "details": {}}) == ""
    assert check_reason({"details": {"error": "boom"}}) == "boom"
