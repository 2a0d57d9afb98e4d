"""openlineage-python's transports built from ``openlineage:`` settings.

* ``http``: ``POST <url>/<endpoint>`` (Marquez's ``/api/v1/lineage``), the API key as a bearer
  token; without ``url`` the standard ``OPENLINEAGE_URL`` / ``OPENLINEAGE_API_KEY`` /
  ``OPENLINEAGE_ENDPOINT`` variables;
* ``kafka``: one JSON event per message on ``kafka_topic`` (keyed by job, so one job's events
  keep their order), a delivery failure raised rather than only logged;
* ``file``: JSON lines appended to ``file_path``;
* ``console``: one log line per event.

Example::

    transport = build_transport(settings.openlineage, kafka_bootstrap=settings.bus.kafka_bootstrap)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from openlineage.client.serde import Serde
from openlineage.client.transport import Transport
from openlineage.client.transport.console import ConsoleConfig, ConsoleTransport
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import (
    ApiKeyTokenProvider,
    HttpConfig,
    HttpTransport,
    TokenProvider,
)
from openlineage.client.transport.kafka import KafkaConfig, KafkaTransport

from dictamesh.core.errors import ConfigurationError, MissingDependencyError
from dictamesh.core.settings import OpenLineageSettings

__all__ = ["build_transport", "http_target"]

#: fewer retries than openlineage-python's default (5): a dead receiver must not hold the
#: drain thread for long while the queue fills
_HTTP_RETRY = {
    "total": 2,
    "read": 2,
    "connect": 2,
    "backoff_factor": 0.3,
    "status_forcelist": [500, 502, 503, 504],
    "allowed_methods": ["HEAD", "POST"],
}


def http_target(
    settings: OpenLineageSettings, environ: Mapping[str, str] | None = None
) -> tuple[str, str, str | None]:
    """(url, endpoint, api key) of the HTTP transport: the settings, else the standard
    ``OPENLINEAGE_*`` variables; ``ConfigurationError`` when neither names a URL."""
    env = os.environ if environ is None else environ
    if settings.url is not None:
        key = settings.api_key.get_secret_value() if settings.api_key else None
        return settings.url, settings.endpoint, key
    url = env.get("OPENLINEAGE_URL", "").strip()
    if not url:
        raise ConfigurationError(
            "openlineage.transport is http but no URL is set: set openlineage.url"
            " (DICTAMESH_OPENLINEAGE__URL) or OPENLINEAGE_URL"
        )
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"OPENLINEAGE_URL must be an http(s) URL, not {url!r}")
    key = settings.api_key.get_secret_value() if settings.api_key else None
    return (
        url,
        env.get("OPENLINEAGE_ENDPOINT", settings.endpoint),
        key or env.get("OPENLINEAGE_API_KEY"),
    )


def build_transport(
    settings: OpenLineageSettings,
    *,
    kafka_bootstrap: str,
    environ: Mapping[str, str] | None = None,
) -> Transport:
    """The transport ``settings.transport`` names; ``kafka_bootstrap`` unless the settings
    name their own."""
    if settings.transport == "http":
        url, endpoint, key = http_target(settings, environ)
        auth: TokenProvider = ApiKeyTokenProvider({"apiKey": key}) if key else TokenProvider({})
        try:
            return HttpTransport(
                HttpConfig(
                    url=url,
                    endpoint=endpoint,
                    timeout=settings.timeout_seconds,
                    auth=auth,
                    retry=dict(_HTTP_RETRY),
                )
            )
        except ValueError as exc:
            raise ConfigurationError(f"openlineage.url: {exc}") from None
    if settings.transport == "kafka":
        return _kafka(settings, settings.kafka_bootstrap or kafka_bootstrap)
    if settings.transport == "file":
        path = settings.file_path
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileTransport(FileConfig(log_file_path=str(path), append=True))
    return ConsoleTransport(ConsoleConfig())


def _kafka(settings: OpenLineageSettings, bootstrap: str) -> Transport:
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        raise MissingDependencyError("confluent-kafka", "lineage-kafka") from None
    config: dict[str, str] = {
        "bootstrap.servers": bootstrap,
        # a broker that is down fails the event after this long instead of librdkafka's 5 min
        "message.timeout.ms": str(int(settings.timeout_seconds * 1000)),
        **{k: v.get_secret_value() for k, v in settings.kafka_config.items()},
    }
    return _CheckedKafkaTransport(KafkaConfig(config=config, topic=settings.kafka_topic))


class _CheckedKafkaTransport(KafkaTransport):
    """openlineage-python's Kafka transport only logs a failed delivery; this one raises it,
    so the emitter counts the event as failed."""

    def emit(self, event: Any) -> None:
        if self.producer is None:
            self._setup_producer(self.kafka_config.config)
        assert self.producer is not None
        errors: list[Any] = []

        def delivered(error: Any, _message: Any) -> None:
            if error is not None:
                errors.append(error)

        self.producer.produce(
            topic=self.topic,
            key=self.message_key or self._get_message_key(event),
            value=Serde.to_json(event).encode("utf-8"),
            on_delivery=delivered,
        )
        wait = float(self.kafka_config.config["message.timeout.ms"]) / 1000 + 1
        left = self.producer.flush(timeout=wait)
        if errors or left:
            raise RuntimeError(f"kafka delivery to {self.topic!r} failed: {errors or 'timeout'}")
