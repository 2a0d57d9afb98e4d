"""The schema registry with random Avro schemas (deep, wide unions, within the size limit):
registration and compatibility checks answer typed (no 5xx) and in time, and /health
answers meanwhile."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.security.avro_grammar import avro_schemas, wide_union_record
from tests.security.support import (
    ATTACK,
    HealthWatch,
    RunningNode,
    assert_typed_answer,
    raw_json,
    timed,
)

pytestmark = pytest.mark.slow

#: the size of a schema a well-behaved producer may send (well under the 1 MiB body limit)
MAX_SCHEMA_BYTES = 256 * 1024
#: a registration or check of such a schema is (near) linear work: a second is generous,
#: and the registry runs on the node's event loop, so slower also stalls every other request
REGISTRY_DEADLINE = 1.0


@pytest.fixture
def http(node: RunningNode) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=60) as client:
        yield client


def call(http: httpx.Client, method: str, path: str, schema: Any) -> httpx.Response:
    text = json.dumps(schema)
    assert len(text) <= MAX_SCHEMA_BYTES
    response, elapsed = timed(http, method, path, body=raw_json({"schema": text}))
    assert_typed_answer(response, elapsed, REGISTRY_DEADLINE)
    return response


def evolve(http: httpx.Client, first: Any, second: Any) -> None:
    subject = f"attack-{uuid.uuid4().hex[:12]}-value"
    registered = call(http, "POST", f"/schema-registry/subjects/{subject}/versions", first)
    assert registered.status_code == 200, registered.text[:500]
    call(http, "POST", f"/schema-registry/compatibility/subjects/{subject}/versions/latest", second)
    call(http, "POST", f"/schema-registry/subjects/{subject}/versions", second)
    call(http, "POST", f"/schema-registry/subjects/{subject}", second)


@settings(ATTACK, max_examples=40)
@given(first=avro_schemas(), second=avro_schemas())
def test_random_avro_evolutions_answer_typed(
    http: httpx.Client, watch: HealthWatch, first: Any, second: Any
) -> None:
    evolve(http, first, second)


@settings(ATTACK, max_examples=3)
# at most 999 members: with "null" the union is 1000 items, the registry's list limit
@given(width=st.integers(50, 999), fields=st.integers(1, 5))
# measured on main: a 600-wide union (130 kB) takes 4.3 s to check, 1000-wide 9.9 s
@example(width=600, fields=5)
def test_wide_union_evolutions_answer_in_time(
    http: httpx.Client, watch: HealthWatch, width: int, fields: int
) -> None:
    evolve(http, wide_union_record(width, fields), wide_union_record(width, fields + 1))
