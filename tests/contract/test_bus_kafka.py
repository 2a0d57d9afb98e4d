"""The bus contract against a real Apache Kafka broker (marker ``kafka``).

The broker comes from ``DICTAMESH_TEST_KAFKA_BOOTSTRAP`` (default 127.0.0.1:9092): skipped
on a developer machine without one, a failure in CI. Every contract test uses fresh topic
and group names, so it runs against a long-lived broker.
"""

from __future__ import annotations

import pytest

from .bus_contract import BusContract
from .bus_fixtures import KafkaBroker

pytestmark = pytest.mark.kafka


class TestKafkaBusContract(KafkaBroker, BusContract):
    pass
