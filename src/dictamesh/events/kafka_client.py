"""What every Kafka client of the mesh is given from ``bus.kafka`` (:class:`KafkaClientSettings`).

One place turns the settings into client options, so the bus's producer, consumers and
admin client, and any librdkafka client (``confluent_kafka``), connect the same way:

* :func:`aiokafka_security` — ``security_protocol``, SASL credentials and an ``ssl_context``
  for aiokafka's producer, consumer and admin client;
* :func:`librdkafka_config` — the same as librdkafka properties (``security.protocol``,
  ``sasl.username``, ``ssl.ca.location``, ...) plus the producer's or consumer's tuning;
* :func:`explain_connect_failure` — why a client could not bootstrap (aiokafka logs the cause
  and raises only "Unable to bootstrap"): one direct connection that reports the real error,
  e.g. a refused SCRAM login or a certificate the CA does not vouch for.

Secrets are read from their ``SecretStr`` only here, into the options handed to the client;
they never go into messages, logs or ``repr``.

Example::

    from confluent_kafka import Producer

    kafka = settings.bus.kafka
    producer = Producer(librdkafka_config(kafka, settings.bus.kafka_bootstrap, "producer"))
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Mapping
from typing import Any, Literal

from dictamesh.core.bus_config import KafkaClientSettings
from dictamesh.core.errors import ConfigurationError, MissingDependencyError

__all__ = [
    "aiokafka_security",
    "explain_connect_failure",
    "hide_sasl_bytes_in_logs",
    "librdkafka_config",
    "ssl_context",
]

_SASL_BYTES = re.compile(r"(sasl_auth_bytes=)b(['\"]).*?(?<!\\)\2")


class _HideSaslBytes(logging.Filter):
    """aiokafka logs every request at DEBUG, SASL ones too: with PLAIN their bytes are
    ``\\0user\\0password``. Such a record keeps its text with those bytes blanked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG and "Sasl" in str(record.msg) + repr(record.args):
            text = record.getMessage()
            if "sasl_auth_bytes=" in text:
                record.msg, record.args = _SASL_BYTES.sub(r"\1<hidden>", text), ()
        return True


_FILTER = _HideSaslBytes()


def hide_sasl_bytes_in_logs() -> None:
    """Blank SASL payloads in aiokafka's DEBUG logs (idempotent; every KafkaBus calls it)."""
    for name in ("aiokafka.conn", "aiokafka"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def ssl_context(settings: KafkaClientSettings) -> ssl.SSLContext:
    """The TLS context of ``bus.kafka`` (aiokafka's ``create_ssl_context``): the CA file
    (else the system's CAs), an optional client certificate, hostname checking as set."""
    try:
        from aiokafka.helpers import create_ssl_context
    except ImportError as exc:
        raise MissingDependencyError("aiokafka", "kafka") from exc
    password = settings.ssl_key_password
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=settings.ssl_cafile,
            certfile=settings.ssl_certfile,
            keyfile=settings.ssl_keyfile,
            password=None if password is None else password.get_secret_value(),
        )
    except (ssl.SSLError, OSError) as exc:
        # The message names the file problem ("PEM lib", "No such file"), never the password.
        raise ConfigurationError(
            f"bus.kafka: cannot load the TLS files (ssl_cafile, ssl_certfile, ssl_keyfile,"
            f" ssl_key_password): {exc}"
        ) from None
    context.check_hostname = settings.check_hostname
    return context


def aiokafka_security(
    settings: KafkaClientSettings, context: ssl.SSLContext | None = None
) -> dict[str, Any]:
    """The connection keyword arguments of an aiokafka producer, consumer or admin client.

    ``context``: an SSL context already built from ``settings`` (one per bus, shared by its
    clients); built here when missing and TLS is on.
    """
    protocol = settings.security_protocol
    options: dict[str, Any] = {"security_protocol": protocol.value}
    if protocol.uses_sasl:
        assert settings.sasl_password is not None  # the settings validator guarantees it
        options["sasl_mechanism"] = settings.sasl_mechanism.value
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    if protocol.uses_tls:
        options["ssl_context"] = context if context is not None else ssl_context(settings)
    return options


Role = Literal["producer", "consumer", "admin"]


def librdkafka_config(
    settings: KafkaClientSettings, bootstrap_servers: str, role: Role = "admin"
) -> dict[str, Any]:
    """``bus.kafka`` as a librdkafka configuration (``confluent_kafka.Producer(config)``).

    ``role`` adds the producer's or the consumer's tuning; ``admin`` is connection only.
    """
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "security.protocol": settings.security_protocol.value,
    }
    if settings.security_protocol.uses_sasl:
        assert settings.sasl_password is not None
        config["sasl.mechanism"] = settings.sasl_mechanism.value
        config["sasl.username"] = settings.sasl_username
        config["sasl.password"] = settings.sasl_password.get_secret_value()
    if settings.security_protocol.uses_tls:
        files = {
            "ssl.ca.location": settings.ssl_cafile,
            "ssl.certificate.location": settings.ssl_certfile,
            "ssl.key.location": settings.ssl_keyfile,
        }
        config.update({k: str(v) for k, v in files.items() if v is not None})
        if settings.ssl_key_password is not None:
            config["ssl.key.password"] = settings.ssl_key_password.get_secret_value()
        config["ssl.endpoint.identification.algorithm"] = (
            "https" if settings.check_hostname else "none"
        )
    if role == "producer":
        compression = settings.compression_type
        config.update(
            {
                "acks": settings.acks,
                "enable.idempotence": settings.enable_idempotence,
                "linger.ms": settings.linger_ms,
                "batch.size": settings.max_batch_size,
                # librdkafka has lz4 built in, so "auto" is simply lz4 there
                "compression.type": "lz4" if compression == "auto" else compression,
                "request.timeout.ms": settings.request_timeout_ms,
                "message.timeout.ms": settings.delivery_timeout_ms,
                "message.max.bytes": settings.max_request_size,
                # the Java client's key hashing (murmur2), as KafkaBus and the embedded bus
                "partitioner": "murmur2_random",
            }
        )
    elif role == "consumer":
        config.update(
            {
                "fetch.max.bytes": settings.fetch_max_bytes,
                "max.partition.fetch.bytes": settings.max_partition_fetch_bytes,
                "session.timeout.ms": settings.session_timeout_ms,
                "heartbeat.interval.ms": settings.heartbeat_interval_ms,
                "max.poll.interval.ms": settings.max_poll_interval_ms,
            }
        )
    return config


async def explain_connect_failure(
    bootstrap_servers: str, options: Mapping[str, Any], timeout: float
) -> str | None:
    """Why no broker of ``bootstrap_servers`` accepts a connection with ``options`` (the
    :func:`aiokafka_security` arguments), from one direct attempt per broker; None when one
    of them now connects (the failure was transient)."""
    from aiokafka.conn import create_conn, get_ip_port_afi
    from aiokafka.protocol.metadata import MetadataRequest

    reasons = []
    for address in bootstrap_servers.split(","):
        host, port, _ = get_ip_port_afi(address.strip())
        try:
            async with asyncio.timeout(timeout):
                conn = await create_conn(
                    host, port, request_timeout_ms=int(timeout * 1000), **options
                )
        except Exception as exc:  # the point is to report whatever it was
            reasons.append(f"{host}:{port}: {_describe(exc, options)}")
            continue
        try:
            # what the bootstrap asks first; a SASL listener drops a client that skipped login
            async with asyncio.timeout(timeout):
                await conn.send(MetadataRequest([]))
        except Exception as exc:
            reasons.append(
                f"{host}:{port}: connected, but the broker dropped the first request ({exc!r}):"
                f" does this listener want another security_protocol than"
                f" {options.get('security_protocol')}?"
            )
            continue
        finally:
            conn.close()
        return None
    return "; ".join(reasons) or None


def _describe(exc: BaseException, options: Mapping[str, Any]) -> str:
    from aiokafka import errors

    if isinstance(exc, errors.SaslAuthenticationFailed | errors.IllegalSaslStateError):
        who = options.get("sasl_plain_username")
        return (
            f"authentication failed ({options.get('sasl_mechanism')} as user {who!r}):"
            f" {exc.args[0] if exc.args else exc.description}"
        )
    if isinstance(exc, errors.UnsupportedSaslMechanismError):
        return f"authentication failed: {exc}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS: the broker's certificate is not trusted ({exc.verify_message}); check"
            " bus.kafka.ssl_cafile"
        )
    tls = str(options.get("security_protocol", "")).endswith("SSL")
    if isinstance(exc, ssl.SSLError) or (tls and isinstance(exc, ConnectionResetError)):
        return f"TLS handshake failed ({exc!r}): is this a TLS listener?"
    if isinstance(exc, TimeoutError):
        return "no answer (a TLS listener spoken to in plaintext, or the broker is down?)"
    return f"{type(exc).__name__}: {exc}"
