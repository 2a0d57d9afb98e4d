"""The built-in notification templates, English and German (Jinja2 sources).

``event`` (any change or mesh event), ``digest`` (a rule's matches collected over its
``digest`` window), ``breaker_opened`` and ``saga_failed``. A template of the same name in
``notifications.templates`` or ``templates_dir`` replaces one
(:mod:`dictamesh.notifications.templates`); these render with ``trim_blocks`` and
``lstrip_blocks`` like those, and with the context ``docs/notifications.md`` describes.
"""

from __future__ import annotations

from dictamesh.core.settings import TemplateText

__all__ = ["BUILTIN_TEMPLATES", "DIGEST_ITEMS"]

#: a digest lists this many events, then says how many more it holds
DIGEST_ITEMS = 50

_MESH_TITLES = {
    "en": {
        "breaker_opened": "Circuit breaker opened",
        "breaker_closed": "Circuit breaker closed",
        "dlq_growing": "Dead-letter queue growing",
        "sla_breached": "SLA breached",
        "sla_recovered": "SLA recovered",
        "saga_failed": "Saga failed",
        "saga_compensated": "Saga compensated",
        "outbox_growing": "Notification outbox growing",
        "quality_failed": "Data-quality rule failed",
    },
    "de": {
        "breaker_opened": "Circuit Breaker geöffnet",
        "breaker_closed": "Circuit Breaker geschlossen",
        "dlq_growing": "Dead-Letter-Queue wächst",
        "sla_breached": "SLA verletzt",
        "sla_recovered": "SLA wieder eingehalten",
        "saga_failed": "Saga fehlgeschlagen",
        "saga_compensated": "Saga kompensiert",
        "outbox_growing": "Benachrichtigungs-Outbox wächst",
        "quality_failed": "Datenqualitätsregel verletzt",
    },
}
_VERBS = {
    "en": {"created": "created", "updated": "updated", "deleted": "deleted"},
    "de": {"created": "angelegt", "updated": "geändert", "deleted": "gelöscht"},
}
_PRIORITIES = {
    "en": {"low": "low", "normal": "normal", "high": "high", "critical": "critical"},
    "de": {"low": "niedrig", "normal": "normal", "high": "hoch", "critical": "kritisch"},
}


def _sets(locale: str) -> str:
    """``{% set %}`` lines for the lookup tables of ``locale`` (Python reprs of dicts of
    strings are Jinja dict literals)."""
    return (
        f"{{% set titles = {_MESH_TITLES[locale]!r} %}}\n"
        f"{{% set verbs = {_VERBS[locale]!r} %}}\n"
        f"{{% set prio = {_PRIORITIES[locale]!r} %}}\n"
        # a value as text: "—" for none or missing
        "{% macro show(value) %}{% if value is none or value is undefined %}—"
        "{% else %}{{ value }}{% endif %}{% endmacro %}\n"
        # the subject's "[high] " prefix
        "{% set tag = '[' ~ prio.get(priority | string, priority) ~ '] ' if priority else '' %}\n"
    )


_EVENT_SUBJECT = (
    "{% if mesh_event %}"
    "{{ tag }}{{ titles.get(mesh_event, mesh_event) }}"
    "{{ ': ' ~ (event.adapter or event.saga) if (event.adapter or event.saga) }}"
    "{% else %}"
    "{{ tag }}{{ entity_type }} {{ entity_id }} {{ verbs.get(event_type, event_type) }}"
    "{% endif %}"
)

_EVENT_TEXT = {
    "en": """\
{% if mesh_event %}
{{ titles.get(mesh_event, mesh_event) }}{{ ': ' ~ (event.adapter or event.saga) \
if (event.adapter or event.saga) }}

{% for key, value in event | dictsort %}
{% if key not in ('event_id', 'event_type', 'topic', 'occurred_at') %}
{{ key }}: {{ show(value) }}
{% endif %}
{% endfor %}
{% else %}
{{ entity_type }} {{ entity_id }} was {{ verbs.get(event_type, event_type) }}\
{{ ' (tenant ' ~ tenant_id ~ ')' if tenant_id }}.

{% if changed_fields %}
Changed fields:
{% for field in changed_fields %}
  {{ field }}: {{ show(before[field]) }} → {{ show(after[field]) }}
{% endfor %}
{% elif after %}
{% for key, value in after | dictsort %}
  {{ key }}: {{ show(value) }}
{% endfor %}
{% endif %}
{% endif %}

Rule: {{ rule }}{{ ' · topic ' ~ event.topic if event.topic }}\
{{ ' · ' ~ event.occurred_at if event.occurred_at }}
""",
    "de": """\
{% if mesh_event %}
{{ titles.get(mesh_event, mesh_event) }}{{ ': ' ~ (event.adapter or event.saga) \
if (event.adapter or event.saga) }}

{% for key, value in event | dictsort %}
{% if key not in ('event_id', 'event_type', 'topic', 'occurred_at') %}
{{ key }}: {{ show(value) }}
{% endif %}
{% endfor %}
{% else %}
{{ entity_type }} {{ entity_id }} wurde {{ verbs.get(event_type, event_type) }}\
{{ ' (Mandant ' ~ tenant_id ~ ')' if tenant_id }}.

{% if changed_fields %}
Geänderte Felder:
{% for field in changed_fields %}
  {{ field }}: {{ show(before[field]) }} → {{ show(after[field]) }}
{% endfor %}
{% elif after %}
{% for key, value in after | dictsort %}
  {{ key }}: {{ show(value) }}
{% endfor %}
{% endif %}
{% endif %}

Regel: {{ rule }}{{ ' · Topic ' ~ event.topic if event.topic }}\
{{ ' · ' ~ event.occurred_at if event.occurred_at }}
""",
}

# one line per digested event
_DIGEST_LINE = (
    "{% macro line(item) %}"
    "{{ item.occurred_at ~ '  ' if item.occurred_at }}"
    "{% if item.entity_type %}"
    "{{ item.entity_type }} {{ item.entity_id }} {{ verbs.get(item.event_type, item.event_type) }}"
    "{{ ' (' ~ item.changed_fields | join(', ') ~ ')' if item.changed_fields }}"
    "{% else %}"
    "{{ item.topic }}{{ ': ' ~ item.event_type if item.event_type }}"
    "{{ ' ' ~ (item.adapter or item.saga) if (item.adapter or item.saga) }}"
    "{% endif %}"
    "{% endmacro %}\n"
)

_DIGEST = {
    "en": (
        "{{ count }} event{{ '' if count == 1 else 's' }} matched rule {{ rule }}",
        _DIGEST_LINE
        + f"""\
{{% set shown = items[:{DIGEST_ITEMS}] %}}
{{% set total = [count, items | length] | max %}}
{{{{ total }}}} event{{{{ '' if total == 1 else 's' }}}} matched rule {{{{ rule }}}}:

{{% for item in shown %}}
- {{{{ line(item) }}}}
{{% endfor %}}
{{% if total > shown | length %}}
… and {{{{ total - shown | length }}}} more
{{% endif %}}
""",
    ),
    "de": (
        "{{ count }} {{ 'Ereignis passte' if count == 1 else 'Ereignisse passten' }}"
        " zu Regel {{ rule }}",
        _DIGEST_LINE
        + f"""\
{{% set shown = items[:{DIGEST_ITEMS}] %}}
{{% set total = [count, items | length] | max %}}
{{{{ total }}}} {{{{ 'Ereignis passte' if total == 1 else 'Ereignisse passten' }}}} \
zu Regel {{{{ rule }}}}:

{{% for item in shown %}}
- {{{{ line(item) }}}}
{{% endfor %}}
{{% if total > shown | length %}}
… und {{{{ total - shown | length }}}} weitere
{{% endif %}}
""",
    ),
}

_BREAKER = {
    "en": (
        "{{ tag }}Circuit breaker opened: {{ event.adapter }}",
        """\
The circuit breaker of adapter {{ event.adapter }} opened\
{{ ' on node ' ~ event.node if event.node }}{{ ' at ' ~ event.occurred_at if event.occurred_at }}.
{{ 'Reason: ' ~ event.reason if event.reason }}\
{{ ' (' ~ event.failures ~ ' failures in ' ~ event.calls ~ ' calls)' if event.calls }}

Calls to this source fail fast until the breaker closes again\
{{ '; it tries again in ' ~ event.retry_in_seconds ~ ' s' if event.retry_in_seconds }}.

Rule: {{ rule }}
""",
    ),
    "de": (
        "{{ tag }}Circuit Breaker geöffnet: {{ event.adapter }}",
        """\
Der Circuit Breaker des Adapters {{ event.adapter }} hat geöffnet\
{{ ' (Knoten ' ~ event.node ~ ')' if event.node }}\
{{ ' um ' ~ event.occurred_at if event.occurred_at }}.
{{ 'Grund: ' ~ event.reason if event.reason }}\
{{ ' (' ~ event.failures ~ ' Fehler bei ' ~ event.calls ~ ' Aufrufen)' if event.calls }}

Aufrufe dieser Quelle schlagen sofort fehl, bis er wieder schließt\
{{ '; nächster Versuch in ' ~ event.retry_in_seconds ~ ' s' if event.retry_in_seconds }}.

Regel: {{ rule }}
""",
    ),
}

_SAGA = {
    "en": (
        "{{ tag }}Saga {{ event.saga }} failed{{ ' at step ' ~ event.step if event.step }}",
        """\
Saga {{ event.saga }} ({{ event.saga_id }}) failed{{ ' at step ' ~ event.step if event.step }}\
{{ ' for tenant ' ~ tenant_id if tenant_id }}.
{{ 'Error: ' ~ event.error if event.error }}

It needs attention. Once the cause is fixed:
  dictamesh saga retry {{ event.saga_id }}    (compensate again)
or, if it was settled by hand:
  dictamesh saga abort {{ event.saga_id }}

Rule: {{ rule }}
""",
    ),
    "de": (
        "{{ tag }}Saga {{ event.saga }} fehlgeschlagen"
        "{{ ' bei Schritt ' ~ event.step if event.step }}",
        """\
Saga {{ event.saga }} ({{ event.saga_id }}) ist fehlgeschlagen\
{{ ' bei Schritt ' ~ event.step if event.step }}{{ ' (Mandant ' ~ tenant_id ~ ')' if tenant_id }}.
{{ 'Fehler: ' ~ event.error if event.error }}

Sie braucht Aufmerksamkeit. Ist die Ursache behoben:
  dictamesh saga retry {{ event.saga_id }}    (erneut kompensieren)
oder, wenn sie von Hand erledigt wurde:
  dictamesh saga abort {{ event.saga_id }}

Regel: {{ rule }}
""",
    ),
}


def _variant(locale: str, subject: str, text: str) -> TemplateText:
    return TemplateText(subject=_sets(locale) + subject, text=_sets(locale) + text)


#: name → locale → template, the shape of ``notifications.templates``
BUILTIN_TEMPLATES: dict[str, dict[str, TemplateText]] = {
    "event": {loc: _variant(loc, _EVENT_SUBJECT, _EVENT_TEXT[loc]) for loc in ("en", "de")},
    "digest": {loc: _variant(loc, *_DIGEST[loc]) for loc in ("en", "de")},
    "breaker_opened": {loc: _variant(loc, *_BREAKER[loc]) for loc in ("en", "de")},
    "saga_failed": {loc: _variant(loc, *_SAGA[loc]) for loc in ("en", "de")},
}
