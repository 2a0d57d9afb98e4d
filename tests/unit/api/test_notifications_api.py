"""The notification routes: the caller's inbox and preferences, the operators' outbox
routes — real stores on a SQLite catalog, over HTTP with API keys."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.unit.api.conftest import Node
from tests.unit.api.notifications_seed import Wakes, deliver_in_app, notification_service, seed

from dictamesh.auth import hash_api_key
from dictamesh.core.settings import AuthSettings
from dictamesh.notifications.service import NotificationService

ALICE_KEY = "dmk_alice_test_key_0123456789"
BOB_KEY = "dmk_bob_test_key_0123456789"
ADMIN_KEY = "dmk_admin_test_key_0123456789"
GLOBEX_ADMIN_KEY = "dmk_globex_admin_key_0123456789"
KEYS = [
    {"sha256": hash_api_key(ALICE_KEY), "subject": "alice", "roles": ["reader"], "tenant": "acme"},
    {"sha256": hash_api_key(BOB_KEY), "subject": "bob", "roles": ["reader"], "tenant": "acme"},
    {"sha256": hash_api_key(ADMIN_KEY), "subject": "ops", "roles": ["admin"], "tenant": "acme"},
    {
        "sha256": hash_api_key(GLOBEX_ADMIN_KEY),
        "subject": "ops",
        "roles": ["admin"],
        "tenant": "globex",
    },
]
ALICE = {"X-API-Key": ALICE_KEY}
BOB = {"X-API-Key": BOB_KEY}
ADMIN = {"X-API-Key": ADMIN_KEY}
GLOBEX_ADMIN = {"X-API-Key": GLOBEX_ADMIN_KEY}
INBOX = "/api/v1/notifications"
ADMIN_PATH = "/api/v1/admin/notifications"


@pytest.fixture
def wakes() -> Wakes:
    return Wakes()


@pytest.fixture
async def service(sqlite_catalog_url: str, wakes: Wakes) -> AsyncIterator[NotificationService]:
    async with notification_service(sqlite_catalog_url, wakes) as made:
        yield made


@pytest.fixture
async def http(service: NotificationService) -> AsyncIterator[httpx.AsyncClient]:
    node = Node(notifications=service, auth=AuthSettings(mode="required", api_keys=KEYS))
    async with node.client() as client:
        yield client


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


# --- the inbox ---------------------------------------------------------------------------


async def test_the_inbox_shows_only_the_callers_messages_and_pages(
    http: httpx.AsyncClient, service: NotificationService
) -> None:
    mine = [await deliver_in_app(service, "alice", subject=f"n{i}") for i in range(3)]
    theirs = await deliver_in_app(service, "bob")
    body = (await http.get(INBOX, headers=ALICE)).json()
    assert [i["id"] for i in body["items"]] == mine[::-1]  # newest first
    assert theirs not in {i["id"] for i in body["items"]}
    assert body["unread"] == 3
    assert body["next_before"] is None
    first = body["items"][0]
    assert first["subject"] == "n2"
    assert first["text"] == "n2, alice"
    assert first["read"] is False
    assert set(first) >= {"notification_id", "rule", "priority", "created_at", "read_at"}

    page = (await http.get(INBOX, params={"limit": 2}, headers=ALICE)).json()
    assert [i["id"] for i in page["items"]] == mine[:0:-1]
    rest = (await http.get(INBOX, params={"before": page["next_before"]}, headers=ALICE)).json()
    assert [i["id"] for i in rest["items"]] == mine[:1]

    bobs = (await http.get(INBOX, headers=BOB)).json()
    assert [i["id"] for i in bobs["items"]] == [theirs]
    assert bobs["unread"] == 1


async def test_marking_read_only_marks_the_callers_own(
    http: httpx.AsyncClient, service: NotificationService
) -> None:
    mine = [await deliver_in_app(service, "alice") for _ in range(2)]
    theirs = await deliver_in_app(service, "bob")

    stolen = await http.post(f"{INBOX}/read", json={"ids": [mine[0]]}, headers=BOB)
    assert stolen.status_code == 200
    assert stolen.json() == {"marked": []}
    not_mine = await http.post(f"{INBOX}/{theirs}/read", headers=ALICE)
    assert not_mine.status_code == 404
    assert (await http.get(INBOX, headers=ALICE)).json()["unread"] == 2
    assert (await http.get(INBOX, headers=BOB)).json()["unread"] == 1

    both = await http.post(f"{INBOX}/read", json={"ids": [mine[0], theirs]}, headers=ALICE)
    assert both.json() == {"marked": [mine[0]]}
    one = await http.post(f"{INBOX}/{mine[1].upper()}/read", headers=ALICE)  # any UUID form
    assert one.json() == {"marked": [mine[1]]}
    again = await http.post(f"{INBOX}/read", json={"ids": mine}, headers=ALICE)
    assert sorted(again.json()["marked"]) == sorted(mine)  # already read: still theirs
    body = (await http.get(INBOX, headers=ALICE)).json()
    assert body["unread"] == 0
    assert all(i["read"] and i["read_at"] for i in body["items"])
    assert (await http.get(INBOX, params={"unread": "true"}, headers=ALICE)).json()["items"] == []
    assert (await http.get(INBOX, headers=BOB)).json()["unread"] == 1


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[]",
        b'{"ids": "x"}',
        b'{"ids": ["not-a-uuid"]}',
        b'{"ids": [42]}',
        b'{"ids": [], "extra": 1}',
        b'{"ids": ["\\u0000"]}',
        b"[" * 100_000,
    ],
)
async def test_bad_mark_bodies_are_400(
    http: httpx.AsyncClient, service: NotificationService, content: bytes
) -> None:
    mine = await deliver_in_app(service, "alice")
    response = await http.post(
        f"{INBOX}/read", content=content, headers={**ALICE, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == "VALIDATION_ERROR"
    assert (await http.get(INBOX, headers=ALICE)).json()["unread"] == 1
    assert mine


async def test_bad_inbox_input_is_400_naming_it(http: httpx.AsyncClient) -> None:
    too_many = [str(uuid.uuid4()) for _ in range(501)]
    response = await http.post(f"{INBOX}/read", json={"ids": too_many}, headers=ALICE)
    assert response.status_code == 400
    assert "at most 500" in error_of(response)["message"]
    response = await http.post(
        f"{INBOX}/read", json={"ids": [str(uuid.uuid4()), "nope"]}, headers=ALICE
    )
    assert response.status_code == 400
    assert error_of(response)["message"].startswith("ids[1] 'nope' is not a UUID")
    response = await http.post(f"{INBOX}/not-a-uuid/read", headers=ALICE)
    assert response.status_code == 400
    assert "message id" in error_of(response)["message"]
    for params in ({"limit": 0}, {"limit": 201}, {"before": "yesterday"}, {"unread": "maybe"}):
        response = await http.get(INBOX, params=params, headers=ALICE)
        assert response.status_code == 400, params
        assert error_of(response)["code"] == "VALIDATION_ERROR"


async def test_an_anonymous_caller_has_no_inbox(service: NotificationService) -> None:
    async with Node(notifications=service).client() as open_node:  # auth off: nobody signed in
        for method, path in (
            ("GET", INBOX),
            ("POST", f"{INBOX}/{uuid.uuid4()}/read"),
            ("GET", f"{INBOX}/preferences"),
        ):
            response = await open_node.request(method, path)
            assert response.status_code == 401, (method, path)
            assert error_of(response)["code"] == "UNAUTHENTICATED"
        response = await open_node.post(f"{INBOX}/read", json={"ids": []})
        assert response.status_code == 401
    async with Node(
        notifications=service, auth=AuthSettings(mode="required", api_keys=KEYS)
    ).client() as secured:
        response = await secured.get(INBOX)
        assert response.status_code == 401
        assert error_of(response)["code"] == "UNAUTHENTICATED"


# --- preferences -------------------------------------------------------------------------


async def test_preferences_round_trip(http: httpx.AsyncClient) -> None:
    defaults = (await http.get(f"{INBOX}/preferences", headers=ALICE)).json()
    assert defaults == {
        "opt_out": {"channels": [], "rules": []},
        "quiet_hours": None,
        "min_priority": "low",
    }
    wanted = {
        "opt_out": {"channels": ["ops_sms"], "rules": ["customer-changed"]},
        "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"},
        "min_priority": "high",
    }
    put = await http.put(f"{INBOX}/preferences", json=wanted, headers=ALICE)
    assert put.status_code == 200
    assert put.json() == wanted
    assert (await http.get(f"{INBOX}/preferences", headers=ALICE)).json() == wanted
    assert (await http.get(f"{INBOX}/preferences", headers=BOB)).json() == defaults
    partial = await http.put(f"{INBOX}/preferences", json={"min_priority": "normal"}, headers=ALICE)
    assert partial.json() == {**defaults, "min_priority": "normal"}  # PUT replaces


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours.start"),
        ({"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Olympus"}},
         "quiet_hours.timezone"),
        ({"min_priority": "urgent"}, "min_priority"),
        ({"opt_out": {"channels": "ops_mail"}}, "opt_out.channels"),
        ({"snooze": True}, "snooze"),
        ([1, 2], "body"),
    ],
)  # fmt: skip
async def test_bad_preferences_are_400_naming_the_field(
    http: httpx.AsyncClient, body: Any, field: str
) -> None:
    response = await http.put(f"{INBOX}/preferences", json=body, headers=ALICE)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert error["message"].startswith(f"invalid preferences: {field}: ")
    assert error["details"]["errors"][0]["field"] == field
    assert (await http.get(f"{INBOX}/preferences", headers=ALICE)).json()["min_priority"] == "low"


async def test_a_preferences_body_that_is_not_json_is_400(http: httpx.AsyncClient) -> None:
    response = await http.put(
        f"{INBOX}/preferences",
        content=b"{oops",
        headers={**ALICE, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "VALIDATION_ERROR"


# --- the outbox (admin) ------------------------------------------------------------------


async def test_outbox_routes_are_for_admins_only(
    http: httpx.AsyncClient, service: NotificationService
) -> None:
    dead = await seed(service.store, "dead")
    for method, path in (
        ("GET", ADMIN_PATH),
        ("GET", f"{ADMIN_PATH}/outbox"),
        ("GET", f"{ADMIN_PATH}/{dead}"),
        ("POST", f"{ADMIN_PATH}/{dead}/retry"),
    ):
        response = await http.request(method, path, headers=ALICE)
        assert response.status_code == 403, (method, path)
        assert error_of(response)["code"] == "FORBIDDEN"
    assert (await service.store.get(dead, tenant="acme")).status.value == "dead"


async def test_listing_and_reading_outbox_messages(
    http: httpx.AsyncClient, service: NotificationService
) -> None:
    sent = await seed(service.store, "sent")
    dead = await seed(service.store, "dead", recipient="bob")
    failed = await seed(service.store, "failed", rule="order-shipped")
    pending = await seed(service.store)
    await seed(service.store, "dead", tenant="globex")

    listed = (await http.get(ADMIN_PATH, headers=ADMIN)).json()
    assert [n["id"] for n in listed["notifications"]] == [pending, failed, dead, sent]
    assert listed["next_before"] is None
    broken = await http.get(ADMIN_PATH, params={"status": "failed,DEAD"}, headers=ADMIN)
    assert [n["id"] for n in broken.json()["notifications"]] == [failed, dead]
    by_rule = await http.get(ADMIN_PATH, params={"rule": "order-shipped"}, headers=ADMIN)
    assert [n["id"] for n in by_rule.json()["notifications"]] == [failed]
    by_recipient = await http.get(ADMIN_PATH, params={"recipient": "bob"}, headers=ADMIN)
    assert [n["id"] for n in by_recipient.json()["notifications"]] == [dead]
    page = (await http.get(ADMIN_PATH, params={"limit": 3}, headers=ADMIN)).json()
    assert len(page["notifications"]) == 3
    rest = await http.get(ADMIN_PATH, params={"before": page["next_before"]}, headers=ADMIN)
    assert [n["id"] for n in rest.json()["notifications"]] == [sent]

    detail = (await http.get(f"{ADMIN_PATH}/{dead}", headers=ADMIN)).json()
    assert detail["id"] == dead
    assert detail["status"] == "dead"
    assert detail["recipient"] == "bob"
    assert detail["last_error"] == "SMTP 550 mailbox unavailable"
    assert [(a["attempt"], a["outcome"], a["status_code"]) for a in detail["attempts"]] == [
        (1, "dead", 550)
    ]
    assert (await http.get(f"{ADMIN_PATH}/outbox", headers=ADMIN)).json() == {"depth": 2}


async def test_bad_outbox_input_is_400_and_unknown_ids_404(http: httpx.AsyncClient) -> None:
    for params in ({"status": "sleeping"}, {"limit": 0}, {"limit": 201}, {"before": "soon"}):
        response = await http.get(ADMIN_PATH, params=params, headers=ADMIN)
        assert response.status_code == 400, params
        assert error_of(response)["code"] == "VALIDATION_ERROR"
    response = await http.get(ADMIN_PATH, params={"status": "sleeping"}, headers=ADMIN)
    assert "unknown notification status 'sleeping'" in error_of(response)["message"]
    for method, path in (("GET", f"{ADMIN_PATH}/x"), ("POST", f"{ADMIN_PATH}/42/retry")):
        response = await http.request(method, path, headers=ADMIN)
        assert response.status_code == 400, path
        assert "is not a UUID" in error_of(response)["message"]
    missing = str(uuid.uuid4())
    for method, path in (
        ("GET", f"{ADMIN_PATH}/{missing}"),
        ("POST", f"{ADMIN_PATH}/{missing}/retry"),
    ):
        response = await http.request(method, path, headers=ADMIN)
        assert response.status_code == 404, path
        assert error_of(response)["code"] == "NOT_FOUND"


async def test_retry_puts_a_dead_message_back_and_refuses_a_sent_one(
    http: httpx.AsyncClient, service: NotificationService, wakes: Wakes
) -> None:
    sent = await seed(service.store, "sent")
    dead = await seed(service.store, "dead")
    conflict = await http.post(f"{ADMIN_PATH}/{sent}/retry", headers=ADMIN)
    assert conflict.status_code == 409
    assert error_of(conflict)["code"] == "NOTIFICATION_STATE"
    assert wakes.count == 0
    assert (await http.get(f"{ADMIN_PATH}/outbox", headers=ADMIN)).json() == {"depth": 0}

    retried = await http.post(f"{ADMIN_PATH}/{dead}/retry", headers=ADMIN)
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert (body["id"], body["status"], body["attempts"], body["channel"]) == (
        dead, "pending", 0, "ops_mail"
    )  # fmt: skip
    assert wakes.count == 1  # this node's worker looks at once
    assert (await http.get(f"{ADMIN_PATH}/outbox", headers=ADMIN)).json() == {"depth": 1}
    claimed = await service.store.claim_records("n2/x", lease_seconds=30, limit=10)
    assert [c.id for c in claimed] == [dead]
    detail = (await http.get(f"{ADMIN_PATH}/{dead}", headers=ADMIN)).json()
    assert len(detail["attempts"]) == 1  # the log keeps the tries before the retry
    again = await http.post(f"{ADMIN_PATH}/{dead}/retry", headers=ADMIN)
    assert again.status_code == 409  # pending now


async def test_an_admin_sees_only_their_tenants_messages(
    http: httpx.AsyncClient, service: NotificationService, wakes: Wakes
) -> None:
    acme = await seed(service.store, "dead")
    globex = await seed(service.store, "dead", tenant="globex")
    listed = (await http.get(ADMIN_PATH, headers=GLOBEX_ADMIN)).json()
    assert [n["id"] for n in listed["notifications"]] == [globex]
    for method, path in (("GET", f"{ADMIN_PATH}/{acme}"), ("POST", f"{ADMIN_PATH}/{acme}/retry")):
        response = await http.request(method, path, headers=GLOBEX_ADMIN)
        assert response.status_code == 404, path
    assert (await service.store.get(acme, tenant="acme")).status.value == "dead"
    assert wakes.count == 0
    assert (await http.get(f"{ADMIN_PATH}/{globex}", headers=GLOBEX_ADMIN)).status_code == 200


async def test_without_notifications_there_are_no_routes() -> None:
    async with Node().client() as client:
        assert (await client.get(INBOX)).status_code == 404
        assert (await client.get(f"{ADMIN_PATH}/outbox")).status_code == 404


async def test_openapi_shows_the_routes(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json", headers=ALICE)).json()
    paths = document["paths"]
    for path in (
        INBOX,
        f"{INBOX}/read",
        f"{INBOX}/{{message_id}}/read",
        f"{INBOX}/preferences",
        ADMIN_PATH,
        f"{ADMIN_PATH}/outbox",
        f"{ADMIN_PATH}/{{notification_id}}",
        f"{ADMIN_PATH}/{{notification_id}}/retry",
    ):
        assert path in paths, path
    put = paths[f"{INBOX}/preferences"]["put"]["requestBody"]["content"]["application/json"]
    assert put["schema"]["title"] == "RecipientPreferences"
