"""Error tracking against a local Sentry (an HTTP receiver keeping the envelopes).

A real node reads the sample sources; a broken adapter and a failing background task
carry a sample customer's email, name, phone and address in their exception messages and
local variables. The receiver gets the events — tagged with the trace id, tenant, node and
role — and none of those values, nor the caller's token, appears in any envelope byte.
Without a DSN nothing is initialised and nothing is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sentry_sdk
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.timing import eventually
from tests.unit.auth.support import AUDIENCE, ISSUER, SECRET, bearer, hs_token
from tests.unit.observability.sentry_receiver import sentry_receiver

from dictamesh.core.errors import ValidationError
from dictamesh.core.models import Classification, Entity
from dictamesh.core.settings import DictaMeshSettings, SentrySettings
from dictamesh.governance.masking import Masker
from dictamesh.governance.scrubbing import PersonalDataScrubber
from dictamesh.node import MeshNode
from dictamesh.observability.error_tracking import (
    SCRUBBED,
    capture_error,
    error_tracking_enabled,
    init_error_tracking,
    scrub_event,
)
from dictamesh.sources.runner import SampleSources, reference_adapter_configs, run_sample_sources
from dictamesh.testing.adapters import FakeAdapter, fake_config

CUSTOMER = "12"  # Amara Dijkstra: a name no code or library here contains


class LoyaltyAdapter(FakeAdapter):
    """Widgets whose transform fails with the card holder's data in hand."""

    holder: dict[str, Any] = {}

    def transform(self, raw: dict[str, Any]) -> Entity:
        person = self.holder  # a local the SDK could send
        email = person["email"]
        raise RuntimeError(
            f"no loyalty card for {person['first_name']} {person['last_name']} <{email}>"
        )


@pytest.fixture
async def sources() -> AsyncIterator[SampleSources]:
    async with run_sample_sources(products_rate_limit=None) as running:
        yield running


def settings_for(
    tmp_path: Path, catalog_url: str, sources: SampleSources, dsn: str | None
) -> DictaMeshSettings:
    sentry: dict[str, Any] = {"include_local_variables": True, "environment": "test"}
    if dsn is not None:
        sentry["dsn"] = dsn
    return DictaMeshSettings.from_mapping(
        {
            "node_name": "tracked",
            "state_dir": str(tmp_path),
            "bus": {"path": str(tmp_path / "bus.sqlite3")},
            "catalog": {"url": catalog_url},
            # no embedding model: it would index the whole sample mesh in a thread
            "search": {"embeddings": {"provider": "off"}},
            "auth": {
                "mode": "required",
                "jwt_secret": SECRET,
                "issuer": ISSUER,
                "audience": [AUDIENCE],
            },
            "observability": {"sentry": sentry},
            "adapters": [
                c.model_dump(mode="python")
                for c in reference_adapter_configs(sources.endpoints(), poll_interval_seconds=None)
            ],
        }
    )


def personal_values(person: dict[str, Any]) -> list[str]:
    address = person["address"]
    return [
        person["email"],
        person["phone"],
        person["first_name"],
        person["last_name"],
        address["street"],
        address["postal_code"],
    ]


async def run_failures(
    node: MeshNode, sources: SampleSources, token: dict[str, str]
) -> dict[str, Any]:
    """A sample customer's record (as the CMS holds it); then a failing route, resolver
    and background task carrying it."""
    person = next(c for c in sources.customers_store.all() if str(c["id"]) == CUSTOMER)
    LoyaltyAdapter.holder = person
    transport = httpx.ASGITransport(app=node.asgi_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as http:
        rest = await http.get("/api/v1/entities/widget", headers=token)
        assert rest.status_code == 500
        assert rest.json()["error"]["code"] == "INTERNAL"
        query = '{ widget(id: "w-1") { name } }'
        gql = await http.post("/graphql", json={"query": query}, headers=token)
        assert gql.json()["errors"][0]["extensions"]["code"] == "INTERNAL"

    async def sync_cards() -> None:
        holder = person  # locals of a failing background task
        phone = holder["phone"]
        raise RuntimeError(f"loyalty sync failed for {holder['last_name']} ({phone})")

    node.supervisor.spawn("loyalty-sync", sync_cards)
    return person


async def test_errors_reach_sentry_tagged_and_without_personal_values(
    tmp_path: Path,
    sqlite_catalog_url: str,
    sources: SampleSources,
    spans: InMemorySpanExporter,  # request spans (a private provider): trace ids to tag
) -> None:
    jwt = hs_token(sub="ops", roles=["admin"], tenant_id="acme")
    async with sentry_receiver() as receiver:
        settings = settings_for(tmp_path, sqlite_catalog_url, sources, receiver.dsn())
        widgets = LoyaltyAdapter(
            fake_config("loyalty", poll_interval_seconds=None), records=[{"id": "w-1", "name": "x"}]
        )
        async with MeshNode(settings, adapters=[widgets]) as node:
            assert error_tracking_enabled()
            person = await run_failures(node, sources, bearer(jwt))

            def by_tag() -> dict[str, dict[str, Any]]:
                found = {}
                for event in receiver.events():
                    tags = event.get("tags") or {}
                    for key in ("route", "graphql_field", "task"):
                        if key in tags:
                            found[key] = event
                return found

            async def all_three() -> dict[str, dict[str, Any]]:
                found = by_tag()
                assert set(found) == {"route", "graphql_field", "task"}, receiver.events()
                return found

            events = await eventually(all_three, timeout=30)
        assert not error_tracking_enabled()  # the node closed what it started

    for event in events.values():
        tags = event["tags"]
        assert tags["node"] == "tracked"
        assert tags["node_role"] == "all"
        assert event["environment"] == "test"
        assert event["exception"]["values"][-1]["type"] == "RuntimeError"
        assert event["exception"]["values"][-1]["value"] == SCRUBBED  # not a vetted message
    for key in ("route", "graphql_field"):
        tags = events[key]["tags"]
        assert tags["tenant"] == "acme"
        assert len(tags["trace_id"]) == 32
    assert events["route"]["tags"]["route"] == "/api/v1/entities/{entity_type}"
    assert events["task"]["tags"]["task"] == "loyalty-sync"
    # locals were sent (include_local_variables), masked where personal
    frames = events["task"]["exception"]["values"][-1]["stacktrace"]["frames"]
    variables = frames[-1]["vars"]
    assert variables["phone"].startswith("sha256:")
    assert set(variables["holder"]) >= {"email", "first_name"}

    raw = b"".join(envelope.raw for envelope in receiver.envelopes())
    assert raw
    for value in [*personal_values(person), jwt]:
        at = raw.find(value.encode())
        assert at < 0, (value, raw[max(0, at - 400) : at + 100])


async def test_a_router_node_reports_its_failed_tasks_scrubbed(
    tmp_path: Path, sqlite_catalog_url: str, sources: SampleSources
) -> None:
    """A router node has no catalog, hence no node governance: the settings' masker and
    the adapters' schemas scrub its events all the same."""
    person = next(c for c in sources.customers_store.all() if str(c["id"]) == CUSTOMER)
    async with sentry_receiver() as receiver:
        settings = settings_for(tmp_path, sqlite_catalog_url, sources, receiver.dsn())
        async with MeshNode(settings, roles=["router"]) as node:
            assert error_tracking_enabled()

            async def reroute() -> None:
                holder = person
                raise RuntimeError(f"could not route {holder['email']}")

            node.supervisor.spawn("reroute", reroute)

            async def reported() -> dict[str, Any]:
                found = [e for e in receiver.events() if (e.get("tags") or {}).get("task")]
                assert found, receiver.events()
                return found[0]

            event = await eventually(reported, timeout=30)
        assert not error_tracking_enabled()
    assert event["tags"]["node_role"] == "router"
    assert event["tags"]["task"] == "reroute"
    raw = b"".join(envelope.raw for envelope in receiver.envelopes())
    for value in personal_values(person):
        assert value.encode() not in raw, value


async def test_without_a_dsn_nothing_is_initialised_or_sent(
    tmp_path: Path, sqlite_catalog_url: str, sources: SampleSources
) -> None:
    jwt = hs_token(sub="ops", roles=["admin"], tenant_id=None)
    async with sentry_receiver() as receiver:
        settings = settings_for(tmp_path, sqlite_catalog_url, sources, None)
        widgets = LoyaltyAdapter(
            fake_config("loyalty", poll_interval_seconds=None), records=[{"id": "w-1", "name": "x"}]
        )
        async with MeshNode(settings, adapters=[widgets]) as node:
            assert not error_tracking_enabled()
            assert not sentry_sdk.get_client().is_active()
            await run_failures(node, sources, bearer(jwt))
            assert capture_error(RuntimeError("x")) is None
            await asyncio.sleep(0.5)  # what a sender would have had to deliver
        assert receiver.requests == []


def test_init_without_a_dsn_is_a_no_op() -> None:
    assert init_error_tracking(SentrySettings(), PersonalDataScrubber(Masker())) is False
    assert not error_tracking_enabled()


# --- scrubbing, unit level ----------------------------------------------------------------


def scrubber() -> PersonalDataScrubber:
    return PersonalDataScrubber(Masker(b"k"), {"iban": Classification.PII_PAYMENT})


def test_request_data_user_and_locals_are_dropped() -> None:
    event = {
        "request": {
            "method": "POST",
            "url": "http://node/api/v1/x?email=jane@example.com",
            "headers": {"Authorization": "Bearer abc.def.ghi"},
            "cookies": {"session": "s"},
            "data": {"email": "jane@example.com"},
        },
        "user": {"email": "jane@example.com"},
        "server_name": "host-1",
        "exception": {
            "values": [
                {
                    "type": "ValidationError",
                    "module": "dictamesh.core.errors",
                    "value": "bad address jane@example.com",
                    "stacktrace": {"frames": [{"function": "f", "vars": {"x": "'Jane'"}}]},
                }
            ]
        },
        "extra": {"note": "call +44 20 7946 0958", "iban": "DE89370400440532013000"},
        "breadcrumbs": {"values": [{"message": "sent to jane@example.com"}]},
    }
    out = scrub_event(event, scrubber(), vetted={("dictamesh.core.errors", "ValidationError")})
    text = repr(out)
    assert out["request"] == {"method": "POST", "url": "http://node/api/v1/x"}
    for gone in ("jane@example.com", "Jane", "abc.def.ghi", "host-1", "7946", "DE8937"):
        assert gone not in text, gone
    value = out["exception"]["values"][0]["value"]
    assert value.startswith("bad address sha256:")  # a vetted message, its email hashed
    assert "vars" not in out["exception"]["values"][0]["stacktrace"]["frames"][0]


def test_unvetted_messages_are_replaced_and_hashes_are_stable() -> None:
    event = {"exception": {"values": [{"type": "KeyError", "module": "builtins", "value": "x"}]}}
    assert scrub_event(event, scrubber(), vetted=set())["exception"]["values"][0]["value"] == (
        SCRUBBED
    )
    one, two = scrubber(), scrubber()
    assert one.text("a jane@example.com") == two.text("a jane@example.com")  # same key
    assert one.text("Bearer eyJhbGciOi.eyJzdWIiOi.sig") == "[scrubbed]"


def test_a_scrubber_failure_drops_the_event() -> None:
    from dictamesh.observability import error_tracking

    class Broken:
        def text(self, value: str) -> str:
            raise ValueError("boom")

        def field(self, name: str, value: Any) -> tuple[bool, Any]:
            return False, value

    error_tracking._state.scrubber = Broken()
    try:
        assert error_tracking._before_send({"message": "m"}, {}) is None
    finally:
        error_tracking._state.scrubber = None


def _chained() -> None:
    try:
        raise KeyError("jane.doe")
    except KeyError as exc:
        raise ValidationError("bad input") from exc


def test_vetted_errors_are_dictamesh_errors() -> None:
    from dictamesh.observability.error_tracking import _unvetted_messages, _vetted

    with pytest.raises(ValidationError) as caught:
        _chained()
    hint = {"exc_info": (caught.type, caught.value, caught.tb)}
    assert _vetted(hint) == {("dictamesh.core.errors", "ValidationError")}
    assert "'jane.doe'" in _unvetted_messages(hint)  # the KeyError's, not the vetted one


async def test_a_cli_crash_is_reported_with_its_command_only(tmp_path: Path) -> None:
    from dictamesh.cli._crash import report_crash
    from dictamesh.cli.main import app

    email = "jane.crash@example.com"
    async with sentry_receiver() as receiver:
        config = tmp_path / "mesh.yaml"
        config.write_text(
            f"node_name: ops-cli\nobservability:\n  sentry:\n    dsn: {receiver.dsn()}\n"
        )
        argv = ["governance", "export", f"customer:{email}", "-c", str(config)]
        crash = RuntimeError(f"export failed for {email}")
        # the SDK's sender posts from its thread while this loop serves the receiver
        await asyncio.to_thread(report_crash, app, crash, argv)
        assert not error_tracking_enabled()  # started for the crash, closed after it

        async def reported() -> list[dict[str, Any]]:
            assert receiver.events()
            return receiver.events()

        (event,) = await eventually(reported)
    assert event["tags"]["command"] == "governance export"
    assert event["tags"]["node"] == "ops-cli"
    assert event["tags"]["node_role"] == "cli"
    raw = b"".join(envelope.raw for envelope in receiver.envelopes())
    assert email.encode() not in raw
    assert b"jane.crash" not in raw


async def test_a_cli_crash_without_a_dsn_sends_nothing(tmp_path: Path) -> None:
    from dictamesh.cli._crash import report_crash
    from dictamesh.cli.main import app

    config = tmp_path / "mesh.yaml"
    config.write_text("node_name: ops-cli\n")
    await asyncio.to_thread(report_crash, app, RuntimeError("x"), ["status", "-c", str(config)])
    assert not error_tracking_enabled()
    assert not sentry_sdk.get_client().is_active()
