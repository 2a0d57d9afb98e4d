"""Notification templates: Jinja2 in a sandbox, per locale, checked when they load.

A template has three parts: a one-line ``subject``, a plain ``text`` and an optional
``html`` (autoescaped; subject and text are not). Where templates come from, the first
that has a name winning per locale:

1. ``notifications.templates.<name>.<locale>`` in ``mesh.yaml`` (``"*"``: any locale);
2. ``templates_dir``: ``<name>.<locale>.subject.j2``, ``<name>.<locale>.txt.j2``,
   ``<name>.<locale>.html.j2``; without ``.<locale>`` for any locale. Files starting with
   ``_`` are partials for ``{% include %}`` / ``{% extends %}`` / ``{% import %}``;
3. the built-in ``event``, ``digest``, ``breaker_opened`` and ``saga_failed`` (English and
   German, :mod:`dictamesh.notifications.builtin_templates`).

A recipient's locale falls back ``de_AT`` → ``de`` → ``default_locale`` → ``en`` → the
any-locale variant, first among the configured templates (1 and 2) of that name, then
among the built-in ones; failing both, the name's first configured locale.

:meth:`TemplateSet.build` compiles every template at load: a syntax error, an unknown
name in a template or a predicate, or a rule naming an unknown template is a
:class:`~dictamesh.notifications.errors.NotificationConfigError` naming the YAML line or
the template file and line. What only rendering can find (the sandbox refusing an access,
a failing filter) is a :class:`~dictamesh.notifications.errors.TemplateRenderError`.

Example::

    templates = TemplateSet.build(settings.notifications, source_file=settings.source_file)
    rendered = templates.render("event", "de_AT", {"event": event, "rule": "crm", ...})
    matches = templates.compile_predicate("after.country == 'DE'")
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, FileSystemLoader, Template, TemplateSyntaxError, nodes

from dictamesh.core.expressions import ExpressionSandbox as _Sandbox
from dictamesh.core.expressions import Predicate, error_reason, predicate_problem, sandbox
from dictamesh.core.expressions import unknown_names as _unknown_in
from dictamesh.core.settings import NotificationSettings, TemplateText
from dictamesh.core.yaml_env import config_problem
from dictamesh.notifications.builtin_templates import BUILTIN_TEMPLATES
from dictamesh.notifications.errors import NotificationConfigError, TemplateRenderError

__all__ = ["CONTEXT_NAMES", "SUBJECT_MAX", "Predicate", "Rendered", "TemplateSet"]

#: RFC 5322: a header line is at most 998 characters
SUBJECT_MAX = 998

#: the names a template or predicate may use (and Jinja's globals: ``range``, ``dict``...)
CONTEXT_NAMES = frozenset(
    {
        # what the notifier passes
        "event",
        "rule",
        "priority",
        "recipient",
        "tenant_id",
        "count",
        "items",
        "mesh_event",
        # taken from ``event`` for short predicates (``after.country == 'DE'``)
        "after",
        "before",
        "changed_fields",
        "entity_type",
        "entity_id",
        "event_type",
    }
)
_FROM_EVENT = ("after", "before", "changed_fields", "entity_type", "entity_id", "event_type")

#: the locale key of a template for any locale (inline ``"*"``; files without a locale)
_ANY = "*"
_LOCALE = re.compile(r"^[a-z]{2}(_[A-Z]{2})?$")
_FILE = re.compile(
    r"^(?P<name>[A-Za-z0-9_.-]{1,100}?)(?:\.(?P<locale>[a-z]{2}(?:_[A-Z]{2})?))?"
    r"\.(?P<part>subject|txt|html)\.j2$"
)
_PARTS = {"subject": "subject", "txt": "text", "html": "html"}


def _environment(loader: BaseLoader | None, *, html: bool) -> _Sandbox:
    return sandbox(loader, html=html)


@dataclass(frozen=True)
class Rendered:
    """One notification's rendered parts: ``subject`` is one line of at most 998
    characters, ``html`` is ``None`` when the template has no html part."""

    subject: str
    text: str
    html: str | None


@dataclass(frozen=True)
class _Variant:
    """One name's compiled parts for one locale (``_ANY``: any)."""

    subject: Template
    text: Template
    html: Template | None
    origin: str


class TemplateSet:
    """Every notification template of a node, compiled (:meth:`build`)."""

    def __init__(
        self,
        configured: dict[str, dict[str, _Variant]],
        builtin: dict[str, dict[str, _Variant]],
        *,
        default_locale: str,
        text_env: _Sandbox,
        source_file: Path | None,
    ) -> None:
        self._configured = configured
        self._builtin = builtin
        self._default_locale = default_locale
        self._text_env = text_env
        self._source_file = source_file
        self._resolved: dict[tuple[str, str | None], _Variant | None] = {}

    # --- loading ----------------------------------------------------------------------

    @classmethod
    def build(
        cls, settings: NotificationSettings, *, source_file: Path | None = None
    ) -> TemplateSet:
        """Compile every template (inline, ``templates_dir``, built-in) and check each
        rule's template name and predicate; all problems at once, as one
        :class:`NotificationConfigError` naming ``source_file``'s lines and template
        files' lines."""
        problems: list[str] = []
        directory = settings.templates_dir
        loader = None
        if directory is not None:
            if directory.is_dir():
                loader = FileSystemLoader(str(directory.absolute()))
            else:
                problems.append(
                    config_problem(
                        source_file,
                        ("notifications", "templates_dir"),
                        f"{directory} is not a directory",
                    )
                )
        text_env = _environment(loader, html=False)
        html_env = _environment(loader, html=True)
        envs = (text_env, html_env)

        configured: dict[str, dict[str, _Variant]] = {}
        if loader is not None and directory is not None:
            configured = _load_directory(directory, envs, problems)
        for name, locales in settings.templates.items():
            for locale, template in locales.items():
                loc: tuple[str | int, ...] = ("notifications", "templates", name, locale)
                if locale != _ANY and not _LOCALE.match(locale):
                    problems.append(
                        config_problem(
                            source_file, loc, "expected a locale like 'de' or 'de_AT', or '*'"
                        )
                    )
                    continue
                variant = _compile_inline(template, loc, envs, source_file, problems)
                if variant is not None:
                    configured.setdefault(name, {})[locale] = variant

        builtin = _builtin_variants()

        for i, rule in enumerate(settings.rules):
            if rule.template not in configured and rule.template not in builtin:
                names = sorted({*configured, *builtin})
                known = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
                problems.append(
                    config_problem(
                        source_file,
                        ("notifications", "rules", i, "template"),
                        f"unknown template {rule.template!r} (known: {known})",
                    )
                )
            if rule.when.predicate is not None:
                loc = ("notifications", "rules", i, "when", "predicate")
                problem = _predicate_problem(text_env, rule.when.predicate)
                if problem is not None:
                    problems.append(config_problem(source_file, loc, problem))
        if problems:
            raise NotificationConfigError(problems)
        return cls(
            configured,
            builtin,
            default_locale=settings.default_locale,
            text_env=text_env,
            source_file=source_file,
        )

    # --- using ------------------------------------------------------------------------

    def has(self, name: str) -> bool:
        return name in self._configured or name in self._builtin

    def names(self) -> list[str]:
        """Every template name, configured or built-in."""
        return sorted({*self._configured, *self._builtin})

    def render(self, name: str, locale: str | None, context: Mapping[str, Any]) -> Rendered:
        """Render ``name`` for ``locale`` (``None``: the default locale) with ``context``
        (``docs/notifications.md``). Any failure is a :class:`TemplateRenderError`."""
        variant = self._variant(name, locale)
        if variant is None:
            raise TemplateRenderError(name, locale, "no such template")
        values = _context(context)
        try:
            subject = _one_line(variant.subject.render(values))
            text = _tidy(variant.text.render(values))
            html = variant.html.render(values) if variant.html is not None else None
        except Exception as exc:  # the sandbox, a filter, a strict name, a recursion...
            raise TemplateRenderError(name, locale, _reason(exc)) from exc
        return Rendered(subject=subject, text=text, html=html)

    def compile_predicate(
        self,
        expression: str,
        *,
        loc: Sequence[str | int] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> Predicate:
        """A rule's ``when.predicate``, a Jinja2 expression over the render context
        (``after.country == 'DE' and 'email' in changed_fields``), compiled in the sandbox.

        A syntax error or an unknown name raises :class:`NotificationConfigError` (naming
        the YAML line of ``loc``, e.g. ``("notifications", "rules", 3, "when",
        "predicate")``, when given). Evaluation errors make the predicate false and are
        counted on the returned :class:`Predicate` (``errors``, ``on_error``)."""
        problem = _predicate_problem(self._text_env, expression)
        if problem is not None:
            if loc is None:
                raise NotificationConfigError(f"predicate {expression!r}: {problem}")
            raise NotificationConfigError(config_problem(self._source_file, loc, problem))
        compiled = self._text_env.compile_expression(expression, undefined_to_none=True)
        return Predicate(expression, compiled, on_error, prepare=_context)

    # --- internals --------------------------------------------------------------------

    def _variant(self, name: str, locale: str | None) -> _Variant | None:
        key = (name, locale)
        if key not in self._resolved:
            chain = _locale_chain(locale, self._default_locale)
            found = None
            for layer in (self._configured.get(name), self._builtin.get(name)):
                if layer:
                    found = next((layer[loc] for loc in chain if loc in layer), None)
                    if found is not None:
                        break
            configured = self._configured.get(name)
            if found is None and configured:  # only other locales: better than nothing
                found = configured[min(configured)]
            if len(self._resolved) < 10_000:  # names x locales: bounded in practice
                self._resolved[key] = found
            return found
        return self._resolved[key]


# --- compiling ----------------------------------------------------------------------------


@functools.cache
def _builtin_variants() -> dict[str, dict[str, _Variant]]:
    """The built-in templates, compiled once per process (in their own sandbox without a
    ``templates_dir``: they include nothing)."""
    problems: list[str] = []
    envs = (_environment(None, html=False), _environment(None, html=True))
    builtin: dict[str, dict[str, _Variant]] = {}
    for name, locales in BUILTIN_TEMPLATES.items():
        for locale, template in locales.items():
            loc = ("built-in template", name, locale)
            variant = _compile_inline(template, loc, envs, None, problems)
            if variant is not None:
                builtin.setdefault(name, {})[locale] = variant
    if problems:  # a bug of ours, found by the tests
        raise NotificationConfigError(problems)
    return builtin


def _compile_inline(
    template: TemplateText,
    loc: tuple[str | int, ...],
    envs: tuple[_Sandbox, _Sandbox],
    source_file: Path | None,
    problems: list[str],
) -> _Variant | None:
    parts: dict[str, Template | None] = {}
    for part, source in (
        ("subject", template.subject),
        ("text", template.text),
        ("html", template.html or None),
    ):
        if source is None:
            parts[part] = None
            continue
        env = envs[1] if part == "html" else envs[0]
        try:
            compiled = env.from_string(source)
        except TemplateSyntaxError as exc:
            problems.append(config_problem(source_file, (*loc, part), _syntax_message(exc, source)))
            continue
        unknown = _check(env, env.parse(source))
        if unknown:
            names, line = unknown
            where = f" (template line {line})" if "\n" in source.strip() else ""
            problems.append(config_problem(source_file, (*loc, part), f"{names}{where}"))
            continue
        parts[part] = compiled
    if len(parts) < 3:
        return None
    subject, text = parts["subject"], parts["text"]
    assert subject is not None
    assert text is not None
    return _Variant(subject=subject, text=text, html=parts["html"], origin=".".join(map(str, loc)))


def _load_directory(
    directory: Path, envs: tuple[_Sandbox, _Sandbox], problems: list[str]
) -> dict[str, dict[str, _Variant]]:
    """The variants ``directory`` holds; problems name the file and line."""
    found: dict[tuple[str, str], dict[str, Template]] = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file() or not path.name.endswith(".j2"):
            continue
        match = _FILE.match(path.name)
        partial = path.name.startswith("_")
        if match is None and not partial:
            problems.append(
                f"{path}: not a template file name: expected "
                "<name>[.<locale>].subject.j2, .txt.j2 or .html.j2 (partials start with _)"
            )
            continue
        part = "text" if match is None else _PARTS[match["part"]]
        env = envs[1] if part == "html" else envs[0]
        try:
            template = env.get_template(path.name)
            source = path.read_text(encoding="utf-8")
        except TemplateSyntaxError as exc:
            problems.append(f"{path}, line {exc.lineno}: template syntax error: {exc.message}")
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot be read: {exc}")
            continue
        unknown = _check(env, env.parse(source))
        if unknown:
            problems.append(f"{path}, line {unknown[1]}: {unknown[0]}")
            continue
        if match is not None and not partial:
            key = (match["name"], match["locale"] or _ANY)
            found.setdefault(key, {})[part] = template
    variants: dict[str, dict[str, _Variant]] = {}
    for (name, locale), parts in found.items():
        empty = envs[0].from_string("")
        variants.setdefault(name, {})[locale] = _Variant(
            subject=parts.get("subject", empty),
            text=parts.get("text", empty),
            html=parts.get("html"),
            origin=str(directory / f"{name}.{locale}"),
        )
    return variants


def _syntax_message(exc: TemplateSyntaxError, source: str) -> str:
    if "\n" in source.strip():
        return f"template syntax error in template line {exc.lineno}: {exc.message}"
    return f"template syntax error: {exc.message}"


def _check(env: _Sandbox, ast: nodes.Template) -> tuple[str, int] | None:
    """``(problem, line)``: the first of an unknown name or a partial that is not there."""
    return _unknown_names(env, ast) or _missing_partial(env, ast)


def _missing_partial(env: _Sandbox, ast: nodes.Template) -> tuple[str, int] | None:
    """A template ``{% include %}``/``{% extends %}``/``{% import %}`` names that the
    ``templates_dir`` does not have (a name computed at render time is not checked)."""
    available = set(env.loader.list_templates()) if env.loader is not None else set()
    for node in ast.find_all((nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
        target = getattr(node, "template", None)
        name = target.value if isinstance(target, nodes.Const) else None
        if isinstance(name, str) and name not in available:
            where = "templates_dir" if env.loader is not None else "no templates_dir"
            return f"template {name!r} not found ({where})", node.lineno
    return None


def _unknown_names(env: _Sandbox, ast: nodes.Template) -> tuple[str, int] | None:
    """``("unknown name 'evnt' (...)", line)`` for names neither the context nor Jinja's
    globals have, ``None`` when there are none."""
    return _unknown_in(env, ast, CONTEXT_NAMES)


def _predicate_problem(env: _Sandbox, expression: str) -> str | None:
    """What is wrong with a predicate expression, ``None`` when nothing."""
    return predicate_problem(env, expression, CONTEXT_NAMES)


# --- rendering ----------------------------------------------------------------------------


def _context(context: Mapping[str, Any]) -> dict[str, Any]:
    """The documented names, ``None``/empty where the caller gave none, and the event's
    ``after``, ``before``... at the top level."""
    event = context.get("event")
    if not isinstance(event, Mapping):
        event = {}
    values: dict[str, Any] = {
        "event": event,
        "rule": None,
        "priority": None,
        "recipient": None,
        "tenant_id": event.get("tenant_id"),
        "count": 1,
        "items": [],
        "mesh_event": None,
        **{key: event.get(key) for key in _FROM_EVENT},
    }
    values.update(context)
    if values["changed_fields"] is None:
        values["changed_fields"] = []
    return values


def _locale_chain(locale: str | None, default_locale: str) -> list[str]:
    """``de_AT`` → ``de`` → the default locale (and its language) → ``en`` → any."""
    chain: list[str] = []
    for candidate in (locale, default_locale, "en"):
        if not candidate:
            continue
        language, _, region = candidate.replace("-", "_").partition("_")
        language = language.lower()
        if region:
            chain.append(f"{language}_{region.upper()}")
        chain.append(language)
    chain.append(_ANY)
    return list(dict.fromkeys(chain))


_NEWLINES = re.compile(r"\s*[\r\n]+\s*")
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")


def _one_line(subject: str) -> str:
    """Newlines (and the space around them) collapsed to one space, trimmed, at most
    :data:`SUBJECT_MAX` characters."""
    line = _NEWLINES.sub(" ", subject).strip()
    if len(line) > SUBJECT_MAX:
        line = line[: SUBJECT_MAX - 1].rstrip() + "…"
    return line


def _tidy(text: str) -> str:
    """At most one blank line in a row, no blank lines around."""
    return _BLANK_LINES.sub("\n\n", text).strip("\n")


def _reason(exc: BaseException) -> str:
    return error_reason(exc)
