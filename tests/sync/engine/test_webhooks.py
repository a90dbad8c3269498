"""Webhooks in the engine, against the Jira simulator: a delivery is verified over its raw
bytes, stored once, and applied by refreshing what it names (never trusting the payload);
duplicates and out-of-order deliveries end in the vendor's current state; failures retry
with backoff and end as visible dead letters."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session, sessionmaker

from sandbox.registry import JiraHandle
from sync.connectors.base import WebhookRequest
from sync.engine.runner import SyncEnvironment, run_sync
from sync.engine.webhooks import Backoff, ReceiptStatus, WebhookReceiver, apply_deliveries
from sync.errors import NotFound, WebhookRejected
from sync.model import ConnectionState, SyncKind, Tool
from sync.store import inbox
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from sync.store.inbox_tables import WebhookDelivery
from tests.builders_webhooks import (
    SECRET,
    add_webhook_connection,
    environment_for,
    inbox_rows,
    item_row,
    make_worker,
)
from tests.fakes import FakeClock, FakeSleep


@pytest.fixture
def jira() -> JiraHandle:
    return JiraHandle(items=30)


@pytest.fixture
def env(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock, sleep: FakeSleep, jira: JiraHandle
) -> SyncEnvironment:
    return environment_for(jira, sessions=db, box=box, clock=clock, sleep=sleep)


@pytest.fixture
async def connection_id(env: SyncEnvironment) -> int:
    connection_id = add_webhook_connection(env, JiraHandle(items=0), Tool.JIRA)
    await run_sync(env, connection_id, SyncKind.FULL)
    return connection_id


@pytest.fixture
def receiver(db: sessionmaker[Session], box: SecretBox, clock: FakeClock) -> WebhookReceiver:
    return WebhookReceiver(db, box, clock=clock)


def signed(
    event: str,
    issue_id: str,
    *,
    secret: str = SECRET,
    identifier: str | None = None,
    stamp: int = 0,
    summary: str = "what the payload claims",
) -> WebhookRequest:
    body = json.dumps(
        {
            "timestamp": 1_764_000_000_000 + stamp,
            "webhookEvent": event,
            "issue": {"id": issue_id, "fields": {"summary": summary}},
        }
    ).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature": f"sha256={signature}", "Content-Type": "application/json"}
    if identifier is not None:
        headers["X-Atlassian-Webhook-Identifier"] = identifier
    return WebhookRequest(body=body, headers=headers, url="http://pmbridge.test/webhooks/1")


# -- receiving ------------------------------------------------------------------------------
async def test_a_signed_delivery_is_stored_and_then_applied_from_the_vendors_state(
    env: SyncEnvironment, jira: JiraHandle, connection_id: int, receiver: WebhookReceiver
) -> None:
    issue = jira.work_item_ids()[0]
    jira.touch_item(issue, title="Renamed in Jira")

    receipt = receiver.receive(connection_id, signed("jira:issue_updated", issue))
    assert receipt.status is ReceiptStatus.ACCEPTED
    assert item_row(env.sessions, connection_id, issue).title != "Renamed in Jira"  # not yet

    report = await make_worker(env).run_once()

    assert report.applied == 1
    # The payload's summary was only a hint: the stored title is what Jira says now.
    assert item_row(env.sessions, connection_id, issue).title == "Renamed in Jira"
    [row] = inbox_rows(env.sessions)
    assert (row.state, row.notices, row.attempts, row.applied_at) == ("done", 1, 1, env.clock())


async def test_a_refreshed_item_is_stored_with_its_whole_raw_payload(
    env: SyncEnvironment, jira: JiraHandle, connection_id: int, receiver: WebhookReceiver
) -> None:
    """A webhook refresh stores the vendor's JSON as received, as a sync page would: a sync
    that follows finds nothing to write, and fields the models ignore are not lost."""
    issue = jira.work_item_ids()[0]
    jira.touch_item(issue, title="Renamed in Jira")
    receiver.receive(connection_id, signed("jira:issue_updated", issue))
    await make_worker(env).run_once()

    raw = json.loads(item_row(env.sessions, connection_id, issue).raw)
    assert raw["self"].endswith(f"/rest/api/3/issue/{issue}")  # not in any payload model
    again = await run_sync(env, connection_id, SyncKind.FULL)
    assert again.upserted == 0


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda r: signed("jira:issue_updated", "10001", secret="wrong"), id="resigned"
        ),
        pytest.param(lambda r: WebhookRequest(r.body[:-5], r.headers, r.url), id="truncated-body"),
        pytest.param(
            lambda r: WebhookRequest(r.body.replace(b"updated", b"deleted"), r.headers, r.url),
            id="altered-body",
        ),
        pytest.param(lambda r: WebhookRequest(r.body, {}, r.url), id="unsigned"),
        pytest.param(
            lambda r: WebhookRequest(r.body, {"X-Hub-Signature": "md5=abc"}, r.url),
            id="unknown-method",
        ),
    ],
)
def test_a_forged_delivery_is_rejected_counted_and_not_stored(
    env: SyncEnvironment, connection_id: int, receiver: WebhookReceiver, tamper: object
) -> None:
    forged = tamper(signed("jira:issue_updated", "10001"))  # type: ignore[operator]
    with pytest.raises(WebhookRejected):
        receiver.receive(connection_id, forged)
    assert receiver.rejected[connection_id] == 1
    assert inbox_rows(env.sessions) == []


def test_a_replayed_delivery_is_acknowledged_but_stored_once(
    env: SyncEnvironment, connection_id: int, receiver: WebhookReceiver
) -> None:
    first = receiver.receive(connection_id, signed("jira:issue_updated", "10001"))
    again = receiver.receive(connection_id, signed("jira:issue_updated", "10001"))
    assert (again.status, again.delivery_id) == (ReceiptStatus.DUPLICATE, first.delivery_id)
    assert len(inbox_rows(env.sessions)) == 1


def test_jiras_delivery_identifier_recognises_a_retry_whose_body_changed(
    env: SyncEnvironment, connection_id: int, receiver: WebhookReceiver
) -> None:
    receiver.receive(connection_id, signed("jira:issue_updated", "10001", identifier="d-1"))
    retry = receiver.receive(
        connection_id, signed("jira:issue_updated", "10001", identifier="d-1", stamp=5)
    )
    assert retry.status is ReceiptStatus.DUPLICATE
    assert [r.dedup_key for r in inbox_rows(env.sessions)] == ["d-1"]


def test_an_unknown_connection_is_not_found(receiver: WebhookReceiver) -> None:
    with pytest.raises(NotFound):
        receiver.receive(404, signed("jira:issue_updated", "10001"))
    assert receiver.known(404) is False


def test_a_connection_without_a_secret_rejects_everything(
    env: SyncEnvironment, receiver: WebhookReceiver
) -> None:
    connection_id = add_webhook_connection(env, JiraHandle(items=0), Tool.JIRA, secret=None)
    with pytest.raises(WebhookRejected, match="no webhook secret"):
        receiver.receive(connection_id, signed("jira:issue_updated", "10001"))
    assert inbox_rows(env.sessions) == []


# -- applying -------------------------------------------------------------------------------
async def test_a_deletion_becomes_a_tombstone(
    env: SyncEnvironment, jira: JiraHandle, connection_id: int, receiver: WebhookReceiver
) -> None:
    issue = jira.work_item_ids()[1]
    jira.delete_item(issue)
    receiver.receive(connection_id, signed("jira:issue_deleted", issue))
    await make_worker(env).run_once()
    assert item_row(env.sessions, connection_id, issue).deleted_at == env.clock()


async def test_an_update_naming_an_item_deleted_since_also_tombstones_it(
    env: SyncEnvironment, jira: JiraHandle, connection_id: int, receiver: WebhookReceiver
) -> None:
    issue = jira.work_item_ids()[1]
    jira.delete_item(issue)
    receiver.receive(connection_id, signed("jira:issue_updated", issue))
    await make_worker(env).run_once()
    assert item_row(env.sessions, connection_id, issue).deleted_at is not None


async def test_any_order_of_duplicated_deliveries_ends_in_the_vendors_current_state(
    env: SyncEnvironment, jira: JiraHandle, connection_id: int, receiver: WebhookReceiver
) -> None:
    first, second, third = jira.work_item_ids()[:3]
    jira.touch_item(first, title="First, final")
    jira.touch_item(second, title="Second, final")
    jira.delete_item(third)
    deliveries = [
        signed("jira:issue_updated", first, stamp=1),
        signed("jira:issue_updated", first, stamp=2),
        signed("jira:issue_updated", second, stamp=3),
        signed("jira:issue_deleted", third, stamp=4),
        signed("jira:issue_updated", third, stamp=5),
    ]
    finals = set()
    for order in itertools.islice(itertools.permutations(deliveries), 0, 120, 17):
        for delivery in [*order, *order[:2]]:  # and a replay of the first two
            receiver.receive(connection_id, delivery)
        await make_worker(env, batch_size=2).run_once()
        finals.add(
            (
                item_row(env.sessions, connection_id, first).title,
                item_row(env.sessions, connection_id, second).title,
                item_row(env.sessions, connection_id, third).deleted_at is not None,
            )
        )
        with unit_of_work(env.sessions) as session:  # a fresh inbox for the next order
            session.execute(delete(WebhookDelivery))
    assert finals == {("First, final", "Second, final", True)}


async def test_deliveries_naming_one_item_refresh_it_once(
    env: SyncEnvironment, jira: JiraHandle, connection_id: int, receiver: WebhookReceiver
) -> None:
    issue = jira.work_item_ids()[0]
    for stamp in range(5):
        receiver.receive(connection_id, signed("jira:issue_updated", issue, stamp=stamp))
    before = jira.vendor.request_count
    report = await make_worker(env).run_once()
    assert report.applied == 5
    # /myself and /field (the mapping's facts), then one GET of the issue.
    assert jira.vendor.request_count - before == 3


async def test_deliveries_naming_many_items_refresh_them_in_one_bulk_request(
    env: SyncEnvironment, jira: JiraHandle, connection_id: int, receiver: WebhookReceiver
) -> None:
    issues = jira.work_item_ids()[:10]
    for n, issue in enumerate(issues):
        jira.touch_item(issue, title=f"renamed {n}")
        receiver.receive(connection_id, signed("jira:issue_updated", issue, stamp=n))
    before = jira.vendor.request_count
    report = await make_worker(env).run_once()
    assert report.applied == 10
    # /myself and /field, then one POST /issue/bulkfetch for all ten (not ten GETs).
    assert jira.vendor.request_count - before == 3
    titles = {issue: item_row(env.sessions, connection_id, issue).title for issue in issues}
    assert titles == {issue: f"renamed {n}" for n, issue in enumerate(issues)}


async def test_a_version_is_refreshed_on_its_own_beside_the_bulk_read_of_issues(
    env: SyncEnvironment, jira: JiraHandle, connection_id: int, receiver: WebhookReceiver
) -> None:
    version = str(min(jira.vendor.versions))
    body = json.dumps(
        {"timestamp": 1, "webhookEvent": "jira:version_updated", "version": {"id": version}}
    ).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    receiver.receive(
        connection_id, WebhookRequest(body=body, headers={"X-Hub-Signature": f"sha256={signature}"})
    )
    receiver.receive(connection_id, signed("jira:issue_updated", jira.work_item_ids()[0]))
    before = jira.vendor.request_count
    report = await make_worker(env).run_once()
    assert report.applied == 2
    # /myself and /field, one bulk read for the issue, one GET for the version.
    assert jira.vendor.request_count - before == 4


async def test_an_unreadable_delivery_is_a_dead_letter_at_once(
    env: SyncEnvironment, connection_id: int, receiver: WebhookReceiver
) -> None:
    body = b"this is not JSON"
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    receiver.receive(
        connection_id, WebhookRequest(body, {"X-Hub-Signature": f"sha256={signature}"})
    )
    report = await make_worker(env).run_once()
    [row] = inbox_rows(env.sessions)
    assert (report.dead, row.state, row.attempts) == (1, "dead", 1)
    assert row.last_error is not None
    assert "not a Jira event" in row.last_error


async def test_an_event_naming_nothing_is_applied_without_calling_the_vendor(
    env: SyncEnvironment, jira: JiraHandle, connection_id: int, receiver: WebhookReceiver
) -> None:
    body = json.dumps({"webhookEvent": "comment_created", "timestamp": 1}).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    receiver.receive(
        connection_id, WebhookRequest(body, {"X-Hub-Signature": f"sha256={signature}"})
    )
    before = jira.vendor.request_count
    await make_worker(env).run_once()
    assert jira.vendor.request_count == before
    assert [(r.state, r.notices) for r in inbox_rows(env.sessions)] == [("done", 0)]


async def test_a_failing_vendor_is_retried_with_backoff_until_a_dead_letter(
    env: SyncEnvironment, jira: JiraHandle, connection_id: int, receiver: WebhookReceiver
) -> None:
    issue = jira.work_item_ids()[0]
    receiver.receive(connection_id, signed("jira:issue_updated", issue))
    worker = make_worker(env, max_attempts=3, retry_base_seconds=10)
    waits = []
    for _ in range(3):
        jira.vendor.fail_next(500, count=10, path_contains="/issue/")
        report = await worker.run_once()
        [row] = inbox_rows(env.sessions)
        waits.append((row.state, row.attempts, (row.available_at - env.clock()).total_seconds()))
        env.clock.advance(3600)  # type: ignore[attr-defined]
    assert waits[:2] == [("pending", 1, 10.0), ("pending", 2, 20.0)]
    assert waits[2][:2] == ("dead", 3)
    assert report.dead == 1
    assert "HTTP 500" in (inbox_rows(env.sessions)[0].last_error or "")
    again = await worker.run_once()  # a dead letter waits for a person
    assert (again.applied, again.retried, inbox_rows(env.sessions)[0].state) == (0, 0, "dead")


async def test_rejected_credentials_hand_deliveries_back_and_stop_the_connection(
    env: SyncEnvironment, jira: JiraHandle, connection_id: int, receiver: WebhookReceiver
) -> None:
    receiver.receive(connection_id, signed("jira:issue_updated", jira.work_item_ids()[0]))
    jira.vendor.fail_next(401, count=5)
    report = await make_worker(env).run_once()
    [row] = inbox_rows(env.sessions)
    assert (report.released, row.state, row.attempts) == (1, "pending", 0)
    with env.sessions() as session:
        state = session.get_one(t.Connection, connection_id).state
    assert state == ConnectionState.NEEDS_REAUTH.value
    assert (await make_worker(env).run_once()).connections == []


async def test_a_throttled_vendor_throttles_the_connection_and_delays_the_delivery(
    env: SyncEnvironment, jira: JiraHandle, connection_id: int, receiver: WebhookReceiver
) -> None:
    receiver.receive(connection_id, signed("jira:issue_updated", jira.work_item_ids()[0]))
    jira.vendor.fail_next(429, count=10, retry_after="120")
    await make_worker(env).run_once()
    with env.sessions() as session:
        connection = session.get_one(t.Connection, connection_id)
        assert connection.state == ConnectionState.THROTTLED.value
        until = connection.throttled_until
    [row] = inbox_rows(env.sessions)
    assert row.state == "pending"
    assert until is not None
    assert row.available_at >= until
    assert (await make_worker(env).run_once()).connections == []  # left alone until then


async def test_a_worker_that_lost_its_lease_writes_nothing(
    env: SyncEnvironment, jira: JiraHandle, connection_id: int, receiver: WebhookReceiver
) -> None:
    issue = jira.work_item_ids()[0]
    jira.touch_item(issue, title="Applied by the survivor only")
    receiver.receive(connection_id, signed("jira:issue_updated", issue))
    lease = timedelta(seconds=60)
    with unit_of_work(env.sessions) as session:
        claimed = inbox.claim(
            session, connection_id, owner="slow", now=env.clock(), lease=lease, limit=10
        )
    env.clock.advance(61)  # type: ignore[attr-defined]
    with unit_of_work(env.sessions) as session:
        inbox.claim(session, connection_id, owner="fast", now=env.clock(), lease=lease, limit=10)
    recorded: list[int] = []

    outcome = await apply_deliveries(
        env,
        connection_id,
        claimed,
        owner="slow",
        backoff=Backoff(),
        in_transaction=lambda _session, ids: recorded.extend(ids),
    )

    assert outcome.lease_lost
    assert outcome.applied == []
    assert item_row(env.sessions, connection_id, issue).title != "Applied by the survivor only"
    assert [(r.state, r.lease_owner) for r in inbox_rows(env.sessions)] == [("processing", "fast")]


# -- storing without waiting (the receiver's path on the event loop) --------------------------
def test_a_delivery_is_stored_at_once_when_the_connection_is_known_and_no_one_writes(
    env: SyncEnvironment, connection_id: int, receiver: WebhookReceiver, engine: Engine
) -> None:
    first = signed("jira:issue_updated", "10001")
    assert receiver.receive_now(connection_id, first) is None  # its facts are not loaded yet
    assert inbox_rows(env.sessions) == []
    receiver.receive(connection_id, first)
    if engine.dialect.name != "sqlite":  # a network round trip: always from a thread
        assert receiver.receive_now(connection_id, signed("jira:issue_updated", "2")) is None
        return

    stored = receiver.receive_now(connection_id, signed("jira:issue_updated", "10002"))
    again = receiver.receive_now(connection_id, signed("jira:issue_updated", "10002"))
    assert stored is not None
    assert again is not None
    assert (stored.status, again.status) == (ReceiptStatus.ACCEPTED, ReceiptStatus.DUPLICATE)
    assert len(inbox_rows(env.sessions)) == 2


def test_a_delivery_that_would_wait_for_another_writer_is_left_to_a_thread(
    env: SyncEnvironment, connection_id: int, receiver: WebhookReceiver, engine: Engine
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("on PostgreSQL every delivery is stored from a thread")
    receiver.receive(connection_id, signed("jira:issue_updated", "10001"))
    with engine.begin() as writer:  # a sync page, say, being written
        writer.execute(delete(WebhookDelivery).where(WebhookDelivery.id < 0))
        assert receiver.receive_now(connection_id, signed("jira:issue_updated", "10002")) is None
    assert receiver.receive(connection_id, signed("jira:issue_updated", "10002")).status is (
        ReceiptStatus.ACCEPTED
    )
    assert len(inbox_rows(env.sessions)) == 2


def test_a_forged_delivery_is_rejected_without_waiting_too(
    env: SyncEnvironment, connection_id: int, receiver: WebhookReceiver
) -> None:
    receiver.receive(connection_id, signed("jira:issue_updated", "10001"))
    with pytest.raises(WebhookRejected):
        receiver.receive_now(connection_id, signed("jira:issue_updated", "10002", secret="x"))
    assert receiver.rejected[connection_id] == 1
    assert len(inbox_rows(env.sessions)) == 1
