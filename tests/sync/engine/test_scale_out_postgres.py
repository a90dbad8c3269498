"""Scale-out on PostgreSQL: worker *processes* share the inbox and the schedules.

Two workers against a burst of deliveries and scheduled syncs apply every delivery exactly
once and never sync one connection at the same time; a worker killed (SIGKILL) in the middle
of a batch loses and duplicates nothing once the survivor takes its work over.

"Exactly once" is checked independently of the inbox's own bookkeeping: each worker writes an
audit row for every delivery it applies *inside* the transaction that applies it, so a
double application would leave two rows and a lost one none. Each worker process is its own
Python interpreter with the Jira simulator in-process as its vendor (same seed, same data).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from sandbox.jira import JiraSimulator
from sync.connectors.base import WebhookRequest
from sync.engine.connections import add_connection
from sync.engine.runner import SyncEnvironment
from sync.engine.webhooks import WebhookReceiver
from sync.engine.worker import Worker, WorkerHooks
from sync.model import SyncStatus, Tool
from sync.settings import Settings, WorkerSettings
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.database import make_engine, session_factory, unit_of_work
from sync.store.inbox_tables import WebhookDelivery
from tests.builders import JIRA_CREDENTIALS
from tests.builders_webhooks import SECRET, jira_delivery
from tests.conftest import TEST_SECRET_KEY

ROOT = Path(__file__).resolve().parents[3]
ISSUES = 60
URL = os.environ.get("PMBRIDGE_TEST_DATABASE_URL", "")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not URL.startswith(("postgresql", "postgres")),
        reason="scale-out needs PostgreSQL: set PMBRIDGE_TEST_DATABASE_URL=postgresql://...",
    ),
]

AUDIT = "scale_out_audit"


# -- the worker process ---------------------------------------------------------------------
class _Slow:
    """The vendor, answering each request after ``delay`` seconds."""

    def __init__(self, app: Any, delay: float) -> None:
        self.app, self.delay = app, delay

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(self.delay)
        await self.app(scope, receive, send)


def worker_main(url: str, owner: str, delay: float, settings: str) -> None:
    """Entry point of one worker process: run until SIGTERM (or SIGKILL)."""
    engine = make_engine(url)
    sessions = session_factory(engine)
    simulator = JiraSimulator(issues=ISSUES, projects=3, seed=7)
    app: Any = simulator.app if delay <= 0 else _Slow(simulator.app, delay)
    env = SyncEnvironment(
        sessions=sessions,
        box=SecretBox(TEST_KEY_FROM_ENV()),
        settings=Settings(database_url=url, http_max_attempts=3, http_max_retry_wait=5),
        transport_for=lambda _connection: httpx.ASGITransport(app=app),
    )

    def audit(session: Session, delivery_ids: Sequence[int]) -> None:
        session.execute(
            text(f"INSERT INTO {AUDIT} (delivery_id, owner) VALUES (:delivery, :owner)"),  # noqa: S608
            [{"delivery": d, "owner": owner} for d in delivery_ids],
        )

    worker = Worker(
        env,
        WorkerSettings(**json.loads(settings)),
        owner=owner,
        hooks=WorkerHooks(in_apply_transaction=audit),
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, worker.stop)
        await worker.run()

    asyncio.run(main())
    engine.dispose()


def TEST_KEY_FROM_ENV() -> bytes:
    return os.environ["PMBRIDGE_TEST_SECRET_KEY"].encode()


class WorkerProcess:
    def __init__(self, owner: str, *, delay: float = 0.0, **settings: Any) -> None:
        self.owner = owner
        values = {
            "lease_seconds": 2.0,
            "poll_seconds": 0.05,
            "concurrency": 2,
            "batch_size": 15,
            "retry_base_seconds": 0.2,
            "retry_max_seconds": 1.0,
            "max_attempts": 50,
            "incremental_every_minutes": 0.02,  # every 1.2 s: many scheduled syncs
            "census_every_hours": 0,
            "stop_grace_seconds": 5,
            **settings,
        }
        code = (
            "from tests.sync.engine.test_scale_out_postgres import worker_main; "
            f"worker_main({URL!r}, {owner!r}, {delay!r}, {json.dumps(values)!r})"
        )
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our code
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "PMBRIDGE_TEST_SECRET_KEY": TEST_SECRET_KEY.decode(),
            },
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )

    def terminate(self, timeout: float = 20) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.close()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.close()

    def alive(self) -> bool:
        return self.process.poll() is None

    def errors(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def close(self) -> None:
        self.log.close()


# -- the test's side ------------------------------------------------------------------------
@pytest.fixture
def audited(engine: Engine, db: sessionmaker[Session]) -> Iterator[sessionmaker[Session]]:
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE IF EXISTS {AUDIT}"))
        connection.execute(
            text(f"CREATE TABLE {AUDIT} (delivery_id BIGINT NOT NULL, owner TEXT NOT NULL)")
        )
    yield db
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {AUDIT}"))


def connections(db: sessionmaker[Session], count: int) -> list[int]:
    ids = []
    with unit_of_work(db) as session:
        for n in range(count):
            connection = add_connection(
                session,
                SecretBox(TEST_SECRET_KEY),
                name=f"site-{n}",
                tool=Tool.JIRA,
                base_url="http://127.0.0.1:8101",
                credentials={**JIRA_CREDENTIALS, "webhook_secret": SECRET},
                options={"rate_limit": {"requests": 1000, "per_seconds": 1}},
                now=datetime.now().astimezone(),
            )
            ids.append(connection.id)
    return ids


def burst(db: sessionmaker[Session], connection_ids: list[int], per_connection: int) -> int:
    """Signed deliveries through the real receiver, as fast as it takes them."""
    receiver = WebhookReceiver(
        db, SecretBox(TEST_SECRET_KEY), clock=lambda: datetime.now().astimezone()
    )
    issues = [str(10000 + n) for n in range(ISSUES)]
    sent = 0
    for n in range(per_connection):
        for connection_id in connection_ids:
            delivery = jira_delivery(issues[(n * 7) % len(issues)], stamp=n)
            receiver.receive(connection_id, WebhookRequest(delivery.body, delivery.headers))
            sent += 1
    return sent


def wait_for(check: Callable[[], bool], workers: Sequence[WorkerProcess], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        for worker in workers:
            assert worker.alive(), worker.errors()
        time.sleep(0.1)
    raise AssertionError("the workers did not finish in time")


def states(db: sessionmaker[Session]) -> Counter[str]:
    with db() as session:
        rows = session.execute(
            select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)
        )
        return Counter({str(state): int(count) for state, count in rows})


def applications(db: sessionmaker[Session]) -> tuple[Counter[int], Counter[str]]:
    with db() as session:
        rows = session.execute(text(f"SELECT delivery_id, owner FROM {AUDIT}")).all()  # noqa: S608
    return Counter(r[0] for r in rows), Counter(r[1] for r in rows)


def delivery_ids(db: sessionmaker[Session]) -> set[int]:
    with db() as session:
        return set(session.scalars(select(WebhookDelivery.id)))


def assert_no_connection_synced_twice_at_once(db: sessionmaker[Session]) -> list[t.SyncRun]:
    with db() as session:
        all_runs = list(session.scalars(select(t.SyncRun).order_by(t.SyncRun.started_at)))
    assert all(r.status != SyncStatus.RUNNING.value for r in all_runs)
    by_connection: dict[int, list[t.SyncRun]] = {}
    for run in all_runs:
        by_connection.setdefault(run.connection_id, []).append(run)
    for runs in by_connection.values():
        for earlier, later in itertools.pairwise(runs):
            assert earlier.finished_at is not None
            assert earlier.finished_at <= later.started_at, (earlier.id, later.id)
    return all_runs


def succeeded_everywhere(db: sessionmaker[Session], connection_ids: list[int]) -> bool:
    with db() as session:
        done = set(
            session.scalars(
                select(t.SyncRun.connection_id).where(
                    t.SyncRun.status == SyncStatus.SUCCEEDED.value
                )
            )
        )
    return set(connection_ids) <= done


def test_two_workers_apply_a_burst_exactly_once_and_never_share_a_connection(
    audited: sessionmaker[Session],
) -> None:
    db = audited
    connection_ids = connections(db, 4)
    workers = [WorkerProcess("alpha"), WorkerProcess("beta")]
    try:
        sent = burst(db, connection_ids, per_connection=100)
        wait_for(
            lambda: (
                states(db) == Counter({"done": sent}) and succeeded_everywhere(db, connection_ids)
            ),
            workers,
            seconds=90,
        )
        time.sleep(1.5)  # let scheduled syncs keep running alongside for a while
    finally:
        for worker in workers:
            worker.terminate()

    per_delivery, per_worker = applications(db)
    assert set(per_delivery) == delivery_ids(db)
    assert len(per_delivery) == sent
    assert set(per_delivery.values()) == {1}, "a delivery was applied more than once"
    assert set(per_worker) == {"alpha", "beta"}, per_worker  # both took part
    runs = assert_no_connection_synced_twice_at_once(db)
    assert len(runs) >= len(connection_ids) * 2  # the schedule kept them polling


def test_a_killed_worker_loses_and_duplicates_nothing_after_the_survivor_takes_over(
    audited: sessionmaker[Session],
) -> None:
    db = audited
    connection_ids = connections(db, 2)
    sent = burst(db, connection_ids, per_connection=60)
    doomed = WorkerProcess("doomed", delay=0.05, batch_size=30)
    survivor: WorkerProcess | None = None
    try:

        def mid_batch() -> bool:
            with db() as session:
                held = session.scalar(
                    select(func.count())
                    .select_from(WebhookDelivery)
                    .where(
                        WebhookDelivery.state == "processing",
                        WebhookDelivery.lease_owner == "doomed",
                    )
                )
            applied, _owners = applications(db)
            return bool(held) and len(applied) > 0  # some applied, a batch in flight

        wait_for(mid_batch, [doomed], seconds=60)
        doomed.kill()
        with db() as session:
            in_flight = set(
                session.scalars(
                    select(WebhookDelivery.id).where(WebhookDelivery.state == "processing")
                )
            )
        assert in_flight  # the kill really landed mid-batch

        survivor = WorkerProcess("survivor")
        wait_for(
            lambda: (
                states(db) == Counter({"done": sent}) and succeeded_everywhere(db, connection_ids)
            ),
            [survivor],
            seconds=90,
        )
    finally:
        if doomed.alive():
            doomed.kill()
        if survivor is not None:
            survivor.terminate()

    per_delivery, per_worker = applications(db)
    assert len(per_delivery) == sent
    assert set(per_delivery) == delivery_ids(db)
    assert set(per_delivery.values()) == {1}, "a delivery was applied twice"
    assert per_worker["doomed"] > 0
    assert per_worker["survivor"] > 0
    with db() as session:
        taken_over = session.execute(
            text(f"SELECT delivery_id, owner FROM {AUDIT}")  # noqa: S608
        ).all()
    assert {d for d, owner in taken_over if d in in_flight} == in_flight
    assert {owner for d, owner in taken_over if d in in_flight} == {"survivor"}
    assert_no_connection_synced_twice_at_once(db)
