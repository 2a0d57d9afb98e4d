"""A private SASL-only Kafka broker for the client-security tests (``kafka-secure``).

``scripts/services.sh up kafka-secure`` starts it, as the fault tests start theirs
(``tests/integration/faults/conftest.py``): its own ``DICTAMESH_SERVICES_DIR`` under /tmp,
free ports, started once per session and removed at its end. Two listeners: SCRAM-SHA-512
over plaintext and over TLS (a CA services.sh made, whose ``ca.pem`` the clients trust).
Missing java/openssl skip the tests on a developer machine and fail them in CI.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dictamesh.core.bus_config import KafkaClientSettings
from tests.integration.faults.conftest import private_server

#: scripts/services.sh's default SCRAM user of kafka-secure
USER = "dictamesh"
PASSWORD = "dictamesh-secret"


@dataclass(frozen=True)
class SecureBroker:
    #: SASL_PLAINTEXT listener
    sasl: str
    #: SASL_SSL listener
    tls: str
    cafile: Path

    def scram(self, password: str = PASSWORD, **more: Any) -> KafkaClientSettings:
        """``bus.kafka`` for SCRAM-SHA-512 over plaintext."""
        return KafkaClientSettings(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username=USER,
            sasl_password=password,
            **more,
        )

    def scram_tls(self, password: str = PASSWORD, **more: Any) -> KafkaClientSettings:
        """``bus.kafka`` for SCRAM-SHA-512 over TLS (the broker's CA trusted)."""
        more.setdefault("ssl_cafile", self.cafile)
        return KafkaClientSettings(
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username=USER,
            sasl_password=password,
            **more,
        )


@pytest.fixture(scope="session")
def secure_kafka() -> Iterator[SecureBroker]:
    with private_server("kafka-secure") as server:
        yield SecureBroker(
            sasl=f"127.0.0.1:{server.ports['DICTAMESH_KAFKA_SECURE_PORT']}",
            tls=f"127.0.0.1:{server.ports['DICTAMESH_KAFKA_SECURE_TLS_PORT']}",
            cafile=server.root / "kafka-secure" / "tls" / "ca.pem",
        )


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]
