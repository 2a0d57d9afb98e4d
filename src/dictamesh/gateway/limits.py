"""Query limits: depth, complexity, aliases and tokens, refused before anything executes.

Every limit is checked while the document is parsed or validated, so a refused query
costs no adapter call at all. Refusals are ordinary GraphQL errors whose ``extensions``
carry a stable ``code`` plus the ``limit`` and the ``actual`` value::

    {"message": "query complexity 4210 exceeds the limit of 1000",
     "extensions": {"code": "QUERY_TOO_COMPLEX", "limit": 1000, "actual": 4210}}

| code | what is counted |
|---|---|
| ``TOO_MANY_TOKENS`` | lexical tokens (or comments) of the document; the parser stops there |
| ``QUERY_TOO_DEEP`` | fields on the longest path of an operation (``{ a { b } }`` is 2) |
| ``QUERY_TOO_COMPLEX`` | estimated cost of an operation (below) |
| ``TOO_MANY_ALIASES`` | aliased fields of an operation, fragments expanded |

**Cost.** A field that returns an object costs ``object_cost`` (1), a scalar or enum
``scalar_cost`` (0); ``field_costs={"Customer.invoices": 5}`` overrides single fields.
The selections under a list are paid once per expected item: the field's ``first``/
``last``/``limit`` argument (literal, variable or default value) or else
``default_list_size``. A page field (``customers(limit: 20) { items { ... } }``) hands its
``limit`` on to the list right below it. Introspection (``__schema``, ``__type``,
``__typename``) is free and adds no depth, so GraphiQL works; it may be switched off.

Example::

    limits = QueryLimits(max_depth=8, max_complexity=500)
    schema = build_schema(registry, extensions=[limits_extension(limits)], max_depth=None)
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    OperationType,
    SchemaMetaFieldDef,
    SelectionSetNode,
    Source,
    TokenKind,
    TypeMetaFieldDef,
    TypeNameMetaFieldDef,
    ValidationContext,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
)
from graphql.language import Lexer
from graphql.language.visitor import SKIP, VisitorAction
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry import Schema
from strawberry.extensions import SchemaExtension

from dictamesh.core.errors import TenantQuotaExceeded
from dictamesh.gateway.document_cache import RequestValidationRule
from dictamesh.tenancy.quotas import charge_query_cost

if TYPE_CHECKING:
    from graphql import ASTValidationRule

    from dictamesh.core.settings import GraphQLSettings

__all__ = [
    "QUERY_TOO_COMPLEX",
    "QUERY_TOO_DEEP",
    "TOO_MANY_ALIASES",
    "TOO_MANY_TOKENS",
    "LimitsExtensionFactory",
    "QueryCost",
    "QueryLimits",
    "QueryLimitsExtension",
    "count_tokens",
    "install_limits",
    "limit_error",
    "limits_extension",
    "limits_rule",
    "measure_operation",
    "token_limit_error",
]

QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
TOO_MANY_TOKENS = "TOO_MANY_TOKENS"

_INTROSPECTION: dict[str, GraphQLField] = {
    "__schema": SchemaMetaFieldDef,
    "__type": TypeMetaFieldDef,
    "__typename": TypeNameMetaFieldDef,
}
# graphql-core's messages when a parser limit stops it (tokens, or comments).
_PARSER_LIMIT = re.compile(r"Document contains more than \d+ (tokens|comments)\.")


@dataclass(frozen=True)
class QueryLimits:
    """What one GraphQL document may ask for; ``0`` switches a limit off."""

    max_depth: int = 10
    max_complexity: int = 1000
    max_aliases: int = 30
    max_tokens: int = 2000
    #: expected length of a list field that has no ``first``/``last``/``limit`` argument
    default_list_size: int = 5
    object_cost: int = 1
    scalar_cost: int = 0
    #: ``"Type.field"`` → cost of that field (instead of object_cost / scalar_cost)
    field_costs: Mapping[str, int] = field(default_factory=dict)
    slicing_arguments: Sequence[str] = ("first", "last", "limit")
    #: a field taking both arguments (a relationship graph) walks up to ``depth`` hops of
    #: ``limit`` nodes each: it costs their product on top (0 in either switches it off)
    walk_arguments: tuple[str, str] = ("depth", "limit")
    #: False refuses ``__schema``/``__type`` (``__typename`` stays allowed)
    introspection: bool = True

    @classmethod
    def from_settings(cls, settings: GraphQLSettings) -> QueryLimits:
        return cls(
            max_depth=settings.max_depth,
            max_complexity=settings.max_complexity,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens,
            default_list_size=settings.default_list_size,
            field_costs=dict(settings.field_costs),
            introspection=settings.introspection,
        )

    @property
    def checks_operations(self) -> bool:
        return bool(self.max_depth or self.max_complexity or self.max_aliases)


def limit_error(
    code: str, message: str, *, limit: int, actual: int, nodes: Any = None
) -> GraphQLError:
    """A refusal: ``extensions = {code, limit, actual}``."""
    return GraphQLError(
        message, nodes=nodes, extensions={"code": code, "limit": limit, "actual": actual}
    )


# --- tokens ---------------------------------------------------------------------------


def count_tokens(query: str, *, comments: bool = False, stop_after: int | None = None) -> int:
    """Lexical tokens of ``query`` (or, with ``comments=True``, its comments), counted the
    way the parser's limits count them; stops once past ``stop_after`` or at a lexical error.
    """
    lexer = Lexer(Source(query))
    count = 0
    token = lexer.token
    try:
        while True:
            token = lexer.read_next_token(token.end)
            if token.kind == TokenKind.EOF:
                return count
            if (token.kind == TokenKind.COMMENT) == comments:
                count += 1
                if stop_after is not None and count > stop_after:
                    return count
    except GraphQLError:
        return count


def token_limit_error(error: GraphQLError, query: str | None, limit: int) -> GraphQLError | None:
    """The coded version of graphql-core's "more than N tokens/comments" syntax error."""
    match = _PARSER_LIMIT.search(error.message)
    if match is None:
        return None
    what = match.group(1)
    cap = limit * 10  # counting a huge document to the end would be the attack itself
    actual = count_tokens(query or "", comments=what == "comments", stop_after=cap)
    amount = f"more than {cap}" if actual > cap else str(actual)
    return limit_error(
        TOO_MANY_TOKENS,
        f"document has {amount} {what}, over the limit of {limit}",
        limit=limit,
        actual=actual,
    )


# --- depth, cost, aliases -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryCost:
    """What one operation asks for."""

    depth: int = 0
    #: estimated cost (per unit of the enclosing lists; see the module docs)
    complexity: int = 0
    aliases: int = 0

    def __add__(self, other: QueryCost) -> QueryCost:
        return QueryCost(
            max(self.depth, other.depth),
            self.complexity + other.complexity,
            self.aliases + other.aliases,
        )


_ZERO = QueryCost()


_INT, _REPRESENTATIONS = 0, 1
#: (how it was read, variable name, what the walk got: an int, or None)
_Read = tuple[int, str, int | None]


def _derive(
    kind: int, name: str, variables: Mapping[str, Any], defaults: Mapping[str, Any]
) -> int | None:
    """What the walk takes from variable ``name``: an int argument's value (else its
    default; not an int: None), or how many representations a list holds."""
    if kind == _REPRESENTATIONS:
        value = variables.get(name)
        return len(value) if isinstance(value, list) else 1
    found = variables.get(name, defaults.get(name))
    return found if isinstance(found, int) and not isinstance(found, bool) else None


class _Measure:
    """Walks one operation; fragments are measured once each (no fragment-bomb blowup)."""

    def __init__(
        self,
        context: ValidationContext,
        operation: OperationDefinitionNode,
        limits: QueryLimits,
        variables: Mapping[str, Any],
    ) -> None:
        self.context = context
        self.limits = limits
        self.variables = variables
        self.defaults: dict[str, Any] = {}
        for definition in operation.variable_definitions or ():
            if isinstance(definition.default_value, IntValueNode):
                self.defaults[definition.variable.name.value] = int(definition.default_value.value)
        self._fragments: dict[tuple[str, int | None, bool], QueryCost] = {}
        self._visiting: set[str] = set()
        #: what the walk read from the variables, in order: the cost is a function of these
        self.reads: list[_Read] = []

    def selection_set(
        self,
        selections: SelectionSetNode | None,
        parent: GraphQLNamedType | None,
        deferred: int | None,
        introspection: bool,
    ) -> QueryCost:
        total = _ZERO
        if selections is None:
            return total
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, deferred, introspection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.context.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(
                    selection.selection_set, target, deferred, introspection
                )
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value, deferred, introspection)
        return total

    def fragment(self, name: str, deferred: int | None, introspection: bool) -> QueryCost:
        key = (name, deferred, introspection)
        if key in self._fragments:
            return self._fragments[key]
        definition = self.context.get_fragment(name)
        if definition is None or name in self._visiting:
            return _ZERO  # unknown or cyclic: other rules report it
        self._visiting.add(name)
        try:
            target = self.context.schema.get_type(definition.type_condition.name.value)
            measured = self.selection_set(definition.selection_set, target, deferred, introspection)
        finally:
            self._visiting.discard(name)
        self._fragments[key] = measured
        return measured

    def field(
        self,
        node: FieldNode,
        parent: GraphQLNamedType | None,
        deferred: int | None,
        introspection: bool,
    ) -> QueryCost:
        aliases = 1 if node.alias is not None else 0
        name = node.name.value
        definition = _INTROSPECTION.get(name)
        if definition is not None:
            introspection = True
        elif isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            definition = parent.fields.get(name)
        if definition is None:
            # Unknown field (FieldsOnCorrectTypeRule reports it); still count its aliases.
            inner = self.selection_set(node.selection_set, None, None, introspection)
            return QueryCost(0, 0, aliases + inner.aliases)
        named = get_named_type(definition.type)
        is_list = is_list_type(get_nullable_type(definition.type))
        size = self.slice_size(node, definition)
        if size is None and name == "_entities":
            # federation: one item per representation, not the default list size
            size = self.representations(node)
        child_deferred: int | None = None
        if size is not None and is_list:
            factor = size
        elif size is not None:
            factor, child_deferred = 1, size  # a page: its list below gets the size
        elif is_list:
            factor = deferred if deferred is not None else self.limits.default_list_size
        else:
            factor = 1
        inner = self.selection_set(node.selection_set, named, child_deferred, introspection)
        if introspection:
            return QueryCost(0, 0, aliases + inner.aliases)
        parent_name = getattr(parent, "name", "")
        own = self.limits.field_costs.get(f"{parent_name}.{name}")
        if own is None:
            composite = is_composite_type(named)
            own = self.limits.object_cost if composite else self.limits.scalar_cost
        own += self.walk_cost(node, definition)
        return QueryCost(1 + inner.depth, own + factor * inner.complexity, aliases + inner.aliases)

    def representations(self, node: FieldNode) -> int | None:
        """How many ``representations`` an ``_entities`` call passes (literal or variable)."""
        for argument in node.arguments or ():
            if argument.name.value != "representations":
                continue
            if isinstance(argument.value, ListValueNode):
                return len(argument.value.values)
            if isinstance(argument.value, VariableNode):
                found = _derive(_REPRESENTATIONS, argument.value.name.value, self.variables, {})
                self.reads.append((_REPRESENTATIONS, argument.value.name.value, found))
                return found
            return 1  # one object, coerced to a list of one
        return None

    def int_value(self, value: ValueNode) -> int | None:
        """An argument's int: a literal, or the variable's value (else its default)."""
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            var = value.name.value
            found = _derive(_INT, var, self.variables, self.defaults)
            self.reads.append((_INT, var, found))
            return found
        return None

    @staticmethod
    def default_int(definition: GraphQLField, name: str) -> int | None:
        default = getattr(definition.args.get(name), "default_value", None)
        return default if isinstance(default, int) and not isinstance(default, bool) else None

    def int_argument(self, node: FieldNode, definition: GraphQLField, name: str) -> int | None:
        """An int argument's value: literal, variable, or the field's default."""
        for argument in node.arguments or ():
            if argument.name.value == name:
                return self.int_value(argument.value)
        return self.default_int(definition, name)

    def walk_cost(self, node: FieldNode, definition: GraphQLField) -> int:
        depth_arg, limit_arg = self.limits.walk_arguments
        if depth_arg not in definition.args or limit_arg not in definition.args:
            return 0
        depth = self.int_argument(node, definition, depth_arg) or 0
        limit = self.int_argument(node, definition, limit_arg) or 0
        return max(0, depth) * max(0, limit)

    def slice_size(self, node: FieldNode, definition: GraphQLField) -> int | None:
        for argument in node.arguments or ():
            if argument.name.value in self.limits.slicing_arguments:
                value = self.int_value(argument.value)
                # null or not an int: coercion reports it, or the default applies
                return None if value is None else max(0, value)
        for name in self.limits.slicing_arguments:
            default = self.default_int(definition, name)
            if default is not None:
                return max(0, default)
        return None


def measure_operation(
    context: ValidationContext,
    operation: OperationDefinitionNode,
    limits: QueryLimits,
    variables: Mapping[str, Any] | None = None,
) -> QueryCost:
    """Depth, cost and aliases of ``operation`` (fragments expanded)."""
    return _measure(context, operation, limits, variables or {})[0]


def _measure(
    context: ValidationContext,
    operation: OperationDefinitionNode,
    limits: QueryLimits,
    variables: Mapping[str, Any],
) -> tuple[QueryCost, tuple[_Read, ...]]:
    schema = context.schema
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }.get(operation.operation)
    measure = _Measure(context, operation, limits, variables)
    cost = measure.selection_set(operation.selection_set, root, None, False)
    return cost, tuple(measure.reads)


_MAX_COSTED_OPERATIONS = 1000
_MAX_VARIANTS = 8  # variable readings remembered per operation


class _CostCache:
    """Costs of operations already walked, per operation node (the document cache hands
    the same parsed document to every request sending its text) and per what the walk
    read from the variables: ``limit: $n`` is priced again only when ``n`` changes.

    The walk is a function of the document, the schema, the limits and those readings,
    so a remembered cost equals a new walk's. Entries leave with their document (weak
    reference) or, oldest first, past ``_MAX_COSTED_OPERATIONS``."""

    def __init__(self) -> None:
        self._entries: OrderedDict[int, _Costed] = OrderedDict()
        self._lock = threading.Lock()

    def cost(
        self,
        context: ValidationContext,
        operation: OperationDefinitionNode,
        limits: QueryLimits,
        variables: Mapping[str, Any],
    ) -> QueryCost:
        key = id(operation)
        found = self._entries.get(key)
        if found is not None and found.operation() is operation and found.schema is context.schema:
            defaults = found.defaults
            for reads, cost in found.variants:
                if all(_derive(k, n, variables, defaults) == v for k, n, v in reads):
                    return cost
        cost, reads = _measure(context, operation, limits, variables)
        with self._lock:
            found = self._entries.get(key)
            if found is None or found.operation() is not operation:
                found = _Costed(self, operation, context.schema)
                self._entries[key] = found
                while len(self._entries) > _MAX_COSTED_OPERATIONS:
                    self._entries.popitem(last=False)
            if len(found.variants) >= _MAX_VARIANTS:
                found.variants.clear()
            found.variants.append((reads, cost))
        return cost

    def drop(self, key: int, ref: weakref.ref[OperationDefinitionNode]) -> None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found.operation is ref:
                del self._entries[key]


class _Costed:
    __slots__ = ("defaults", "operation", "schema", "variants")

    def __init__(
        self, cache: _CostCache, operation: OperationDefinitionNode, schema: GraphQLSchema
    ) -> None:
        key = id(operation)
        self.operation = weakref.ref(operation, lambda ref: cache.drop(key, ref))
        self.schema = schema
        self.defaults = {
            d.variable.name.value: int(d.default_value.value)
            for d in operation.variable_definitions or ()
            if isinstance(d.default_value, IntValueNode)
        }
        self.variants: list[tuple[tuple[_Read, ...], QueryCost]] = []


def limits_rule(
    limits: QueryLimits, variables: Mapping[str, Any] | None = None
) -> type[ASTValidationRule]:
    """A validation rule checking depth, complexity and aliases of every operation.

    ``variables`` are the request's raw variable values, so ``limit: $n`` is priced at
    the ``n`` the client sent (validation itself never sees variables).
    """
    values = dict(variables or {})
    return _limits_rule(limits, lambda: values)


#: the raw variables of the request being validated (set by QueryLimitsExtension)
_request_variables: ContextVar[Mapping[str, Any]] = ContextVar(
    "dictamesh_graphql_variables", default=MappingProxyType({})
)


def _limits_rule(
    limits: QueryLimits, variables: Callable[[], Mapping[str, Any]]
) -> type[RequestValidationRule]:
    # Priced per request (variables) and charged to the tenant: a RequestValidationRule,
    # so a cached verdict never stands in for it; the walk itself is remembered.
    costs = _CostCache()

    class QueryLimitsRule(RequestValidationRule):
        operations_only = True

        def enter_operation_definition(
            self, node: OperationDefinitionNode, *_args: Any
        ) -> VisitorAction:
            cost = costs.cost(self.context, node, limits, variables())
            name = f"operation {node.name.value!r}" if node.name else "the operation"
            checks = (
                (limits.max_depth, cost.depth, QUERY_TOO_DEEP, "depth"),
                (limits.max_complexity, cost.complexity, QUERY_TOO_COMPLEX, "complexity"),
                (limits.max_aliases, cost.aliases, TOO_MANY_ALIASES, "aliases"),
            )
            refused = False
            for limit, actual, code, what in checks:
                if limit and actual > limit:
                    refused = True
                    self.report_error(
                        limit_error(
                            code,
                            f"{what} {actual} of {name} exceeds the limit of {limit}",
                            limit=limit,
                            actual=actual,
                            nodes=[node],
                        )
                    )
            if not refused:
                # the tenant pays for what it is about to run; a refused query costs nothing
                try:
                    charge_query_cost(None, cost.complexity)
                except TenantQuotaExceeded as exc:
                    self.report_error(
                        GraphQLError(
                            exc.message,
                            nodes=[node],
                            extensions={
                                "code": exc.code,
                                "cost": cost.complexity,
                                "retryAfter": exc.retry_after,
                            },
                        )
                    )
            return SKIP  # this rule needs nothing below the operation

        def enter_fragment_definition(self, *_args: Any) -> VisitorAction:
            return SKIP

    return QueryLimitsRule


# --- the extension --------------------------------------------------------------------


class QueryLimitsExtension(SchemaExtension):
    """Applies :class:`QueryLimits` to every operation of a Strawberry schema.

    Tokens are capped in the parser (it stops at the limit, before the AST is complete);
    depth, complexity and aliases are one validation rule. Use :func:`limits_extension`
    to get a factory (Strawberry creates one extension instance per request).
    """

    def __init__(
        self,
        limits: QueryLimits | None = None,
        rule: type[RequestValidationRule] | None = None,
    ) -> None:
        self.limits = limits if limits is not None else QueryLimits()
        # One rule class per factory (not per request): creating a class costs CPU, and
        # the rule reads this request's variables from a context variable instead.
        self.rule = rule if rule is not None else _limits_rule(self.limits, _request_variables.get)

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        limits = self.limits
        if limits.max_tokens:
            # ParseOptions is typed with max_tokens only; graphql-core takes these too.
            options = cast(dict[str, Any], ctx.parse_options)
            options["max_lexical_tokens"] = limits.max_tokens
            options["max_comments"] = limits.max_tokens
        rules: list[type[ASTValidationRule]] = []
        if limits.checks_operations:
            rules.append(self.rule)
        if not limits.introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        if rules:
            ctx.validation_rules = (*ctx.validation_rules, *rules)
        token = _request_variables.set(ctx.variables or {})
        try:
            yield
        finally:
            _request_variables.reset(token)
        result = ctx.result
        errors = getattr(result, "errors", None)
        if result is not None and errors and limits.max_tokens:
            result.errors = [
                token_limit_error(e, ctx.query, limits.max_tokens) or e for e in errors
            ]


@dataclass(frozen=True)
class LimitsExtensionFactory:
    """Makes one :class:`QueryLimitsExtension` per request (what Strawberry expects)."""

    limits: QueryLimits
    rule: type[RequestValidationRule] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rule", _limits_rule(self.limits, _request_variables.get))

    def __call__(self) -> SchemaExtension:
        return QueryLimitsExtension(self.limits, self.rule)


def limits_extension(limits: QueryLimits | None = None) -> LimitsExtensionFactory:
    """A factory for ``Schema(extensions=[...])`` / ``build_schema(extensions=[...])``."""
    return LimitsExtensionFactory(limits if limits is not None else QueryLimits())


def install_limits(schema: Schema, limits: QueryLimits) -> Schema:
    """Add the limits to an already built ``schema`` unless it has them (in place).

    Strawberry creates its extensions per request from ``schema.extensions``, so adding
    a factory later works; a schema that already carries one keeps its own limits.
    """
    if not any(isinstance(ext, LimitsExtensionFactory) for ext in schema.extensions):
        schema.extensions = (*schema.extensions, limits_extension(limits))
    return schema
