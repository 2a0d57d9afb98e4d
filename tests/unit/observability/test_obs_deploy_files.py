"""The Grafana dashboard and the Prometheus alerts only use metrics (and labels) a node
really exports: both files are parsed, every metric name in their PromQL is extracted, and
each must have samples in ``/metrics`` of an embedded node that did a little work."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.unit.observability.widgets import WidgetSource, widget_node

from dictamesh.core.errors import EntityNotFound

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "observability"

_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"}
    | {"group_left", "group_right"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_CLAUSE = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_SELECTOR = re.compile(r"(?<![\w:])([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")
_IDENT = re.compile(r"(?<![\w.$:])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()")


def metric_names(expr: str) -> dict[str, set[str]]:
    """Metric name → label names it is matched on, for one PromQL expression (enough of
    PromQL for dashboards and alert rules: no string metric names, no @ modifiers)."""
    found: dict[str, set[str]] = {}
    masked = _STRING.sub('""', expr)
    for name, matchers in _SELECTOR.findall(masked):
        found.setdefault(name, set()).update(_MATCHER.findall(matchers))
    masked = re.sub(r"\{[^}]*\}", " ", masked)
    masked = re.sub(r"\[[^\]]*\]", " ", masked)
    masked = _CLAUSE.sub(" ", masked)
    for name in _IDENT.findall(masked):
        if name not in _KEYWORDS:
            found.setdefault(name, set())
    return found


def test_the_extractor_finds_metrics_not_functions_labels_or_variables() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (adapter, le) (rate(x_seconds_bucket{adapter=~"$a",'
        ' outcome!="ok"}[$__rate_interval]))) / on (adapter) group_left y_total > 1e3'
        " and z offset 5m"
    )
    assert metric_names(expr) == {
        "x_seconds_bucket": {"adapter", "outcome"},
        "y_total": set(),
        "z": set(),
    }


def _dashboard_exprs(dashboard: dict[str, Any]) -> Iterator[str]:
    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            yield target["expr"]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else ""
        m = re.match(r"label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*(\w+)\s*\)", text)
        if m:  # label_values(metric, label): the metric must carry that label
            yield f'{m.group(1)}{{{m.group(2)}=~".*"}}'


def _alert_exprs(rules: dict[str, Any]) -> Iterator[str]:
    for group in rules["groups"]:
        for rule in group["rules"]:
            yield rule["expr"]


def _referenced() -> dict[str, dict[str, set[str]]]:
    """file → metric → labels, over both files."""
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text(encoding="utf-8"))
    rules = yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text(encoding="utf-8"))
    out: dict[str, dict[str, set[str]]] = {}
    for name, exprs in (
        ("grafana-dashboard.json", list(_dashboard_exprs(dashboard))),
        ("prometheus-alerts.yml", list(_alert_exprs(rules))),
    ):
        assert exprs, f"no PromQL found in {name}"
        metrics: dict[str, set[str]] = {}
        for expr in exprs:
            for metric, labels in metric_names(expr).items():
                metrics.setdefault(metric, set()).update(labels)
        out[name] = metrics
    return out


def test_both_files_parse_and_cover_the_golden_signals() -> None:
    referenced = _referenced()
    dashboard, alerts = referenced["grafana-dashboard.json"], referenced["prometheus-alerts.yml"]
    for wanted in (
        "dictamesh_adapter_calls_total",
        "dictamesh_adapter_call_duration_seconds_bucket",
        "dictamesh_circuit_breaker_state",
        "kafka_consumer_lag",
        "dictamesh_events_dead_lettered_total",
        "dictamesh_cache_requests_total",
    ):
        assert wanted in dashboard, wanted
    for wanted in (
        "dictamesh_circuit_breaker_state",
        "kafka_consumer_lag",
        "dictamesh_events_dead_lettered_total",
        "dictamesh_adapter_calls_total",
        "http_requests_total",
    ):
        assert wanted in alerts, wanted


async def _exported(state: Path, catalog_url: str) -> dict[str, set[str]]:
    """Sample name → label names, from /metrics of an embedded node after some work."""
    source = WidgetSource()
    source.put("w-1", "Widget")
    async with widget_node(state, catalog_url, source) as node:
        for _ in range(400):  # the first poll captures w-1; ingest records it
            try:
                await node.catalog.get_entity_location("widget", "w-1")
                break
            except EntityNotFound:
                await asyncio.sleep(0.01)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=node.asgi_app()), base_url="http://node"
        ) as client:
            graphql = await client.post("/graphql", json={"query": '{ widget(id: "w-1") { id } }'})
            assert graphql.status_code == 200
            rest = await client.get("/api/v1/entities/widget/w-1", params={"live": "true"})
            assert rest.status_code == 200
            metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    exported: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(metrics.text):
        for sample in family.samples:
            exported.setdefault(sample.name, set()).update(sample.labels)
    return exported


@pytest.mark.parametrize("name", ["grafana-dashboard.json", "prometheus-alerts.yml"])
async def test_every_metric_and_label_used_is_exported_by_a_node(
    tmp_path: Path, sqlite_catalog_url: str, name: str
) -> None:
    exported = await _exported(tmp_path, sqlite_catalog_url)
    missing = []
    for metric, labels in sorted(_referenced()[name].items()):
        if metric not in exported:
            missing.append(metric)
        elif not labels <= exported[metric]:
            missing.append(f"{metric}{{{','.join(sorted(labels - exported[metric]))}}}")
    assert not missing, f"{name} uses what /metrics does not export: {missing}"
