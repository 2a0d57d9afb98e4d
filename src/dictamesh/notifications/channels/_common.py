"""What the built-in channels share: checking their config at build time, TLS settings, and
trimming text to a receiver's limit.

Every problem found here is a :class:`~dictamesh.core.errors.ConfigurationError` whose
message starts with the config key (``notifications.channels.ops_mail.host: ...``), raised
when the node builds its channels, so a wrong ``mesh.yaml`` stops the node at start-up
instead of failing every delivery later.

TLS options (``options:`` of email, webhook, slack, pagerduty, sms and push channels):

* ``ca_file``: a PEM file of certificates to trust *instead of* the system store (a private
  CA, a self-signed test server);
* ``validate_certs``: ``false`` turns certificate checks off (never in production).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TypeVar

from pydantic import SecretStr

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.notification_config import ChannelConfig

__all__ = ["cut_at_word", "key", "option", "require", "tls_context", "truncate"]

T = TypeVar("T")


def key(name: str, field: str) -> str:
    """The config key of ``field`` of channel ``name`` (as the user wrote it in mesh.yaml)."""
    return f"notifications.channels.{name}.{field}"


def require(name: str, config: ChannelConfig, field: str, why: str) -> str:
    """The value of ``field`` (a secret revealed), or ConfigurationError naming it."""
    value = getattr(config, field)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigurationError(
            f"{key(name, field)}: required by a {config.kind!r} channel ({why})",
            channel=name,
            field=field,
        )
    return str(value)


def option(name: str, config: ChannelConfig, option_name: str, kind: type[T], default: T) -> T:
    """``options.<option_name>`` checked to be a ``kind`` (ConfigurationError otherwise)."""
    value = config.options.get(option_name, default)
    # bool is an int: an option that wants a number must not take ``true``
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigurationError(
            f"{key(name, 'options.' + option_name)}: expected {kind.__name__}, "
            f"got {type(value).__name__}",
            channel=name,
            field=f"options.{option_name}",
        )
    return value


def tls_context(name: str, config: ChannelConfig) -> ssl.SSLContext | None:
    """The TLS client context ``options`` ask for; ``None`` for the library's default (the
    system's trusted CAs, host name checked)."""
    ca_file = option(name, config, "ca_file", str, "")
    validate = option(name, config, "validate_certs", bool, True)
    if not validate:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if not ca_file:
        return None
    if not Path(ca_file).is_file():
        raise ConfigurationError(
            f"{key(name, 'options.ca_file')}: no such file {ca_file!r}",
            channel=name,
            field="options.ca_file",
        )
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigurationError(
            f"{key(name, 'options.ca_file')}: not a PEM certificate file ({exc})",
            channel=name,
            field="options.ca_file",
        ) from exc


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a word boundary near the end when
    there is one, with ``…`` marking the cut."""
    if len(text) <= limit:
        return text
    return cut_at_word(text[: limit - 1]) + "…"


def cut_at_word(prefix: str) -> str:
    """``prefix`` (the start of a longer text) without the word the cut went through, when
    that loses little; trailing blanks removed."""
    space = prefix.rfind(" ")
    if space > 0 and space >= len(prefix) - 40:  # drop at most a word's worth
        prefix = prefix[:space]
    return prefix.rstrip()
