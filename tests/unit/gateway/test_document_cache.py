"""The document cache: parse and *valid* verdicts reused for the identical document and
rule set only; every limit still applies on every request; errors come every time."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pytest
import strawberry.schema.schema as strawberry_schema
from graphql import GraphQLError, parse, validate
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from tests.unit.gateway.fakes import MemoryRegistry, shop

from dictamesh.api.graphql_http import GraphQLApp
from dictamesh.core.settings import DictaMeshSettings, GraphQLSettings
from dictamesh.gateway import GatewayContext, GatewaySchema, build_schema
from dictamesh.gateway import limits as limits_module
from dictamesh.gateway.document_cache import (
    DocumentCache,
    DocumentCacheFactory,
    install_document_cache,
    validate_alone,
)
from dictamesh.gateway.input_text import install_text_rule
from dictamesh.gateway.limits import (
    QUERY_TOO_COMPLEX,
    QUERY_TOO_DEEP,
    TOO_MANY_TOKENS,
    QueryLimits,
    limits_extension,
    limits_rule,
)
from dictamesh.gateway.schema_builder import DepthLimitFactory
from dictamesh.gateway.threaded_parse import install_threaded_parse

CUSTOMER = '{ customer(id: "c-1") { name invoices { invoiceNumber } } }'
PAGE = "query ($n: Int) { customers(limit: $n) { items { name invoices { id } } } }"


class Counted:
    """Counts Strawberry's full validations (the spec rules and ours, in one pass)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = 0
        real = strawberry_schema.validate

        def spy(*args: Any, **kwargs: Any) -> list[GraphQLError]:
            self.full += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(strawberry_schema, "validate", spy)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counted:
    return Counted(monkeypatch)


def cached_schema(
    size: int = 100, **limits: Any
) -> tuple[GatewaySchema, MemoryRegistry, DocumentCache]:
    """A schema with the node's validation extensions (limits, text rule) and a cache."""
    registry = MemoryRegistry(list(shop()))
    schema = build_schema(
        registry, extensions=[limits_extension(QueryLimits(**limits))], max_depth=None
    )
    install_text_rule(schema)
    install_document_cache(schema, size)
    factory = schema.extensions[0]
    assert isinstance(factory, DocumentCacheFactory)
    return schema, registry, factory.cache


async def run(
    schema: GatewaySchema,
    registry: MemoryRegistry,
    query: str,
    variables: Mapping[str, Any] | None = None,
) -> ExecutionResult:
    return await schema.execute(
        query,
        variable_values=dict(variables) if variables is not None else None,
        context_value=GatewayContext(registry),
    )


def codes(result: ExecutionResult) -> list[Any]:
    return [(e.extensions or {}).get("code") for e in result.errors or ()]


async def test_the_same_document_is_parsed_and_validated_once(counted: Counted) -> None:
    schema, registry, cache = cached_schema()
    answers = [await run(schema, registry, CUSTOMER) for _ in range(3)]
    assert all(a.errors is None for a in answers)
    assert answers[0].data == answers[1].data == answers[2].data
    assert answers[0].data is not None
    assert answers[0].data["customer"]["name"] == "Customer 1"
    assert counted.full == 1
    assert (cache.parse_hits, cache.validation_hits) == (2, 2)


async def test_limits_priced_by_variables_apply_to_a_cached_document(counted: Counted) -> None:
    schema, registry, _ = cached_schema(max_complexity=50)
    assert (await run(schema, registry, PAGE, {"n": 2})).errors is None
    refused = await run(schema, registry, PAGE, {"n": 100})  # same text, cached as valid
    assert codes(refused) == [QUERY_TOO_COMPLEX]
    assert refused.data is None
    assert (await run(schema, registry, PAGE, {"n": 3})).errors is None
    assert counted.full == 1  # the other two ran the limits rule alone


async def test_the_tenant_is_charged_on_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    charged: list[float] = []
    monkeypatch.setattr(limits_module, "charge_query_cost", lambda _t, cost: charged.append(cost))
    schema, registry, cache = cached_schema()
    for _ in range(3):
        assert (await run(schema, registry, PAGE, {"n": 2})).errors is None
    assert cache.validation_hits == 2
    assert len(charged) == 3
    assert len(set(charged)) == 1


async def test_an_invalid_document_gets_its_errors_every_time(counted: Counted) -> None:
    schema, registry, cache = cached_schema()
    query = '{ customer(id: "c-1") { nope } }'
    results = [await run(schema, registry, query) for _ in range(3)]
    messages = [[e.message for e in r.errors or ()] for r in results]
    assert messages[0]
    assert messages[0] == messages[1] == messages[2]
    assert all(r.data is None for r in results)
    assert counted.full == 3
    assert cache.validation_hits == 0
    assert len(cache) == 0  # junk is not kept


async def test_a_syntax_error_is_reported_every_time() -> None:
    schema, registry, cache = cached_schema()
    results = [await run(schema, registry, "{ customer(id: ") for _ in range(2)]
    assert [e.message for e in results[0].errors or ()] == [
        e.message for e in results[1].errors or ()
    ]
    assert results[0].errors
    assert len(cache) == 0


async def test_a_refused_document_is_refused_every_time(counted: Counted) -> None:
    schema, registry, cache = cached_schema(max_depth=2)
    for _ in range(2):
        assert codes(await run(schema, registry, CUSTOMER)) == [QUERY_TOO_DEEP]
    assert counted.full == 2
    assert cache.validation_hits == 0


async def test_too_many_tokens_keeps_its_code_with_a_cache() -> None:
    schema, registry, _ = cached_schema(max_tokens=5)
    for _ in range(2):
        assert codes(await run(schema, registry, CUSTOMER)) == [TOO_MANY_TOKENS]


async def test_a_bad_string_literal_is_refused_every_time() -> None:
    schema, registry, _ = cached_schema()
    query = '{ customer(id: "c-\\u0000") { name } }'
    for _ in range(2):
        assert codes(await run(schema, registry, query)) == ["BAD_USER_INPUT"]


async def test_another_depth_limit_does_not_reuse_a_verdict(counted: Counted) -> None:
    schema, registry, cache = cached_schema()
    assert (await run(schema, registry, CUSTOMER)).errors is None
    schema.extensions = (*schema.extensions, DepthLimitFactory(1))
    refused = await run(schema, registry, CUSTOMER)
    assert refused.errors
    assert "exceeds maximum operation depth" in refused.errors[0].message
    assert counted.full == 2
    assert cache.validation_hits == 0


async def test_another_schema_does_not_reuse_a_verdict(counted: Counted) -> None:
    schema, registry, cache = cached_schema()
    other = build_schema(registry, extensions=[limits_extension(QueryLimits())], max_depth=None)
    other.extensions = (DocumentCacheFactory(cache), *other.extensions)  # the same cache
    assert (await run(schema, registry, CUSTOMER)).errors is None
    assert (await run(other, registry, CUSTOMER)).errors is None
    assert counted.full == 2
    assert cache.validation_hits == 0
    assert cache.parse_hits == 1


async def test_the_operation_name_is_part_of_the_key(counted: Counted) -> None:
    schema, registry, _ = cached_schema()
    query = "query A { entityTypes } query B { entityTypes }"
    for name in ("A", "B", "A"):
        result = await schema.execute(
            query, operation_name=name, context_value=GatewayContext(registry)
        )
        assert result.errors is None
    assert counted.full == 2


async def test_the_cache_is_bounded(counted: Counted) -> None:
    schema, registry, cache = cached_schema(size=2)
    queries = [f'{{ customer(id: "c-{n}") {{ name }} }}' for n in (1, 2, 3)]
    for query in queries:
        assert (await run(schema, registry, query)).errors is None
    assert len(cache) == 2
    assert (await run(schema, registry, queries[2])).errors is None  # still cached
    assert counted.full == 3
    assert (await run(schema, registry, queries[0])).errors is None  # evicted
    assert counted.full == 4


async def test_the_cache_holds_a_bounded_number_of_tokens() -> None:
    schema, registry, cache = cached_schema()
    cache.max_tokens = 30
    small = "{ entityTypes }"  # SOF, 3 tokens, EOF
    big = "{ " + " ".join(f"a{n}: entityTypes" for n in range(8)) + " }"  # 27 tokens
    for query in (small, big):
        assert (await run(schema, registry, query)).errors is None
    assert len(cache) == 1  # the small one made room
    assert cache.get((big, frozenset({"max_lexical_tokens": 2000, "max_comments": 2000}.items())))


async def test_long_documents_are_not_cached() -> None:
    schema, registry, cache = cached_schema()
    query = "{ entityTypes }" + " " * 20_000
    assert (await run(schema, registry, query)).errors is None
    assert len(cache) == 0


async def test_a_cached_document_skips_the_threaded_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    schema, registry, cache = cached_schema()
    install_threaded_parse(schema, 64)
    parsed: list[str] = []
    from dictamesh.gateway import threaded_parse

    real = threaded_parse._parse

    def spy(query: str, options: dict[str, Any]) -> Any:
        parsed.append(query)
        return real(query, options)

    monkeypatch.setattr(threaded_parse, "_parse", spy)
    query = "{ entityTypes }" + " " * 100
    for _ in range(2):
        assert (await run(schema, registry, query)).errors is None
    assert len(parsed) == 1
    assert cache.parse_hits == 1


def test_validate_alone_agrees_with_graphql_validate() -> None:
    schema = build_schema(MemoryRegistry(list(shop())), max_depth=None)
    rule = limits_rule(QueryLimits(max_complexity=1, max_depth=2))
    document = parse(PAGE + " fragment F on Customer { name }")
    alone = validate_alone(schema._schema, document, [rule])
    full = validate(schema._schema, document, [rule])
    assert [e.formatted for e in alone] == [e.formatted for e in full]
    assert len(alone) == 2


def test_stable_rule_classes() -> None:
    assert DepthLimitFactory(3)().validation_rules == DepthLimitFactory(3)().validation_rules  # type: ignore[attr-defined]
    assert DepthLimitFactory(3)().validation_rules != DepthLimitFactory(4)().validation_rules  # type: ignore[attr-defined]
    factory = limits_extension(QueryLimits())
    assert factory().rule is factory().rule  # type: ignore[attr-defined]


def test_size_setting_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert GraphQLSettings().document_cache_size == 1000
    monkeypatch.setenv("DICTAMESH_GRAPHQL__DOCUMENT_CACHE_SIZE", "7")
    assert DictaMeshSettings().graphql.document_cache_size == 7


def _factories(schema: GatewaySchema) -> Iterator[DocumentCacheFactory]:
    return (e for e in schema.extensions if isinstance(e, DocumentCacheFactory))


def test_the_app_installs_the_cache_first_and_zero_turns_it_off() -> None:
    registry = MemoryRegistry(list(shop()))
    schema = build_schema(registry)
    GraphQLApp(schema, registry, settings=GraphQLSettings(document_cache_size=5))
    assert isinstance(schema.extensions[0], DocumentCacheFactory)
    assert [f.cache.max_entries for f in _factories(schema)] == [5]
    GraphQLApp(schema, registry, settings=GraphQLSettings())  # idempotent
    assert len(list(_factories(schema))) == 1
    off = build_schema(registry)
    GraphQLApp(off, registry, settings=GraphQLSettings(document_cache_size=0))
    assert not list(_factories(off))


class _PlainHooks(SchemaExtension):
    """Hooks that are plain functions (not generators) still run under the hook cache."""

    calls: list[str] = []

    def on_parse(self) -> None:  # type: ignore[override]
        self.calls.append("parse")

    async def on_execute(self) -> None:  # type: ignore[override]
        self.calls.append("execute")


async def test_plain_function_hooks_still_run() -> None:
    registry = MemoryRegistry(list(shop()))
    schema = build_schema(registry, extensions=[_PlainHooks])
    _PlainHooks.calls.clear()
    assert (await run(schema, registry, "{ entityTypes }")).errors is None
    assert _PlainHooks.calls == ["parse", "execute"]


async def test_the_limits_walk_is_remembered_per_variable_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    walks: list[Any] = []
    real = limits_module._measure

    def counting(*args: Any) -> Any:
        walks.append(args[3])
        return real(*args)

    charged: list[float] = []
    monkeypatch.setattr(limits_module, "_measure", counting)
    monkeypatch.setattr(limits_module, "charge_query_cost", lambda _t, cost: charged.append(cost))
    schema, registry, _ = cached_schema(max_complexity=50)
    for n in (2, 3, 2, 3):
        assert (await run(schema, registry, PAGE, {"n": n})).errors is None
    refused = await run(schema, registry, PAGE, {"n": 100})
    assert codes(refused) == [QUERY_TOO_COMPLEX]
    # priced at each request's n (customers 1 + items 1 + n * invoices 1), walked once per n
    assert charged == [2 + 2, 2 + 3, 2 + 2, 2 + 3]
    assert [w["n"] for w in walks] == [2, 3, 100]
    # a variable the walk does not read (the customer's id) prices nothing again
    for i in (1, 2, 3):
        got = await run(schema, registry, "query ($id: ID!) { customer(id: $id) { name } }",
                        {"id": f"c-{i}"})  # fmt: skip
        assert got.errors is None
    assert len(walks) == 4


class _Sometimes(SchemaExtension):
    """A hook that says per request whether it has anything to do."""

    entered: ClassVar[list[str]] = []

    def hook_needed(self, hook_name: str) -> bool:
        return "busy" in (self.execution_context.query or "")

    def on_operation(self) -> Iterator[None]:
        self.entered.append(self.execution_context.query or "")
        yield


async def test_a_hook_with_nothing_to_do_is_not_entered() -> None:
    registry = MemoryRegistry(list(shop()))
    schema = build_schema(registry, extensions=[_Sometimes])
    _Sometimes.entered.clear()
    assert (await run(schema, registry, "{ entityTypes }")).errors is None
    assert (await run(schema, registry, "query busy { entityTypes }")).errors is None
    assert _Sometimes.entered == ["query busy { entityTypes }"]
