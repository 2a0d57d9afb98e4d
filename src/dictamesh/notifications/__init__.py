"""Notifications (``docs/notifications.md``): rules on mesh events, rendered through governed
templates into a durable outbox, delivered by a supervised worker over channel plugins
(email, webhook, Slack, PagerDuty, in-app, SMS, push)."""

__all__: list[str] = []
