"""Query limits (depth, complexity, aliases, tokens): refused during parse/validation,
so a refused query makes no adapter call at all."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from graphql import get_introspection_query
from strawberry.types import ExecutionResult
from tests.unit.gateway.fakes import MemoryRegistry, shop

from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.settings import DictaMeshSettings, GraphQLSettings
from dictamesh.gateway import GatewayContext, GatewaySchema, build_schema
from dictamesh.gateway.limits import (
    QUERY_TOO_COMPLEX,
    QUERY_TOO_DEEP,
    TOO_MANY_ALIASES,
    TOO_MANY_TOKENS,
    LimitsExtensionFactory,
    QueryLimits,
    count_tokens,
    install_limits,
    limits_extension,
)
from dictamesh.testing.adapters import FakeAdapter

WIDGETS = [{"id": f"w-{n}", "name": f"Widget {n}", "size": n} for n in range(1, 6)]


class Limited:
    """The shop's three data products behind a schema with the given limits."""

    def __init__(self, **limits: Any) -> None:
        self.customers, self.invoices, self.products = shop()
        self.registry = MemoryRegistry([self.customers, self.invoices, self.products])
        self.limits = QueryLimits(**limits)
        self.schema: GatewaySchema = build_schema(
            self.registry, extensions=[limits_extension(self.limits)], max_depth=None
        )

    def calls(self) -> dict[str, dict[str, int]]:
        adapters = (self.customers, self.invoices, self.products)
        return {a.entity_type: dict(a.calls) for a in adapters if a.calls}

    async def run(self, query: str, variables: Mapping[str, Any] | None = None) -> ExecutionResult:
        return await self.schema.execute(
            query,
            variable_values=dict(variables) if variables is not None else None,
            context_value=GatewayContext(self.registry),
        )


def refusal(result: ExecutionResult) -> dict[str, Any]:
    """The single error's extensions (a refusal has exactly one error and no data)."""
    assert result.data is None, result.data
    assert result.errors is not None
    assert len(result.errors) == 1, result.errors
    extensions = result.errors[0].extensions
    assert extensions is not None
    return dict(extensions)


CROSS = """{ customers(limit: 10) { items { name
    invoices { invoiceNumber items { quantity product { sku name } } } } } }"""


# --- depth ----------------------------------------------------------------------------

DEEP = '{ customer(id: "c-1") { invoices { customer { invoices { customer { name } } } } } }'


async def test_depth_is_the_longest_field_path() -> None:
    shop_ = Limited(max_depth=6)
    assert (await shop_.run(DEEP)).errors is None  # customer/invoices/.../name: 6 fields
    shop_.customers.calls.clear()
    shop_.invoices.calls.clear()
    too_deep = Limited(max_depth=5)
    ext = refusal(await too_deep.run(DEEP))
    assert ext == {"code": QUERY_TOO_DEEP, "limit": 5, "actual": 6}
    assert too_deep.calls() == {}


async def test_depth_follows_fragments_and_inline_fragments() -> None:
    query = """
    query { customer(id: "c-1") { ...C } }
    fragment C on Customer { invoices { ... on Invoice { customer { ...N } } } }
    fragment N on Customer { invoices { id } }
    """
    ext = refusal(await Limited(max_depth=4).run(query))
    assert (ext["code"], ext["actual"]) == (QUERY_TOO_DEEP, 5)


async def test_the_message_names_the_operation() -> None:
    result = await Limited(max_depth=2).run(
        "query Deep { customers { items { invoices { id } } } }"
    )
    assert result.errors is not None
    assert result.errors[0].message == "depth 4 of operation 'Deep' exceeds the limit of 2"


# --- complexity -----------------------------------------------------------------------


async def test_complexity_multiplies_lists_by_their_limit_and_default_size() -> None:
    # customers 1 + items 1 + 10 * (invoices 1 + 5 * (items 1 + 5 * product 1)) = 312
    shop_ = Limited(max_complexity=311)
    ext = refusal(await shop_.run(CROSS))
    assert ext == {"code": QUERY_TOO_COMPLEX, "limit": 311, "actual": 312}
    assert shop_.calls() == {}
    assert (await Limited(max_complexity=312).run(CROSS)).errors is None


async def test_complexity_prices_variables_defaults_and_field_defaults() -> None:
    query = "query($n: Int = 7) { customers(limit: $n) { items { invoices { id } } } }"
    shop_ = Limited(max_complexity=1)
    assert refusal(await shop_.run(query, {"n": 100}))["actual"] == 2 + 100
    assert refusal(await shop_.run(query))["actual"] == 2 + 7  # the variable's default
    # No argument: the field's own default (limit = 50).
    unsized = "{ customers { items { invoices { id } } } }"
    assert refusal(await shop_.run(unsized))["actual"] == 2 + 50
    assert shop_.calls() == {}


async def test_scalars_are_free_and_field_costs_override() -> None:
    query = "{ customers(limit: 4) { items { name email invoices { id } } } }"
    assert refusal(await Limited(max_complexity=1).run(query))["actual"] == 2 + 4
    priced = Limited(max_complexity=1, field_costs={"Customer.invoices": 10, "Customer.name": 2})
    assert refusal(await priced.run(query))["actual"] == 2 + 4 * (10 + 2)


async def test_fragments_cost_what_they_expand_to() -> None:
    query = """
    { a: customers(limit: 3) { items { ...I } } b: customers(limit: 3) { items { ...I } } }
    fragment I on Customer { invoices { id } }
    """
    assert refusal(await Limited(max_complexity=1).run(query))["actual"] == 2 * (2 + 3)


async def test_a_fragment_bomb_is_measured_without_expanding_it() -> None:
    # F0 spreads F1 twice, F1 spreads F2 twice, ...: 2^40 expansions if walked naively.
    levels = 40
    fragments = [
        f"fragment F{i} on Customer {{ a{i}: invoices {{ customer {{ ...F{i + 1} }} }}"
        f" b{i}: invoices {{ customer {{ ...F{i + 1} }} }} }}"
        for i in range(levels)
    ]
    fragments.append(f"fragment F{levels} on Customer {{ id }}")
    query = '{ customer(id: "c-1") { ...F0 } } ' + " ".join(fragments)
    shop_ = Limited(max_tokens=0, max_depth=0, max_aliases=0)
    started = time.perf_counter()
    ext = refusal(await shop_.run(query))
    assert time.perf_counter() - started < 2
    assert ext["code"] == QUERY_TOO_COMPLEX
    assert ext["actual"] > 2**40
    assert shop_.calls() == {}


async def test_fragment_cycles_do_not_hang_the_limits() -> None:
    query = """
    { customer(id: "c-1") { ...A } }
    fragment A on Customer { invoices { customer { ...B } } }
    fragment B on Customer { invoices { customer { ...A } } }
    """
    result = await Limited().run(query)
    assert result.errors is not None
    assert any("Cannot spread fragment" in e.message for e in result.errors)


# --- aliases --------------------------------------------------------------------------


async def test_aliases_are_counted_per_operation_with_fragments_expanded() -> None:
    query = """
    { a: entityTypes b: entityTypes customer(id: "c-1") { ...F ...F } }
    fragment F on Customer { x: name y: name }
    """
    shop_ = Limited(max_aliases=5)
    ext = refusal(await shop_.run(query))
    assert ext == {"code": TOO_MANY_ALIASES, "limit": 5, "actual": 6}
    assert shop_.calls() == {}
    assert (await Limited(max_aliases=6).run(query)).errors is None


async def test_aliases_inside_introspection_count_too() -> None:
    query = "{ __schema { " + " ".join(f"t{i}: types {{ name }}" for i in range(4)) + " } }"
    ext = refusal(await Limited(max_aliases=3).run(query))
    assert (ext["code"], ext["actual"]) == (TOO_MANY_ALIASES, 4)


# --- tokens ---------------------------------------------------------------------------


async def test_too_many_tokens_stops_the_parser() -> None:
    query = "{ " + " ".join(f"f{i}: entityTypes" for i in range(20)) + " }"  # 62 tokens
    assert count_tokens(query) == 62
    shop_ = Limited(max_tokens=61, max_aliases=0)
    ext = refusal(await shop_.run(query))
    assert ext == {"code": TOO_MANY_TOKENS, "limit": 61, "actual": 62}
    assert (await Limited(max_tokens=62, max_aliases=0).run(query)).errors is None


async def test_a_huge_document_is_not_counted_to_its_end() -> None:
    query = "{ " + "entityTypes " * 200_000 + "}"
    result = await Limited(max_tokens=100).run(query)
    ext = refusal(result)
    assert ext["code"] == TOO_MANY_TOKENS
    assert ext["actual"] == 1001  # stopped past 10 * the limit
    assert result.errors is not None
    assert result.errors[0].message == "document has more than 1000 tokens, over the limit of 100"


async def test_comment_padding_is_limited_too() -> None:
    query = "{ entityTypes }\n" + "# padding\n" * 50
    ext = refusal(await Limited(max_tokens=10).run(query))
    assert (ext["code"], ext["actual"]) == (TOO_MANY_TOKENS, 50)
    assert count_tokens(query, comments=True) == 50


# --- introspection --------------------------------------------------------------------


async def test_introspection_is_exempt_so_graphiql_works_with_defaults() -> None:
    shop_ = Limited(max_tokens=0)  # GraphiQL's introspection document has ~300 tokens
    result = await shop_.run(get_introspection_query(descriptions=True))
    assert result.errors is None
    assert result.data is not None
    assert result.data["__schema"]["queryType"]["name"] == "Query"
    deep = (
        '{ __type(name: "Customer") { fields { type { ofType { ofType { ofType {'
        " ofType { ofType { ofType { ofType { name } } } } } } } } } } }"
    )
    assert (await Limited(max_depth=2).run(deep)).errors is None


async def test_introspection_can_be_switched_off() -> None:
    result = await Limited(introspection=False).run("{ __schema { queryType { name } } }")
    assert result.errors is not None
    assert "introspection" in result.errors[0].message.lower()
    assert (await Limited(introspection=False).run("{ __typename }")).errors is None


# --- configuration --------------------------------------------------------------------


async def test_zero_switches_a_limit_off() -> None:
    shop_ = Limited(max_depth=0, max_complexity=0, max_aliases=0, max_tokens=0)
    result = await shop_.run("{ a: customers(limit: 500) { items { invoices { id } } } }")
    assert result.errors is None


def test_limits_from_settings_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert QueryLimits.from_settings(GraphQLSettings()) == QueryLimits()
    monkeypatch.setenv("DICTAMESH_GRAPHQL__MAX_DEPTH", "12")
    monkeypatch.setenv("DICTAMESH_GRAPHQL__FIELD_COSTS", '{"Customer.invoices": 5}')
    settings = DictaMeshSettings()
    limits = QueryLimits.from_settings(settings.graphql)
    assert (limits.max_depth, limits.max_complexity) == (12, 1000)
    assert limits.field_costs == {"Customer.invoices": 5}


@pytest.mark.parametrize(
    "bad",
    [
        {"max_depth": -1},
        {"field_costs": {"invoices": 1}},
        {"field_costs": {"Customer.invoices": -1}},
        {"persisted_queries": "allowlist"},
    ],
)
def test_bad_graphql_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        DictaMeshSettings.from_mapping({"graphql": bad})


def test_install_limits_keeps_a_schema_own_limits() -> None:
    schema = Limited().schema
    before = schema.extensions
    install_limits(schema, QueryLimits(max_depth=1))
    assert schema.extensions == before  # it already had a LimitsExtensionFactory
    bare = build_schema(MemoryRegistry(list(shop())), max_depth=None)
    install_limits(bare, QueryLimits(max_depth=1))
    added = [e for e in bare.extensions if isinstance(e, LimitsExtensionFactory)]
    assert [e.limits.max_depth for e in added] == [1]


# --- a real adapter (dictamesh.testing.FakeAdapter): no source call when refused --------


@pytest.fixture
async def widgets() -> AsyncIterator[tuple[FakeAdapter, GatewaySchema, AdapterRegistry]]:
    async with FakeAdapter(records=WIDGETS) as adapter:
        registry = AdapterRegistry(plugins=[])
        registry.register(adapter)
        limits = QueryLimits(field_costs={"Widget.name": 1})
        schema = build_schema(registry, extensions=[limits_extension(limits)], max_depth=None)
        yield adapter, schema, registry


async def test_fake_adapter_sees_no_call_for_a_refused_query(
    widgets: tuple[FakeAdapter, GatewaySchema, AdapterRegistry],
) -> None:
    adapter, schema, registry = widgets
    # 3 * (widgets 1 + items 1 + 400 * name 1) = 1206 > 1000
    expensive = (
        "{ "
        + " ".join(f"w{i}: widgets(limit: 400) {{ items {{ name }} }}" for i in range(3))
        + " }"
    )
    result = await schema.execute(expensive, context_value=GatewayContext(registry))
    assert refusal(result) == {"code": QUERY_TOO_COMPLEX, "limit": 1000, "actual": 1206}
    assert sum(adapter.calls.values()) == 0

    cheap = "{ widgets(limit: 400) { items { name } } }"
    result = await schema.execute(cheap, context_value=GatewayContext(registry))
    assert result.errors is None
    assert result.data is not None
    assert len(result.data["widgets"]["items"]) == 5
    assert sum(adapter.calls.values()) == 1


# --- tenant cost budget ---------------------------------------------------------------


async def test_the_tenant_pays_for_measured_cost_and_is_refused_when_spent() -> None:
    from dictamesh.core.context import current_tenant
    from dictamesh.core.settings import QuotaSettings
    from dictamesh.tenancy import TenantQuotas, use_quotas

    shop_ = Limited()
    settings = QuotaSettings.model_validate(
        {"default": {"graphql_cost_budget": 400, "graphql_cost_window_seconds": 60}}
    )
    quotas = TenantQuotas(settings, clock=lambda: 0.0)
    token = current_tenant.set("acme")
    try:
        with use_quotas(quotas):
            assert (await shop_.run(CROSS)).errors is None  # costs 312 of 400
            calls = shop_.calls()
            refused = refusal(await shop_.run(CROSS))
            assert refused["code"] == "TENANT_QUOTA_EXCEEDED"
            assert refused["cost"] == 312
            assert refused["retryAfter"] > 0
            assert shop_.calls() == calls  # refused before any adapter call
            current_tenant.set("globex")  # another tenant has its own budget
            assert (await shop_.run(CROSS)).errors is None
    finally:
        current_tenant.reset(token)
