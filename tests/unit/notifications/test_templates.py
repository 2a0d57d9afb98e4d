"""Notification templates: compiled at load with the YAML or file line of any problem,
rendered in a sandbox per locale, html escaped and text not, predicates that never raise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.settings import DictaMeshSettings, NotificationSettings
from dictamesh.notifications.errors import NotificationConfigError, TemplateRenderError
from dictamesh.notifications.templates import SUBJECT_MAX, TemplateSet

CHANGE: dict[str, Any] = {
    "event_type": "updated",
    "entity_type": "customer",
    "entity_id": "42",
    "before": {"email": "old@example.com", "country": "AT"},
    "after": {"email": "new@example.com", "country": "DE"},
    "changed_fields": ["email", "country"],
    "tenant_id": "acme",
    "occurred_at": "2026-12-07T10:00:00+00:00",
    "topic": "customers.customer.entity_changed",
    "source": "crm",
}
SAGA_FAILED: dict[str, Any] = {
    "event_type": "failed",
    "saga": "create_invoice",
    "saga_id": "s-1",
    "tenant_id": "acme",
    "error": "stock short",
    "topic": "system.saga.create_invoice.failed",
}

MESH = """\
notifications:
  channels:
    mail: {kind: email}
  templates:
    welcome:
      en:
        subject: "Hello {{ event.after.name }}"
        text: "Hi"
      de:
        subject: "Hallo {{ event.after.name"
        text: "Hallo"
  rules:
    - name: r
      when: {topics: [a]}
      channels: [mail]
      template: welcome
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def settings(**values: Any) -> NotificationSettings:
    return NotificationSettings.model_validate(values)


def context(event: dict[str, Any] | None = None, **values: Any) -> dict[str, Any]:
    return {"event": CHANGE if event is None else event, "rule": "r", "priority": "high", **values}


def build_from_yaml(tmp_path: Path, text: str) -> TemplateSet:
    config = tmp_path / "mesh.yaml"
    config.write_text(text, encoding="utf-8")
    loaded = DictaMeshSettings.from_yaml(config)
    return TemplateSet.build(loaded.notifications, source_file=loaded.source_file)


# --- loading ------------------------------------------------------------------------------


def test_a_syntax_error_inline_names_the_yaml_line(tmp_path: Path) -> None:
    with pytest.raises(NotificationConfigError) as info:
        build_from_yaml(tmp_path, MESH)
    assert isinstance(info.value, ConfigurationError)
    [problem] = info.value.problems
    assert problem.startswith(
        f"{tmp_path / 'mesh.yaml'}, line 10: notifications.templates.welcome.de.subject: "
        "template syntax error: "
    )


def test_a_syntax_error_in_a_multi_line_inline_template_names_its_template_line(
    tmp_path: Path,
) -> None:
    text = MESH.replace(
        '        text: "Hallo"\n', "        text: |\n          Hallo\n          {% if x %}\n"
    ).replace('"Hallo {{ event.after.name"', "Hallo")
    with pytest.raises(NotificationConfigError) as info:
        build_from_yaml(tmp_path, text)
    [problem] = info.value.problems
    assert problem.startswith(
        f"{tmp_path / 'mesh.yaml'}, line 11: notifications.templates.welcome.de.text: "
        "template syntax error in template line 2: "
    )


def test_a_syntax_error_in_a_file_names_the_file_and_its_line(tmp_path: Path) -> None:
    directory = tmp_path / "templates"
    directory.mkdir()
    (directory / "welcome.de.txt.j2").write_text("Hallo\n\n{{ event.x }\n", encoding="utf-8")
    (directory / "welcome.subject.j2").write_text("ok", encoding="utf-8")
    with pytest.raises(NotificationConfigError) as info:
        TemplateSet.build(settings(templates_dir=directory))
    [problem] = info.value.problems
    assert problem.startswith(f"{directory / 'welcome.de.txt.j2'}, line 3: template syntax error")


def test_unknown_names_and_file_names_are_refused(tmp_path: Path) -> None:
    directory = tmp_path / "templates"
    directory.mkdir()
    (directory / "a.en.txt.j2").write_text("line\n{{ evnt.after }}\n", encoding="utf-8")
    (directory / "a.en.text.j2").write_text("typo in the part", encoding="utf-8")
    with pytest.raises(NotificationConfigError) as info:
        TemplateSet.build(settings(templates_dir=directory))
    assert info.value.problems == [
        f"{directory / 'a.en.text.j2'}: not a template file name: expected "
        "<name>[.<locale>].subject.j2, .txt.j2 or .html.j2 (partials start with _)",
        f"{directory / 'a.en.txt.j2'}, line 2: unknown name 'evnt' (did you mean 'event'?)",
    ]


def test_a_rule_naming_an_unknown_template_is_refused(tmp_path: Path) -> None:
    text = MESH.replace('"Hallo {{ event.after.name"', "Hallo").replace(
        "template: welcome", "template: welcom"
    )
    with pytest.raises(NotificationConfigError) as info:
        build_from_yaml(tmp_path, text)
    [problem] = info.value.problems
    assert problem.startswith(
        f"{tmp_path / 'mesh.yaml'}, line 16: notifications.rules.0.template: "
        "unknown template 'welcom' (known: breaker_opened, digest, event, saga_failed, welcome)"
    )


def test_a_bad_rule_predicate_is_refused_with_its_line(tmp_path: Path) -> None:
    text = MESH.replace('"Hallo {{ event.after.name"', "Hallo").replace(
        "when: {topics: [a]}", 'when: {topics: [a], predicate: "after.country =="}'
    )
    with pytest.raises(NotificationConfigError) as info:
        build_from_yaml(tmp_path, text)
    [problem] = info.value.problems
    assert problem.startswith(
        f"{tmp_path / 'mesh.yaml'}, line 14: notifications.rules.0.when.predicate: "
        "predicate syntax error"
    )


# --- locales and sources --------------------------------------------------------------------


def test_locale_fallback_chain(tmp_path: Path) -> None:
    directory = tmp_path / "templates"
    directory.mkdir()
    (directory / "note.subject.j2").write_text("any locale", encoding="utf-8")
    (directory / "note.fr.subject.j2").write_text("fr file", encoding="utf-8")
    (directory / "note.de.subject.j2").write_text("de file", encoding="utf-8")
    templates = TemplateSet.build(
        settings(
            templates_dir=directory,
            default_locale="fr",
            templates={
                "note": {
                    "de_AT": {"subject": "de_AT inline"},
                    "de": {"subject": "de inline"},  # inline beats the file
                    "en": {"subject": "en inline"},
                }
            },
        )
    )

    def subject(locale: str | None) -> str:
        return templates.render("note", locale, context()).subject

    assert subject("de_AT") == "de_AT inline"  # exact
    assert subject("de_CH") == "de inline"  # language
    assert subject("it") == "fr file"  # default locale
    assert subject(None) == "fr file"
    templates = TemplateSet.build(
        settings(templates_dir=directory, templates={"note": {"en": {"subject": "en inline"}}})
    )
    assert subject("it") == "en inline"  # default_locale en
    (directory / "note.fr.subject.j2").unlink()
    (directory / "note.de.subject.j2").unlink()
    templates = TemplateSet.build(settings(templates_dir=directory))
    assert subject("it") == "any locale"  # the locale-less file


def test_configured_templates_win_over_built_ins_and_built_ins_fill_in() -> None:
    templates = TemplateSet.build(settings(templates={"event": {"*": {"subject": "mine"}}}))
    assert templates.render("event", "de", context()).subject == "mine"
    templates = TemplateSet.build(settings(templates={"digest": {"fr": {"subject": "à moi"}}}))
    assert templates.render("digest", "fr", context(count=2)).subject == "à moi"
    # a locale the configured template lacks: the chain ends at its built-in
    assert templates.render("digest", "en", context(count=2)).subject.startswith("2 events")
    assert templates.has("digest")
    assert templates.has("saga_failed")
    assert not templates.has("nope")


# --- rendering ------------------------------------------------------------------------------


def test_html_is_escaped_text_and_subject_are_not() -> None:
    part = "{{ event.after.name }} & {{ event.after.note }}"
    templates = TemplateSet.build(
        settings(templates={"t": {"en": {"subject": part, "text": part, "html": f"<p>{part}</p>"}}})
    )
    event = {**CHANGE, "after": {"name": "<b>Bo</b>", "note": "a < b"}}
    rendered = templates.render("t", "en", context(event))
    assert rendered.subject == "<b>Bo</b> & a < b"
    assert rendered.text == "<b>Bo</b> & a < b"
    assert rendered.html == "<p>&lt;b&gt;Bo&lt;/b&gt; & a &lt; b</p>"
    assert templates.render("event", "en", context()).html is None


def test_the_subject_is_one_line_of_at_most_998_characters() -> None:
    templates = TemplateSet.build(
        settings(
            templates={
                "t": {"en": {"subject": "  a\n  b\r\n{{ 'x' * 2000 }}", "text": "{{ 'y' * 3 }}"}}
            }
        )
    )
    rendered = templates.render("t", "en", context())
    assert rendered.subject.startswith("a b xxx")
    assert len(rendered.subject) == SUBJECT_MAX
    assert rendered.text == "yyy"


def test_missing_fields_below_the_top_level_render_empty() -> None:
    templates = TemplateSet.build(
        settings(
            templates={
                "t": {"en": {"subject": "[{{ after.nope }}][{{ event.a.b.c }}]", "text": "x"}}
            }
        )
    )
    assert templates.render("t", "en", context()).subject == "[][]"
    # a delete has no ``after``
    deleted = {**CHANGE, "event_type": "deleted", "after": None}
    assert templates.render("t", "en", context(deleted)).subject == "[][]"


def test_the_sandbox_refuses_python_internals() -> None:
    templates = TemplateSet.build(
        settings(
            templates={
                "mro": {"en": {"subject": "{{ ''.__class__.__mro__ }}"}},
                "globals": {"en": {"text": "{{ range.__globals__ }}"}},
                "mutate": {"en": {"text": "{{ items.append(1) }}"}},
                "big": {"en": {"text": "{{ 'x' * 10 ** 9 }}"}},
            }
        )
    )
    for name in ("mro", "globals", "mutate", "big"):
        with pytest.raises(TemplateRenderError) as info:
            templates.render(name, "en", context(items=[]))
        assert info.value.name == name
        assert "SecurityError" in info.value.reason, info.value.reason


def test_a_failing_filter_is_a_render_error() -> None:
    templates = TemplateSet.build(
        settings(templates={"t": {"en": {"text": "{{ event.after | dictsort }}"}}})
    )
    with pytest.raises(TemplateRenderError) as info:
        templates.render("t", "en", context({"after": [1, 2]}))
    assert info.value.locale == "en"
    with pytest.raises(TemplateRenderError, match="no such template"):
        templates.render("nope", "en", context())


# --- predicates -----------------------------------------------------------------------------


def test_predicates_true_false_and_errors() -> None:
    templates = TemplateSet.build(settings())
    errors: list[Exception] = []
    german = templates.compile_predicate(
        "after.country == 'DE' and 'email' in changed_fields", on_error=errors.append
    )
    assert german(context())
    assert not german(context({**CHANGE, "after": {"country": "AT"}}))
    assert not german(context(SAGA_FAILED))  # no ``after``: false, not an error
    assert german.errors == 0
    large = templates.compile_predicate("after.amount > 100", on_error=errors.append)
    assert large(context({**CHANGE, "after": {"amount": 150}}))
    assert not large(context())  # no amount: an evaluation error, counted
    assert large.errors == 1
    assert large.last_error is not None
    assert len(errors) == 1
    with pytest.raises(NotificationConfigError, match="predicate syntax error"):
        templates.compile_predicate("after.country ==")
    with pytest.raises(NotificationConfigError, match="unknown name 'aftr'"):
        templates.compile_predicate("aftr.country == 'DE'")


def test_compile_predicate_names_the_yaml_line_when_given_a_loc(tmp_path: Path) -> None:
    text = MESH.replace('"Hallo {{ event.after.name"', "Hallo")
    templates = build_from_yaml(tmp_path, text)
    with pytest.raises(NotificationConfigError) as info:
        templates.compile_predicate("((", loc=("notifications", "rules", 0, "when", "predicate"))
    assert str(info.value).startswith(f"{tmp_path / 'mesh.yaml'}, line 14: notifications.rules")


# --- built-ins ------------------------------------------------------------------------------


def test_the_built_in_event_template_lists_changes() -> None:
    rendered = TemplateSet.build(settings()).render("event", "en", context())
    assert rendered.subject == "[high] customer 42 updated"
    assert "  email: old@example.com → new@example.com\n" in rendered.text
    assert "  country: AT → DE\n" in rendered.text
    assert rendered.text.endswith(
        "Rule: r · topic customers.customer.entity_changed · 2026-12-07T10:00:00+00:00"
    )


def test_the_built_in_event_template_titles_mesh_events() -> None:
    rendered = TemplateSet.build(settings()).render(
        "event", "en", context(SAGA_FAILED, mesh_event="saga_failed")
    )
    assert rendered.subject == "[high] Saga failed: create_invoice"
    assert "error: stock short" in rendered.text


def test_german_built_ins_render() -> None:
    templates = TemplateSet.build(settings())
    rendered = templates.render("event", "de_AT", context())
    assert rendered.subject == "[hoch] customer 42 geändert"
    assert "Geänderte Felder:" in rendered.text
    saga = templates.render("saga_failed", "de", context(SAGA_FAILED, mesh_event="saga_failed"))
    assert saga.subject == "[hoch] Saga create_invoice fehlgeschlagen"
    assert "Fehler: stock short" in saga.text
    breaker = templates.render(
        "breaker_opened",
        "de",
        context({"adapter": "crm", "reason": "failure_threshold", "failures": 5, "calls": 7}),
    )
    assert breaker.subject == "[hoch] Circuit Breaker geöffnet: crm"
    assert "(5 Fehler bei 7 Aufrufen)" in breaker.text


def test_the_digest_lists_50_events_then_how_many_more() -> None:
    items = [{**CHANGE, "entity_id": str(i)} for i in range(60)]
    templates = TemplateSet.build(settings())
    rendered = templates.render("digest", "en", context(count=60, items=items))
    assert rendered.subject == "60 events matched rule r"
    lines = [line for line in rendered.text.splitlines() if line.startswith("- ")]
    assert len(lines) == 50
    assert lines[0].endswith("customer 0 updated (email, country)")
    assert rendered.text.endswith("… and 10 more")
    german = templates.render("digest", "de", context(count=60, items=items))
    assert german.subject == "60 Ereignisse passten zu Regel r"
    assert german.text.endswith("… und 10 weitere")
    few = templates.render("digest", "en", context(count=1, items=items[:1]))
    assert few.subject == "1 event matched rule r"
    assert "more" not in few.text


def test_partials_are_shared_and_a_missing_one_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "templates"
    directory.mkdir()
    (directory / "_layout.html.j2").write_text(
        "<html>{% block body %}{% endblock %}</html>", encoding="utf-8"
    )
    (directory / "_sign.j2").write_text("-- {{ rule }}", encoding="utf-8")
    (directory / "note.en.html.j2").write_text(
        '{% extends "_layout.html.j2" %}{% block body %}{{ after.email }}{% endblock %}',
        encoding="utf-8",
    )
    (directory / "note.en.txt.j2").write_text('Hi\n{% include "_sign.j2" %}', encoding="utf-8")
    rendered = TemplateSet.build(settings(templates_dir=directory)).render(
        "note", "en", context({**CHANGE, "after": {"email": "<a@x>"}})
    )
    assert rendered.html == "<html>&lt;a@x&gt;</html>"
    assert rendered.text == "Hi\n-- r"
    assert rendered.subject == ""
    (directory / "note.de.txt.j2").write_text('\n{% include "_sig.j2" %}', encoding="utf-8")
    with pytest.raises(NotificationConfigError) as info:
        TemplateSet.build(settings(templates_dir=directory))
    assert info.value.problems == [
        f"{directory / 'note.de.txt.j2'}, line 2: template '_sig.j2' not found (templates_dir)"
    ]
