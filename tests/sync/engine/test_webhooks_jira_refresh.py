"""Jira dynamic webhooks in the engine: registered with the vendor's expiry, refreshed by the
worker once inside the margin (and not before, without a request to Jira), expired when they
lapse or Jira no longer knows them, against the Jira simulator in-process."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from sandbox.jira import JiraSimulator
from sync.engine.connections import add_connection
from sync.engine.runner import SyncEnvironment
from sync.engine.webhooks import refresh_webhook_registrations, register_webhooks
from sync.engine.worker import Worker
from sync.errors import CredentialsRejected
from sync.model import ConnectionState, Tool
from sync.store import inbox
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from sync.store.inbox_tables import WebhookRegistration
from tests.builders import make_environment, make_jira_simulator
from tests.builders_webhooks import BASE_URL, quiet_settings
from tests.fakes import FakeClock, FakeSleep

CLIENT_SECRET = "oauth-app-client-secret-for-the-simulator"
CALLBACK = "https://pmbridge.example.com/webhooks/1"
DAY = timedelta(days=1)


@pytest.fixture
def jira() -> JiraSimulator:
    return make_jira_simulator(issues=20, client_secret=CLIENT_SECRET)


@pytest.fixture
def env(
    db: sessionmaker[Session],
    box: SecretBox,
    clock: FakeClock,
    sleep: FakeSleep,
    jira: JiraSimulator,
) -> SyncEnvironment:
    return make_environment(sessions=db, box=box, clock=clock, sleep=sleep, app=jira.app)


def add_jira(env: SyncEnvironment, credentials: dict[str, str]) -> int:
    with unit_of_work(env.sessions) as session:
        return add_connection(
            session,
            env.box,
            name="jira",
            tool=Tool.JIRA,
            base_url=BASE_URL,
            credentials=credentials,
            scope=("CRM",),
            options={},
            now=env.clock(),
        ).id


async def registered(env: SyncEnvironment) -> tuple[int, int]:
    connection_id = add_jira(env, {"access_token": "demo-token", "client_secret": CLIENT_SECRET})
    result = await register_webhooks(env, connection_id, callback_url=CALLBACK)
    [registration_id] = result.registration_ids
    return connection_id, registration_id


def registration(env: SyncEnvironment, registration_id: int) -> WebhookRegistration:
    with env.sessions() as session:
        return session.get_one(WebhookRegistration, registration_id)


def later(clock: FakeClock, jira: JiraSimulator, delta: timedelta) -> None:
    clock.advance(delta.total_seconds())
    jira.set_clock(clock())


async def test_the_expiry_recorded_is_the_vendors(
    env: SyncEnvironment, clock: FakeClock, jira: JiraSimulator
) -> None:
    jira.set_clock(clock() + timedelta(minutes=2))  # Jira's clock runs a little ahead
    _connection_id, registration_id = await registered(env)
    row = registration(env, registration_id)
    assert (row.mode, row.state, row.vendor_webhook_id, row.callback_url) == (
        "api",
        "active",
        "10000",
        CALLBACK,
    )
    assert row.target == 'project IN ("CRM")'
    assert row.expires_at == jira.clock() + timedelta(days=30)


async def test_the_worker_refreshes_inside_the_margin_and_does_not_call_jira_before(
    env: SyncEnvironment, clock: FakeClock, jira: JiraSimulator
) -> None:
    _connection_id, registration_id = await registered(env)
    first_expiry = registration(env, registration_id).expires_at
    assert first_expiry is not None
    worker = Worker(env, quiet_settings(), owner="w")

    later(clock, jira, 20 * DAY)  # ten days left: outside the seven-day margin
    before = jira.request_count
    report = await worker.run_once()
    assert report.connections  # it held the connection and looked
    assert jira.request_count == before
    assert registration(env, registration_id).expires_at == first_expiry

    later(clock, jira, 5 * DAY)  # five days left
    await worker.run_once()
    row = registration(env, registration_id)
    assert (row.state, row.expires_at) == ("active", clock() + timedelta(days=30))
    assert jira.webhooks[10000].expires_ms == int((clock() + timedelta(days=30)).timestamp() * 1000)


async def test_the_worker_looks_at_most_hourly_per_connection(
    env: SyncEnvironment, clock: FakeClock, jira: JiraSimulator
) -> None:
    _connection_id, registration_id = await registered(env)
    first_expiry = registration(env, registration_id).expires_at
    worker = Worker(env, quiet_settings(incremental_every_minutes=1), owner="w")

    later(clock, jira, 23 * DAY - timedelta(minutes=30))  # 7 days and 30 minutes left
    await worker.run_once()  # looked: not due yet
    later(clock, jira, timedelta(minutes=40))  # inside the margin now...
    report = await worker.run_once()
    assert report.runs  # ...and the connection was held again (a poll was due)...
    assert registration(env, registration_id).expires_at == first_expiry  # ...not looked at

    later(clock, jira, timedelta(minutes=30))  # an hour after the last look
    await worker.run_once()
    assert registration(env, registration_id).expires_at == clock() + timedelta(days=30)


async def test_a_registration_past_its_expiry_is_expired_without_asking_jira(
    env: SyncEnvironment, clock: FakeClock, jira: JiraSimulator
) -> None:
    connection_id, registration_id = await registered(env)
    later(clock, jira, 31 * DAY)
    before = jira.request_count

    outcome = await refresh_webhook_registrations(env, connection_id, now=clock())

    assert (outcome.refreshed, outcome.expired) == ([], [registration_id])
    assert jira.request_count == before
    row = registration(env, registration_id)
    assert row.state == "expired"
    assert (row.state_reason or "").startswith("expired at 2026-12-20T09:00:00+00:00")


async def test_a_404_on_refresh_expires_the_registrations_asked_for(
    env: SyncEnvironment, clock: FakeClock, jira: JiraSimulator
) -> None:
    connection_id, registration_id = await registered(env)
    jira.fail_next(404, path_contains="/webhook/refresh")

    outcome = await refresh_webhook_registrations(env, connection_id, now=clock(), margin=None)

    assert outcome.expired == [registration_id]
    row = registration(env, registration_id)
    assert row.state == "expired"
    assert "HTTP 404" in (row.state_reason or "")


async def test_rejected_credentials_on_refresh_mark_the_connection_and_raise(
    env: SyncEnvironment, clock: FakeClock, jira: JiraSimulator
) -> None:
    connection_id, registration_id = await registered(env)
    jira.fail_next(401, path_contains="/webhook/refresh")

    with pytest.raises(CredentialsRejected):
        await refresh_webhook_registrations(env, connection_id, now=clock(), margin=None)

    assert registration(env, registration_id).state == "active"
    with env.sessions() as session:
        connection = session.get_one(t.Connection, connection_id)
        assert connection.state == ConnectionState.NEEDS_REAUTH.value


async def test_basic_auth_jira_and_other_tools_have_nothing_to_refresh(
    env: SyncEnvironment, clock: FakeClock, jira: JiraSimulator
) -> None:
    connection_id = add_jira(env, {"email": "demo@example.com", "api_token": "demo-token"})
    result = await register_webhooks(env, connection_id, callback_url=CALLBACK)
    assert result.instructions is not None  # admin webhooks, pasted by hand as before
    before = jira.request_count

    outcome = await refresh_webhook_registrations(env, connection_id, now=clock(), margin=None)

    assert (outcome.refreshed, outcome.expired, jira.request_count) == ([], [], before)
    with env.sessions() as session:
        [row] = inbox.list_registrations(session, connection_id)
    assert (row.mode, row.state, row.expires_at) == ("manual", "active", None)
