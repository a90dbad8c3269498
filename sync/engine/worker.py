"""The background worker: drains the webhook inbox and polls each connection on its schedule.

A worker leases a connection before touching it (``sync.store.leases``), so one connection
is worked on by one worker at a time, across any number of processes on PostgreSQL and by the
single worker on SQLite. While it holds a connection it applies the connection's deliveries in
batches and, when one is due, runs the scheduled sync beside them:

- incremental every N minutes, census every M hours (``WorkerSettings`` defaults, or the
  connection's ``sync_every_minutes`` / ``census_every_hours`` options; 0 turns one off);
- after a failed run the next waits twice as long (up to a ceiling); a throttled connection
  is left alone until its ``throttled_until``; paused and needs-reauth ones are not touched;
- webhook registrations that expire (Jira's dynamic webhooks, 30 days) are refreshed once
  fewer than ``webhook_refresh_margin_days`` remain, looked at hourly per connection.

Leases are renewed while work goes on; a worker that dies simply stops renewing, and another
takes the connection over when the lease expires, failing the sync run it left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from insights.goals.history import take_snapshots
from sync.engine.runner import RunSummary, SyncEnvironment, execute_run, prepare_run
from sync.engine.webhooks import (
    Backoff,
    ConnectorPool,
    InTransaction,
    apply_deliveries,
    refresh_webhook_registrations,
)
from sync.errors import Conflict, PmbridgeError
from sync.model import ConnectionState, SyncKind, SyncStatus
from sync.settings import WorkerSettings
from sync.store import inbox, leases
from sync.store.database import unit_of_work
from sync.store.leases import STOPPED_STATES, Schedule, Standing
from sync.store.tables import Connection

logger = logging.getLogger("pmbridge.worker")


def backoff_of(settings: WorkerSettings) -> Backoff:
    return Backoff(
        max_attempts=settings.max_attempts,
        base=timedelta(seconds=settings.retry_base_seconds),
        ceiling=timedelta(seconds=settings.retry_max_seconds),
    )


# -- scheduling: pure ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Intervals:
    """How often a connection is polled; None means never."""

    incremental: timedelta | None
    census: timedelta | None


def intervals_for(options: Mapping[str, Any], settings: WorkerSettings) -> Intervals:
    """The connection's own intervals where it sets valid ones, else the worker's defaults."""
    minutes = _number(options.get("sync_every_minutes"), settings.incremental_every_minutes)
    hours = _number(options.get("census_every_hours"), settings.census_every_hours)
    return Intervals(
        incremental=timedelta(minutes=minutes) if minutes > 0 else None,
        census=timedelta(hours=hours) if hours > 0 else None,
    )


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return default
    try:
        number = float(value)
    except ValueError:
        return default
    return number if number >= 0 else default


def due_kind(now: datetime, schedule: Schedule, intervals: Intervals) -> SyncKind | None:
    """Which scheduled run is due now, if any: an incremental first, the census after it."""
    if intervals.incremental is not None and schedule.next_incremental_at <= now:
        return SyncKind.INCREMENTAL
    if intervals.census is not None and schedule.next_census_at <= now:
        return SyncKind.CENSUS
    return None


def next_run_at(now: datetime, interval: timedelta, failures: int, ceiling: timedelta) -> datetime:
    """After ``failures`` failed runs in a row, wait ``interval * 2**failures`` (capped)."""
    if failures <= 0:
        return now + interval
    wait: timedelta = min(interval * (2 ** min(failures, 16)), max(ceiling, interval))
    return now + wait


#: When polling is off, look again this much later (the options may change).
DISABLED_RECHECK = timedelta(hours=1)
#: When a run cannot start (another run is going), try again this much later.
BLOCKED_RETRY = timedelta(minutes=1)
#: How often a held connection's expiring webhook registrations are looked at (a database
#: read; the vendor is called only for registrations inside the refresh margin). Every active
#: connection is claimed at least this often, as polling turned off is re-checked hourly.
WEBHOOK_CHECK_EVERY = timedelta(hours=1)


# -- the worker ---------------------------------------------------------------------------------
@dataclass(slots=True)
class TickReport:
    """What a pass of the worker did (tests and logs read it)."""

    connections: list[int] = field(default_factory=list)
    applied: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0
    runs: list[RunSummary] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class WorkerHooks:
    #: Extra writes inside the transaction that marks deliveries applied (the scale-out test
    #: records which worker applied what, atomically with the application itself).
    in_apply_transaction: InTransaction | None = None


def worker_id() -> str:
    host = socket.gethostname()[:40]
    return f"{host}:{os.getpid()}:{secrets.token_hex(3)}"


class _Signal:
    """Wakes whoever waits; remembers a wake-up that came while nobody waited."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()
        self.pending = False

    def fire(self) -> None:
        self.pending = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait(self, seconds: float, *others: asyncio.Future[Any]) -> bool:
        """Until fired, one of ``others`` completes, or ``seconds`` pass; True if fired."""
        if self.pending:
            self.pending = False
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait({waiter, *others}, timeout=seconds, return_when="FIRST_COMPLETED")
        finally:
            self._waiters.discard(waiter)
            fired = waiter.done() and not waiter.cancelled()
            if not waiter.done():
                waiter.cancel()
        self.pending = False
        return fired


class Worker:
    """Drains the inbox and runs scheduled syncs; ``run()`` until ``stop()``.

    ``env`` supplies the clock (every "now" written to the database), the HTTP sleep and the
    vendor transports; waits between polls are real time, bounded by ``poll_seconds``.
    ``wake()`` and ``stop()`` may be called from any thread.
    """

    def __init__(
        self,
        env: SyncEnvironment,
        settings: WorkerSettings | None = None,
        *,
        owner: str | None = None,
        hooks: WorkerHooks | None = None,
    ) -> None:
        self.env = env
        self.settings = settings or env.settings.worker
        self.owner = owner or worker_id()
        self.hooks = hooks or WorkerHooks()
        self.lease = timedelta(seconds=self.settings.lease_seconds)
        self.backoff = backoff_of(self.settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Wakes the claiming loop: a delivery for a connection no task holds, or a stop.
        self._signal = _Signal()
        #: Wakes the task holding a connection: a delivery for it arrived.
        self._held: dict[int, _Signal] = {}
        #: Wake-ups sent to the loop and not yet run (see ``wake``).
        self._waking: set[int | None] = set()
        self._stopping = False
        self._stop = threading.Event()
        self._next_snapshot: datetime | None = None
        self._next_purge: datetime | None = None
        #: Per connection: when its webhook registrations are next looked at.
        self._next_webhook_check: dict[int, datetime] = {}
        self.pool = ConnectorPool(ttl=300.0)

    # -- control, from any thread -----------------------------------------------------------
    def wake(self, connection_id: int | None = None) -> None:
        """A delivery arrived for ``connection_id`` (None: look at everything)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if connection_id in self._waking:
            # A wake-up for it is already on its way: under a stream of deliveries, one per
            # loop turn instead of a thread switch into the worker for every delivery.
            return
        self._waking.add(connection_id)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._woken, connection_id)

    def _woken(self, connection_id: int | None) -> None:
        self._waking.discard(connection_id)
        # A connection already held only needs its own task woken: claiming again (two
        # statements) for every delivery of a busy connection was a fifth of the worker's time.
        held = self._held.get(connection_id) if connection_id is not None else None
        if held is not None:
            held.fire()
            return
        self._signal.fire()
        if connection_id is None:
            for signal in self._held.values():
                signal.fire()

    def stop(self) -> None:
        self._stop.set()
        self._stopping = True
        self.wake()

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- running ----------------------------------------------------------------------------
    async def run_once(self) -> TickReport:
        """Claim every connection with work due (up to ``concurrency``) and do that work."""
        self._loop = asyncio.get_running_loop()
        report = TickReport()
        claimed = self._claim(self.settings.concurrency, ())
        try:
            await asyncio.gather(*(self._work_on(c, report) for c in claimed))
        finally:
            await self.pool.aclose()
        return report

    async def run(self) -> None:
        """Until ``stop()``: claim connections as slots free up, work on them, and wait for a
        wake-up or the poll interval in between. On stop, running syncs get a grace period."""
        self._loop = asyncio.get_running_loop()
        if self._stop.is_set():
            self._stopping = True
        active: dict[int, asyncio.Task[None]] = {}
        report = TickReport()
        logger.info("worker %s started", self.owner)
        try:
            while not self._stopping:
                self._purge()
                self._snapshot_goals()
                free = self.settings.concurrency - len(active)
                for connection_id in self._claim(free, tuple(active)):
                    active[connection_id] = asyncio.create_task(
                        self._work_on(connection_id, report), name=f"connection-{connection_id}"
                    )
                if await self._signal.wait(self.settings.poll_seconds, *active.values()):
                    await asyncio.sleep(self.settings.batch_window_seconds)
                for connection_id, task in list(active.items()):
                    if task.done():
                        del active[connection_id]
                        if not task.cancelled() and task.exception() is not None:
                            logger.error(
                                "worker on connection %s crashed",
                                connection_id,
                                exc_info=task.exception(),
                            )
        finally:
            self._stopping = True
            if active:
                _done, late = await asyncio.wait(
                    active.values(), timeout=self.settings.stop_grace_seconds
                )
                for task in late:
                    task.cancel()
                await asyncio.gather(*active.values(), return_exceptions=True)
            await self.pool.aclose()
            logger.info("worker %s stopped", self.owner)

    def _claim(self, limit: int, exclude: tuple[int, ...]) -> list[int]:
        if limit <= 0 or self._stopping:
            return []
        now = self.env.clock()
        census_after = self.settings.census_every_hours or 24.0
        try:
            with unit_of_work(self.env.sessions) as session:
                leases.ensure_schedules(
                    session, now=now, first_census_at=now + timedelta(hours=census_after)
                )
            with unit_of_work(self.env.sessions) as session:
                return leases.claim_connections(
                    session,
                    owner=self.owner,
                    now=now,
                    lease=self.lease,
                    limit=limit,
                    exclude=exclude,
                )
        except Exception:  # a database hiccup: log it, look again on the next poll
            logger.exception("worker %s could not claim connections", self.owner)
            return []

    def _purge(self) -> None:
        now = self.env.clock()
        if self._next_purge is not None and now < self._next_purge:
            return
        self._next_purge = now + timedelta(hours=1)
        before = now - timedelta(days=self.settings.inbox_retention_days)
        try:
            with unit_of_work(self.env.sessions) as session:
                purged = inbox.purge_done(session, before=before)
            if purged:
                logger.info("purged %d applied deliveries received before %s", purged, before)
        except Exception:
            logger.exception("purging the inbox failed")

    def _snapshot_goals(self) -> None:
        """Keep today's snapshot of every active goal current (hourly; idempotent per goal
        and day, so several workers doing it at once write the same rows)."""
        now = self.env.clock()
        if self._next_snapshot is not None and now < self._next_snapshot:
            return
        self._next_snapshot = now + timedelta(hours=1)
        try:
            with unit_of_work(self.env.sessions) as session:
                taken = take_snapshots(session, now=now)
            logger.info("snapshotted %d active goals for %s", taken, now.date())
        except Exception:
            logger.exception("taking goal snapshots failed")

    # -- one connection ---------------------------------------------------------------------
    async def _work_on(self, connection_id: int, report: TickReport) -> None:
        """Everything due for one leased connection, then the lease goes back."""
        report.connections.append(connection_id)
        arrived = self._held[connection_id] = _Signal()
        lost = asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat(connection_id, lost))
        sync_task: asyncio.Task[None] | None = None
        try:
            sync_task = self._start_scheduled(connection_id, report, lost)
            await self._refresh_webhooks(connection_id)
            lingered = False
            while not self._stopping and not lost.is_set():
                claimed = await self._drain_batch(connection_id, report, lost)
                if claimed:
                    lingered = False
                    if claimed < self.settings.batch_size:
                        # Deliveries are still arriving: let the next ones gather for a
                        # moment, so a steady stream is applied in batches (one claim,
                        # one fetch, one commit each) rather than one delivery at a time.
                        await asyncio.sleep(self.settings.batch_window_seconds)
                    continue
                if sync_task is None or sync_task.done():
                    if lingered or self.settings.linger_seconds <= 0:
                        break
                    # Deliveries often come in bursts: stay a moment rather than release
                    # the connection and claim it again for the next one.
                    lingered = True
                    if await arrived.wait(self.settings.linger_seconds):
                        lingered = False
                        await asyncio.sleep(self.settings.batch_window_seconds)
                    continue
                await arrived.wait(self.settings.poll_seconds, sync_task)
            if sync_task is not None:
                await self._finish(sync_task)
        finally:
            # A delivery arriving from here on finds no task and wakes the claiming loop,
            # which also looks again when this task ends.
            del self._held[connection_id]
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            if sync_task is not None and not sync_task.done():
                sync_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sync_task
            if not lost.is_set():
                with contextlib.suppress(Exception), unit_of_work(self.env.sessions) as session:
                    leases.release(session, connection_id, owner=self.owner, now=self.env.clock())

    async def _refresh_webhooks(self, connection_id: int) -> None:
        """Keep the held connection's expiring webhook registrations alive (hourly at most;
        errors are logged and the next look is an hour later)."""
        now = self.env.clock()
        due = self._next_webhook_check.get(connection_id)
        if self._stopping or (due is not None and now < due):
            return
        self._next_webhook_check[connection_id] = now + WEBHOOK_CHECK_EVERY
        margin = timedelta(days=self.settings.webhook_refresh_margin_days)
        try:
            outcome = await refresh_webhook_registrations(
                self.env, connection_id, now=now, margin=margin
            )
        except Exception:
            logger.exception(
                "connection %s: refreshing webhook registrations failed", connection_id
            )
            return
        if outcome.refreshed or outcome.expired:
            logger.info(
                "connection %s: webhook registrations refreshed %s, expired %s",
                connection_id,
                outcome.refreshed,
                outcome.expired,
            )

    async def _finish(self, sync_task: asyncio.Task[None]) -> None:
        if not self._stopping:
            await sync_task
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(sync_task), self.settings.stop_grace_seconds)
        if not sync_task.done():
            sync_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sync_task

    async def _heartbeat(self, connection_id: int, lost: asyncio.Event) -> None:
        every = max(self.settings.lease_seconds / 3, 0.05)
        while True:
            await asyncio.sleep(every)
            with unit_of_work(self.env.sessions) as session:
                held = leases.renew(
                    session,
                    connection_id,
                    owner=self.owner,
                    now=self.env.clock(),
                    lease=self.lease,
                )
            if not held:
                logger.warning("worker %s lost connection %s", self.owner, connection_id)
                lost.set()
                return

    def _may_work(self, connection_id: int) -> bool:
        now = self.env.clock()
        with self.env.sessions() as session:
            connection = session.get(Connection, connection_id)
            if connection is None or connection.state in STOPPED_STATES:
                return False
            throttled = connection.state == ConnectionState.THROTTLED.value and (
                connection.throttled_until is not None and connection.throttled_until > now
            )
            return not throttled

    async def _drain_batch(
        self, connection_id: int, report: TickReport, lost: asyncio.Event
    ) -> int:
        """Claim and apply one batch of the connection's deliveries: how many it claimed, or
        0 when none is due, the connection must not be worked on now, or the batch failed
        (the rest then wait for their backoff, not a busy loop)."""
        now = self.env.clock()
        with unit_of_work(self.env.sessions) as session:
            standing = leases.standing(session, connection_id, owner=self.owner, now=now)
            if standing is not Standing.WORKING:
                if standing is Standing.LOST:
                    lost.set()
                return 0
            claimed = inbox.claim(
                session,
                connection_id,
                owner=self.owner,
                now=now,
                lease=self.lease,
                limit=self.settings.batch_size,
            )
        if not claimed:
            return 0
        outcome = await apply_deliveries(
            self.env,
            connection_id,
            claimed,
            owner=self.owner,
            backoff=self.backoff,
            in_transaction=self.hooks.in_apply_transaction,
            pool=self.pool,
        )
        report.applied += len(outcome.applied)
        report.retried += len(outcome.retried)
        report.dead += len(outcome.dead)
        report.released += len(outcome.released)
        if outcome.lease_lost:
            lost.set()
            return 0
        return 0 if outcome.released or outcome.retried else len(claimed)

    # -- scheduled syncs --------------------------------------------------------------------
    def _start_scheduled(
        self, connection_id: int, report: TickReport, lost: asyncio.Event
    ) -> asyncio.Task[None] | None:
        now = self.env.clock()
        with unit_of_work(self.env.sessions) as session:
            orphan = leases.fail_orphaned_run(session, connection_id, now=now)
            schedule = leases.get_schedule(session, connection_id)
            connection = session.get(Connection, connection_id)
            options = dict(connection.options or {}) if connection is not None else {}
        if orphan is not None:
            logger.warning("connection %s: failed run %s its worker left", connection_id, orphan)
        if schedule is None or self._stopping or not self._may_work(connection_id):
            return None
        intervals = intervals_for(options, self.settings)
        schedule = self._align(connection_id, schedule, intervals, now)
        kind = due_kind(now, schedule, intervals)
        if kind is None:
            return None
        return asyncio.create_task(
            self._scheduled_sync(connection_id, kind, schedule, intervals, report, lost)
        )

    def _align(
        self, connection_id: int, schedule: Schedule, intervals: Intervals, now: datetime
    ) -> Schedule:
        """Bring due times in line with the connection's intervals: a kind of run turned off
        is looked at again later; an interval made shorter takes effect now, not after the
        longer wait already scheduled."""

        def aligned(due: datetime, interval: timedelta | None) -> datetime:
            if interval is None:
                return now + DISABLED_RECHECK if due <= now else due
            return min(due, now + interval)

        incremental = aligned(schedule.next_incremental_at, intervals.incremental)
        census = aligned(schedule.next_census_at, intervals.census)
        if (incremental, census) == (schedule.next_incremental_at, schedule.next_census_at):
            return schedule
        with unit_of_work(self.env.sessions) as session:
            leases.postpone(
                session,
                connection_id,
                owner=self.owner,
                now=now,
                next_incremental_at=incremental,
                next_census_at=census,
            )
        return dataclasses.replace(schedule, next_incremental_at=incremental, next_census_at=census)

    async def _scheduled_sync(
        self,
        connection_id: int,
        kind: SyncKind,
        schedule: Schedule,
        intervals: Intervals,
        report: TickReport,
        lost: asyncio.Event,
    ) -> None:
        now = self.env.clock()
        interval = intervals.incremental if kind is SyncKind.INCREMENTAL else intervals.census
        assert interval is not None
        try:
            run_id = prepare_run(self.env, connection_id, kind)
        except (Conflict, PmbridgeError) as error:
            logger.info("connection %s: %s run not started: %s", connection_id, kind, error)
            self._reschedule(connection_id, kind, now + BLOCKED_RETRY, schedule.failures, False)
            return
        with unit_of_work(self.env.sessions) as session:
            leases.record_run_started(
                session, connection_id, owner=self.owner, run_id=run_id, now=now
            )
        try:
            summary = await execute_run(self.env, run_id)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception), unit_of_work(self.env.sessions) as session:
                leases.fail_orphaned_run(session, connection_id, now=self.env.clock())
            raise
        report.runs.append(summary)
        failures = 0 if summary.status is SyncStatus.SUCCEEDED else schedule.failures + 1
        ceiling = timedelta(minutes=self.settings.failure_backoff_max_minutes)
        finished = self.env.clock()
        self._reschedule(
            connection_id, kind, next_run_at(finished, interval, failures, ceiling), failures, True
        )

    def _reschedule(
        self, connection_id: int, kind: SyncKind, at: datetime, failures: int, ran: bool
    ) -> None:
        incremental = kind is SyncKind.INCREMENTAL
        try:
            with unit_of_work(self.env.sessions) as session:
                leases.record_run_finished(
                    session,
                    connection_id,
                    owner=self.owner,
                    now=self.env.clock(),
                    next_incremental_at=at if incremental else None,
                    next_census_at=None if incremental else at,
                    ran_incremental=ran and incremental,
                    ran_census=ran and not incremental,
                    failures=failures,
                )
        except leases.LeaseLost:
            logger.warning("connection %s: lease lost before rescheduling", connection_id)


class WorkerThread:
    """A worker on its own event loop in a daemon thread: ``pmbridge serve`` runs one beside
    the API, so the API's loop never waits on a page commit."""

    def __init__(self, worker: Worker, *, niceness: int = 10) -> None:
        self.worker = worker
        self.niceness = niceness
        self._thread = threading.Thread(target=self._main, name="pmbridge-worker", daemon=True)

    def _main(self) -> None:
        # Answering a vendor comes first: the inbox is durable, so applying can wait. On Linux
        # a thread has its own priority; a lower one leaves the CPU (and so the interpreter
        # lock) to the API's threads when both want it.
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.niceness)
        asyncio.run(self.worker.run())

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self.worker.stop()
        wait = timeout if timeout is not None else self.worker.settings.stop_grace_seconds + 5
        self._thread.join(wait)
