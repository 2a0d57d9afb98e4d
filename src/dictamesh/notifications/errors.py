"""Errors of the notifications layer.

* :class:`NotificationConfigError` — what the notifications configuration says cannot work
  (a template that does not compile, a rule naming an unknown template, a predicate that
  does not parse). Found when a node builds its notifier, i.e. at load; each problem names
  the YAML line or the template file and line. A :class:`ConfigurationError` (CLI exit 2).
* :class:`TemplateRenderError` — a template failed while rendering one notification (the
  sandbox refused an access, a filter failed, a strict name was missing). The caller
  renders the built-in ``event`` template instead.

Example::

    try:
        rendered = templates.render(rule.template, locale, context)
    except TemplateRenderError:
        rendered = templates.render("event", locale, context)
"""

from __future__ import annotations

from collections.abc import Sequence

from dictamesh.core.errors import ConfigurationError, DictaMeshError

__all__ = ["NotificationConfigError", "TemplateRenderError"]


class NotificationConfigError(ConfigurationError):
    """One or more problems in the ``notifications:`` configuration.

    ``problems``: each worded ``"mesh.yaml, line 12: notifications.rules.3.template: ..."``
    or ``"templates/welcome.de.txt.j2, line 4: ..."``; the message holds them all."""

    def __init__(self, problems: Sequence[str] | str) -> None:
        found = [problems] if isinstance(problems, str) else list(problems)
        if len(found) == 1:
            message = found[0]
        else:
            message = f"{len(found)} notification configuration problems: " + "; ".join(found)
        super().__init__(message, problems=found)
        self.problems: list[str] = found


class TemplateRenderError(DictaMeshError):
    """Template ``name`` failed to render for ``locale`` (``None``: the default locale);
    ``reason`` says how (no event values in it beyond what the error itself names)."""

    code = "TEMPLATE_RENDER_ERROR"
    http_status = 500

    def __init__(self, name: str, locale: str | None, reason: str) -> None:
        super().__init__(
            f"template {name!r} ({locale or 'default locale'}) failed to render: {reason}",
            template=name,
            locale=locale,
            reason=reason,
        )
        self.name = name
        self.locale = locale
        self.reason = reason
