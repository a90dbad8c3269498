"""``pmbridge demo``: a simulated Jira on loopback, synced into SQLite, served on :8000."""

from __future__ import annotations

import asyncio
import random
import secrets
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console
from sqlalchemy import select

from api.app import create_app
from api.services import Services
from pmbridge.progress import SyncProgress
from sandbox.deliveries import DeliverySender
from sandbox.registry import JiraHandle
from sync.engine.connections import add_connection
from sync.engine.runner import RunSummary, run_sync
from sync.engine.worker import Worker, WorkerThread
from sync.model import SyncKind, Tool
from sync.settings import Settings
from sync.store import keys
from sync.store.connections import connection_config
from sync.store.database import unit_of_work
from sync.store.migrate import upgrade
from sync.store.tables import Connection

DEMO_CONNECTION = "demo-jira"


def _demo_goal(services: Services) -> int:
    """A SMART goal over the simulated CRM rollout, so the goal views have something to show
    (made once per demo database)."""
    from insights.goals.definitions import SelectorDraft, create_goal
    from insights.goals.history import take_snapshots
    from sync.store.goal_tables import Goal
    from sync.store.tables import Project

    now = services.clock()
    with unit_of_work(services.sessions) as session:
        existing = session.scalar(select(Goal.id).order_by(Goal.id).limit(1))
        if existing is not None:
            return existing
        crm = session.scalar(select(Project.id).where(Project.key == "CRM"))
        goal = create_goal(
            session,
            {
                "title": "Finish the CRM rollout by year end",
                "description": "Every CRM Rollout item done, so the sales teams work in one CRM.",
                "owner": "sales-ops lead",
                "metric": "items_done",
                "status": "active",
                "start_date": (now - timedelta(days=60)).date(),
                "due_date": date(now.year, 12, 31),
                "relevance": "The FY plan's single-CRM objective.",
            },
            [SelectorDraft(project_id=crm)],
            now=now,
        )
        take_snapshots(session, now=now)
        return goal.id


class LiveChanges:
    """A thread that keeps changing issues in the simulator and posting the signed webhook
    deliveries Jira would send, so the demo shows changes arriving live."""

    def __init__(self, services: Services, handle: JiraHandle, *, receiver: str) -> None:
        self.services = services
        self.handle = handle
        self.receiver = receiver
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="live-changes")
        self._rng = random.Random(7)  # noqa: S311 - picks which demo issue changes next

    def start(self) -> bool:
        with self.services.sessions() as session:
            connection = session.scalar(
                select(Connection).where(Connection.name == DEMO_CONNECTION)
            )
            if connection is None:
                return False
            secret = connection_config(connection, self.services.box).credentials.get(
                "webhook_secret"
            )
            self.url = f"{self.receiver}{connection.id}"
        if not secret:
            return False  # a demo database from before webhooks: no secret to sign with
        self.secret = secret
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        asyncio.run(self._feed())

    async def _feed(self) -> None:
        async with DeliverySender(self.handle, url=self.url, secret=self.secret) as sender:
            while not self._stop.wait(4.0):
                issue = self._rng.choice(self.handle.work_item_ids())
                stamp = datetime.now(UTC).strftime("%H:%M:%S")
                title = f"{self.handle.vendor.issues[int(issue)].summary.split(' (')[0]} "
                try:
                    await sender.change(issue, title=f"{title}(changed in Jira at {stamp})")
                except httpx.TransportError:
                    continue  # the API is still starting


class BackgroundServer:
    """uvicorn in a daemon thread, for the simulator the demo syncs from."""

    def __init__(self, app: object, port: int) -> None:
        config = uvicorn.Config(
            app,  # type: ignore[arg-type]
            host="127.0.0.1",
            port=port,
            log_level="warning",
            interface="asgi3",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="simulator")

    def start(self, timeout: float = 10.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the simulator did not start; is its port free?")
            time.sleep(0.05)


def run_demo(
    console: Console,
    *,
    port: int,
    sandbox_port: int,
    issues: int,
    database: Path = Path("pmbridge-demo.db"),
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{database}", secret_key_file=Path("pmbridge-demo.key")
    )
    services = Services.build(settings)
    upgrade(services.engine)

    handle = JiraHandle(items=issues)
    simulator = handle.vendor
    BackgroundServer(simulator.app, sandbox_port).start()
    base_url = f"http://127.0.0.1:{sandbox_port}"
    console.print(f"Jira simulator with {issues} issues on {base_url}")

    with unit_of_work(services.sessions) as session:
        if session.scalar(select(Connection.id).where(Connection.name == DEMO_CONNECTION)) is None:
            add_connection(
                session,
                services.box,
                name=DEMO_CONNECTION,
                tool=Tool.JIRA,
                base_url=base_url,
                credentials={
                    "email": "demo@example.com",
                    "api_token": "demo-token",
                    "webhook_secret": secrets.token_urlsafe(24),
                },
                now=services.clock(),
            )
    with SyncProgress(console) as progress:
        services.sync.on_progress = progress.update
        summary: RunSummary = asyncio.run(run_sync(services.sync, DEMO_CONNECTION, SyncKind.FULL))
    services.sync.on_progress = None
    from pmbridge.cli import print_summary

    print_summary(summary)

    goal_id = _demo_goal(services)

    with unit_of_work(services.sessions) as session:
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        _row, read_key = keys.create_key(
            session, name=f"demo-read-{stamp}", scopes=["read"], now=services.clock()
        )
        _row, admin_key = keys.create_key(
            session, name=f"demo-admin-{stamp}", scopes=["admin"], now=services.clock()
        )
    api = f"http://127.0.0.1:{port}"
    console.print(
        f"""
[bold]pmbridge is serving {database} on {api}[/bold]

  read key:  {read_key}
  admin key: {admin_key}

  curl -H 'Authorization: Bearer {read_key}' '{api}/v1/progress?group_by=project'
  curl -H 'Authorization: Bearer {read_key}' '{api}/v1/items?status_category=in_progress&limit=5'
  curl -H 'Authorization: Bearer {read_key}' '{api}/v1/milestones?format=csv'
  curl -X POST -H 'Authorization: Bearer {admin_key}' '{api}/admin/connections/1/sync?kind=census'
  curl -H 'Authorization: Bearer {read_key}' '{api}/v1/goals/{goal_id}/rollup'
  curl -H 'Authorization: Bearer {read_key}' '{api}/v1/goals/{goal_id}/smart'
  curl -H 'Authorization: Bearer {read_key}' '{api}/v1/risks/signals?unmanaged=true'
  open {api}/docs for the OpenAPI explorer.  Ctrl-C stops the demo.
""",
        soft_wrap=True,
    )
    api_app = create_app(services)
    worker = Worker(services.sync, services.settings.worker)
    api_app.state.on_delivery = worker.wake
    worker_thread = WorkerThread(worker)
    worker_thread.start()
    feed = LiveChanges(services, handle, receiver=f"{api}/webhooks/")
    if feed.start():
        console.print(
            "Every few seconds the simulated Jira renames an issue and sends a signed webhook;"
            " the worker applies it. Watch the deliveries and the renamed issues:\n"
            f"  curl -H 'Authorization: Bearer {admin_key}' '{api}/admin/inbox?limit=5'\n"
            f"  curl -H 'Authorization: Bearer {read_key}' '{api}/v1/items?format=csv&limit=1000'"
            " | grep 'changed in Jira'",
            soft_wrap=True,
        )
    try:
        uvicorn.run(api_app, host="127.0.0.1", port=port, log_level="warning")
    finally:
        feed.stop()
        worker_thread.stop()
