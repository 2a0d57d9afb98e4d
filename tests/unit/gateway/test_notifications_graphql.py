"""The caller's notifications in GraphQL: the part's fields in the generated schema, the
inbox query and the mark-read mutation over HTTP, and ``notificationAdded`` over
graphql-transport-ws (real stores on a SQLite catalog)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from tests.unit.api.conftest import Node
from tests.unit.api.notifications_seed import deliver_in_app, notification_service
from tests.unit.api.test_graphql_ws import receive, served, session
from tests.unit.gateway.fakes import MemoryRegistry, shop

from dictamesh.api import create_app
from dictamesh.auth import hash_api_key
from dictamesh.core.settings import AuthSettings
from dictamesh.events.fanout import ChangeFeed
from dictamesh.gateway.catalog import CatalogPart
from dictamesh.gateway.notifications import NotificationPart, watch_inbox
from dictamesh.gateway.subscriptions import build_live_schema
from dictamesh.notifications.inbox_store import InboxItem, InboxStore
from dictamesh.notifications.service import NotificationService
from dictamesh.notifications.tables import INBOX as INBOX_TABLE
from dictamesh.testing.graphql import GraphQLTestClient

ALICE_KEY = "dmk_alice_test_key_0123456789"
BOB_KEY = "dmk_bob_test_key_0123456789"
KEYS = [
    {"sha256": hash_api_key(ALICE_KEY), "subject": "alice", "roles": ["reader"], "tenant": "acme"},
    {"sha256": hash_api_key(BOB_KEY), "subject": "bob", "roles": ["reader"], "tenant": "acme"},
]
INBOX = """
query Inbox($unread: Boolean, $first: Int, $before: DateTime) {
  notifications(unreadOnly: $unread, first: $first, before: $before) {
    items { id notificationId rule priority subject text html createdAt read readAt }
    unreadCount
    nextBefore
  }
}
"""
MARK = "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) }"
ADDED = {
    "id": "n",
    "type": "subscribe",
    "payload": {"query": "subscription { notificationAdded { id subject priority read } }"},
}


class CountingInbox(InboxStore):
    """The inbox store, counting reads (to see a subscription start polling, and stop)."""

    def __init__(self, inner: InboxStore) -> None:
        super().__init__(inner.database)
        self.reads = 0
        self.read_once = asyncio.Event()

    async def inbox(self, recipient: str, **options: Any) -> list[InboxItem]:
        self.reads += 1
        items = await super().inbox(recipient, **options)
        self.read_once.set()  # after the read: what is added from now on is new
        return items


@pytest.fixture
async def service(sqlite_catalog_url: str) -> AsyncIterator[NotificationService]:
    async with notification_service(sqlite_catalog_url) as made:
        made.inbox = CountingInbox(made.inbox)
        yield made


def secured_node(service: NotificationService, poll_seconds: float = 0.05) -> Node:
    """A node whose inbox subscription polls every ``poll_seconds``."""
    node = Node(notifications=service, auth=AuthSettings(mode="required", api_keys=KEYS))
    parts = [CatalogPart(node.catalog), NotificationPart(service, poll_seconds=poll_seconds)]
    node.ctx.graphql_schema = build_live_schema(node.registry, None, parts=parts)
    node.app = create_app(node.ctx)
    return node


def as_user(node: Node, key: str) -> GraphQLTestClient:
    return GraphQLTestClient(node.app, headers={"X-API-Key": key})


# --- the schema ------------------------------------------------------------------------


def test_the_part_adds_query_mutation_and_subscription_fields(
    service: NotificationService,
) -> None:
    registry = MemoryRegistry(list(shop()))
    sdl = build_live_schema(
        registry, ChangeFeed(), parts=[CatalogPart(None), NotificationPart(service)]
    ).as_str()
    assert (
        "notifications(unreadOnly: Boolean = false, first: Int = 20, before: DateTime = null):"
        " NotificationInbox!" in sdl
    )
    assert "markNotificationsRead(ids: [ID!]!): [ID!]!" in sdl
    assert "notificationAdded: InboxNotification!" in sdl
    assert "customerChanged(id: ID = null)" in sdl  # merged with the entity subscriptions
    assert "enum NotificationPriority" in sdl
    with pytest.raises(ValueError, match="poll_seconds"):
        NotificationPart(service, poll_seconds=0)


async def test_the_default_app_has_the_fields_when_notifications_are_set(
    service: NotificationService,
) -> None:
    query = '{ __type(name: "NotificationInbox") { name } }'
    with_them = await GraphQLTestClient(Node(notifications=service).app).query(query)
    assert with_them.data == {"__type": {"name": "NotificationInbox"}}
    without = await GraphQLTestClient(Node().app).query(query)
    assert without.data == {"__type": None}


# --- over HTTP -------------------------------------------------------------------------


async def test_the_inbox_query_and_mark_read(service: NotificationService) -> None:
    node = secured_node(service)
    mine = [await deliver_in_app(service, "alice", subject=f"n{i}") for i in range(3)]
    theirs = await deliver_in_app(service, "bob")
    alice = as_user(node, ALICE_KEY)

    read = await alice.query(INBOX)
    assert read.errors == []
    assert read.data is not None
    inbox = read.data["notifications"]
    assert [i["id"] for i in inbox["items"]] == mine[::-1]
    assert inbox["unreadCount"] == 3
    assert inbox["nextBefore"] is None
    newest = inbox["items"][0]
    assert newest["subject"] == "n2"
    assert newest["priority"] == "NORMAL"
    assert newest["rule"] == "customer-changed"
    assert newest["read"] is False
    assert newest["readAt"] is None
    assert uuid.UUID(newest["notificationId"])
    assert datetime.fromisoformat(newest["createdAt"])

    page = await alice.query(INBOX, {"first": 2})
    assert page.data is not None
    assert [i["id"] for i in page.data["notifications"]["items"]] == mine[:0:-1]
    rest = await alice.query(INBOX, {"before": page.data["notifications"]["nextBefore"]})
    assert rest.data is not None
    assert [i["id"] for i in rest.data["notifications"]["items"]] == mine[:1]

    marked = await alice.query(MARK, {"ids": [mine[0], theirs]})
    assert marked.errors == []
    assert marked.data == {"markNotificationsRead": [mine[0]]}  # bob's is not alice's
    stolen = await as_user(node, BOB_KEY).query(MARK, {"ids": mine})
    assert stolen.data == {"markNotificationsRead": []}
    unread = await alice.query(INBOX, {"unread": True})
    assert unread.data is not None
    assert [i["id"] for i in unread.data["notifications"]["items"]] == mine[:0:-1]
    assert unread.data["notifications"]["unreadCount"] == 2
    bobs = await as_user(node, BOB_KEY).query(INBOX)
    assert bobs.data is not None
    assert [i["id"] for i in bobs.data["notifications"]["items"]] == [theirs]
    assert bobs.data["notifications"]["unreadCount"] == 1


async def test_bad_arguments_are_bad_user_input(service: NotificationService) -> None:
    alice = as_user(secured_node(service), ALICE_KEY)
    for variables in ({"first": 0}, {"first": 201}):
        assert (await alice.query(INBOX, variables)).error_codes == ["BAD_USER_INPUT"]
    assert (await alice.query(INBOX, {"before": "yesterday"})).error_codes == ["BAD_USER_INPUT"]
    assert (await alice.query(MARK, {"ids": ["x"]})).error_codes == ["BAD_USER_INPUT"]
    many = [str(uuid.uuid4()) for _ in range(501)]
    assert (await alice.query(MARK, {"ids": many})).error_codes == ["BAD_USER_INPUT"]


async def test_an_anonymous_caller_has_no_inbox(service: NotificationService) -> None:
    gql = GraphQLTestClient(Node(notifications=service).app)  # auth off: nobody signed in
    assert (await gql.query(INBOX)).error_codes == ["UNAUTHENTICATED"]
    assert (await gql.query(MARK, {"ids": []})).error_codes == ["UNAUTHENTICATED"]


# --- the subscription over a WebSocket ---------------------------------------------------


async def test_notification_added_delivers_the_callers_new_messages(
    service: NotificationService,
) -> None:
    assert isinstance(service.inbox, CountingInbox)
    node = secured_node(service)
    before = await deliver_in_app(service, "alice", subject="old")
    async with served(node) as url, session(url, {"X-API-Key": ALICE_KEY}) as ws:
        assert await receive(ws) == {"type": "connection_ack"}
        await ws.send(json.dumps(ADDED))
        await asyncio.wait_for(service.inbox.read_once.wait(), 3)  # it looked once: "now"
        await deliver_in_app(service, "bob", subject="not yours")
        first = await deliver_in_app(service, "alice", subject="new 1")
        second = await deliver_in_app(service, "alice", subject="new 2")
        got = [await receive(ws), await receive(ws)]
        assert [m["type"] for m in got] == ["next", "next"]
        added = [m["payload"]["data"]["notificationAdded"] for m in got]
        assert added == [
            {"id": first, "subject": "new 1", "priority": "NORMAL", "read": False},
            {"id": second, "subject": "new 2", "priority": "NORMAL", "read": False},
        ]
        assert before not in {a["id"] for a in added}
        with pytest.raises(TimeoutError):  # nothing else: not bob's, nothing twice
            await asyncio.wait_for(ws.recv(), 0.3)
        await ws.send(json.dumps({"id": "n", "type": "complete"}))
        await asyncio.sleep(0.2)
        reads = service.inbox.reads
        await asyncio.sleep(0.3)
        assert service.inbox.reads == reads  # it stopped polling when the client left


async def test_notification_added_stops_when_the_connection_drops(
    service: NotificationService,
) -> None:
    assert isinstance(service.inbox, CountingInbox)
    node = secured_node(service)
    async with served(node) as url:
        async with session(url, {"X-API-Key": BOB_KEY}) as ws:
            assert await receive(ws) == {"type": "connection_ack"}
            await ws.send(json.dumps(ADDED))
            await asyncio.wait_for(service.inbox.read_once.wait(), 3)
        await asyncio.sleep(0.2)
        reads = service.inbox.reads
        await asyncio.sleep(0.3)
        assert service.inbox.reads == reads


async def test_notification_added_needs_a_caller(service: NotificationService) -> None:
    node = Node(notifications=service)  # auth off
    async with served(node) as url, session(url) as ws:
        assert await receive(ws) == {"type": "connection_ack"}
        await ws.send(json.dumps(ADDED))
        message = await receive(ws)
        assert message["type"] == "error"
        assert [e["extensions"]["code"] for e in message["payload"]] == ["UNAUTHENTICATED"]


async def test_watch_inbox_delivers_late_commits_once(service: NotificationService) -> None:
    """A message stamped a little before the newest one seen (another node's clock, a later
    commit) is still delivered, and nothing is delivered twice."""
    inbox = service.inbox
    assert isinstance(inbox, CountingInbox)
    seen: list[str] = []

    async def collect() -> None:
        async for item in watch_inbox(inbox, "alice", "acme", poll_seconds=0.02):
            seen.append(item.id)

    task = asyncio.create_task(collect())
    try:
        await asyncio.wait_for(inbox.read_once.wait(), 3)
        first = await deliver_in_app(service, "alice")
        await until(lambda: seen == [first])
        late = await insert_backdated(service, "alice", seconds=5)
        await until(lambda: seen == [first, late])
        await asyncio.sleep(0.1)
        assert seen == [first, late]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(done: Callable[[], bool]) -> None:
    for _ in range(300):
        if done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached in time")


async def insert_backdated(service: NotificationService, user: str, *, seconds: float) -> str:
    """An inbox row stamped ``seconds`` before now, committed now (one transaction)."""
    database = service.inbox.database
    inbox_id = str(uuid.uuid4())
    async with database.write("acme") as conn:
        await conn.execute(
            INBOX_TABLE.insert().values(
                id=inbox_id,
                tenant_id="acme",
                notification_id=str(uuid.uuid4()),
                recipient=user,
                rule="customer-changed",
                priority="normal",
                subject="late",
                body_text="late",
                created_at=database.now() - timedelta(seconds=seconds),
            )
        )
    return inbox_id


async def test_watch_inbox_takes_a_full_inbox_for_old(service: NotificationService) -> None:
    """More messages than one page within the look-back window: none of them is new."""
    inbox = service.inbox
    assert isinstance(inbox, CountingInbox)
    old = {await deliver_in_app(service, "alice", subject=f"old {i}") for i in range(60)}
    seen: list[str] = []

    async def collect() -> None:
        async for item in watch_inbox(inbox, "alice", "acme", poll_seconds=0.02):
            seen.append(item.id)

    task = asyncio.create_task(collect())
    try:
        await until(lambda: inbox.reads >= 3)  # the snapshot (two pages), then a poll
        new = await deliver_in_app(service, "alice", subject="new")
        await until(lambda: seen == [new])
        await asyncio.sleep(0.1)
        assert seen == [new]
        assert not old & set(seen)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
