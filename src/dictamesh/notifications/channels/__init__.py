"""Notification channels: the :class:`~dictamesh.notifications.channels.base.Channel`
contract and the built-in kinds, found through the ``dictamesh.notification_channels``
entry-point group."""

__all__: list[str] = []
