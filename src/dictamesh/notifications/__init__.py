"""Notifications (``docs/notifications.md``): rules on mesh events, rendered through governed
templates into a durable outbox, delivered by a supervised worker over channel plugins
(email, webhook, Slack, PagerDuty, in-app, SMS, push)."""

from dictamesh.notifications.inbox_store import InboxItem, InboxStore
from dictamesh.notifications.message import OutgoingMessage, SendResult
from dictamesh.notifications.notifier import Notifier
from dictamesh.notifications.rules import EventView, RuleSet
from dictamesh.notifications.runtime import NodeNotifications
from dictamesh.notifications.service import NotificationService
from dictamesh.notifications.store import NotificationRecord, NotificationStatus, NotificationStore
from dictamesh.notifications.templates import Rendered, TemplateSet
from dictamesh.notifications.worker import DeliveryWorker

__all__ = [
    "DeliveryWorker",
    "EventView",
    "InboxItem",
    "InboxStore",
    "NodeNotifications",
    "NotificationRecord",
    "NotificationService",
    "NotificationStatus",
    "NotificationStore",
    "Notifier",
    "OutgoingMessage",
    "Rendered",
    "RuleSet",
    "SendResult",
    "TemplateSet",
]
