"""Sandboxed Jinja2 expressions over an event: the one place predicates are compiled.

Notification rules (``notifications/templates.py``) and router rules (``router/rules.py``)
both accept a predicate such as ``after.country == 'DE' and 'email' in changed_fields``.
Both compile it here, in the same sandbox: no ``_``-attributes, no mutating lists or
dicts, ``range`` capped, and ``*``/``**`` refused when they would build huge values. Each
caller says which names its expressions may use; an unknown name is a load-time problem,
not a runtime surprise.

Example::

    env = sandbox()
    problem = predicate_problem(env, "after.country == 'DE'", {"after", "before"})
    matches = compile_predicate(env, "after.country == 'DE'", {"after", "before"})
    matches({"after": {"country": "DE"}})   # True
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping
from typing import Any

from jinja2 import (
    BaseLoader,
    ChainableUndefined,
    StrictUndefined,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    nodes,
)
from jinja2.exceptions import SecurityError, TemplateRuntimeError
from jinja2.meta import find_undeclared_variables
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from dictamesh.core.errors import ConfigurationError

__all__ = [
    "ExpressionSandbox",
    "Predicate",
    "compile_predicate",
    "error_reason",
    "predicate_problem",
    "sandbox",
    "unknown_names",
]

#: sizes the sandbox refuses to build with ``*`` and ``**`` (an expression is not a way to
#: exhaust a node's memory)
_MAX_REPEAT = 1_000_000
_MAX_EXPONENT = 1000


class _Undefined(ChainableUndefined):
    """Strict at the top level, lenient below it.

    A name the context does not have (``{{ evnt.after }}``) is a mistake: it raises (a
    :class:`StrictUndefined`), and loading already refuses such names. A missing key or
    attribute of a value (``after.country`` for an event without ``country``, or ``after``
    being ``None`` for a delete) is normal for optional event fields: it renders as ``""``,
    is false, iterates as empty, and chains (``event.a.b.c``). The sandbox's refusals
    (``''.__class__``) stay errors (``SecurityError``), as do other hinted undefined
    values Jinja makes with a non-default exception.
    """

    __slots__ = ()

    def __new__(  # type: ignore[misc]  # a StrictUndefined for the strict cases
        cls,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[TemplateRuntimeError] = UndefinedError,
    ) -> Undefined:
        if exc is not UndefinedError or (obj is missing and hint is None):
            return StrictUndefined(hint, obj, name, exc)
        return super().__new__(cls)


class ExpressionSandbox(ImmutableSandboxedEnvironment):
    """The sandbox (no ``_``-attributes, no mutating lists or dicts, ``range`` capped),
    also refusing ``*`` and ``**`` that would build huge values."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > _MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and len(seq) * times > _MAX_REPEAT
                ):
                    raise SecurityError("repeating a sequence that often is not allowed")
        return super().call_binop(context, operator, left, right)


def _finalize(value: Any) -> Any:
    return "" if value is None else value


def sandbox(loader: BaseLoader | None = None, *, html: bool = False) -> ExpressionSandbox:
    """A sandboxed environment (``html``: autoescaped) for templates and predicates."""
    # trim_blocks/lstrip_blocks: a line holding only a {% tag %} leaves no blank line
    # behind, as plain-text mail needs; None prints as "" rather than "None"
    return ExpressionSandbox(
        loader=loader,
        undefined=_Undefined,
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        finalize=_finalize,
    )


def error_reason(exc: BaseException) -> str:
    """``"TypeError: ..."``, at most 300 characters."""
    reason = f"{type(exc).__name__}: {exc}"
    return reason if len(reason) <= 300 else reason[:299] + "…"


class Predicate:
    """A compiled predicate, called with a context mapping: ``True`` when the expression's
    value is truthy. An evaluation error (``after.amount > 100`` with no ``amount``, a
    failing filter) counts as no match: it returns ``False``, adds to :attr:`errors` (the
    caller turns that into a metric) and calls ``on_error``. ``prepare`` turns the caller's
    context into the names the expression sees (default: as given)."""

    def __init__(
        self,
        expression: str,
        compiled: Callable[..., Any],
        on_error: Callable[[Exception], None] | None = None,
        prepare: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    ) -> None:
        self.expression = expression
        self._compiled = compiled
        self._on_error = on_error
        self._prepare = prepare
        #: evaluations that failed (and returned ``False``)
        self.errors = 0
        #: the latest failure, ``"TypeError: ..."``
        self.last_error: str | None = None

    def __call__(self, context: Mapping[str, Any]) -> bool:
        try:
            values = self._prepare(context) if self._prepare is not None else context
            return bool(self._compiled(**values))
        except Exception as exc:
            self.errors += 1
            self.last_error = error_reason(exc)
            if self._on_error is not None:
                self._on_error(exc)
            return False

    def __repr__(self) -> str:
        return f"Predicate({self.expression!r})"


def unknown_names(
    env: ExpressionSandbox, ast: nodes.Template, names: Collection[str]
) -> tuple[str, int] | None:
    """``("unknown name 'evnt' (did you mean 'event'?)", line)`` for names neither
    ``names`` nor Jinja's globals have, ``None`` when there are none."""
    unknown = find_undeclared_variables(ast) - set(names) - set(env.globals)
    if not unknown:
        return None
    line = min(
        (n.lineno for n in ast.find_all(nodes.Name) if n.name in unknown and n.ctx == "load"),
        default=1,
    )
    known = sorted(names)
    words = []
    for name in sorted(unknown):
        close = difflib.get_close_matches(name, known, n=1)
        words.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    plural = "s" if len(unknown) > 1 else ""
    return f"unknown name{plural} {', '.join(words)}", line


def predicate_problem(
    env: ExpressionSandbox, expression: str, names: Collection[str]
) -> str | None:
    """What is wrong with a predicate expression (syntax, unknown names), ``None`` when
    nothing."""
    try:
        parser = Parser(env, expression, state="variable")
        expr = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError(
                "chunk after expression", parser.stream.current.lineno, None, None
            )
    except TemplateSyntaxError as exc:
        return f"predicate syntax error: {exc.message}"
    ast = nodes.Template([nodes.Assign(nodes.Name("result", "store"), expr)], lineno=1)
    ast.set_environment(env)
    unknown = unknown_names(env, ast, names)
    return None if unknown is None else unknown[0]


def compile_predicate(
    env: ExpressionSandbox,
    expression: str,
    names: Collection[str],
    *,
    on_error: Callable[[Exception], None] | None = None,
    prepare: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
) -> Predicate:
    """``expression`` compiled in ``env``; a syntax error or a name outside ``names`` raises
    :class:`ConfigurationError` (callers that know the YAML line check
    :func:`predicate_problem` first and word it with the line)."""
    problem = predicate_problem(env, expression, names)
    if problem is not None:
        raise ConfigurationError(f"predicate {expression!r}: {problem}")
    compiled = env.compile_expression(expression, undefined_to_none=True)
    return Predicate(expression, compiled, on_error, prepare)
