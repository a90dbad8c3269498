"""The sync loop. One function per kind of run, all sharing one page-commit path.

The engine is the only place that knows connectors, mapping and the store at once. It is
also the broad error boundary of a connection: whatever goes wrong is classified, recorded on
the sync run and the connection's state, and never escapes as a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import Any, cast

import httpx
from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from sync.connectors import CONNECTORS
from sync.connectors.base import (
    ConnectionConfig,
    Connector,
    Page,
    ReportsCount,
    vendor_id_of,
)
from sync.errors import (
    AccessLost,
    Conflict,
    CredentialsRejected,
    InvalidRequest,
    MappingProblem,
    PmbridgeError,
    RateLimited,
)
from sync.http.client import VendorClient
from sync.http.rate_limit import RateLimit, RateLimiter, Sleep
from sync.http.retry import RetryPolicy
from sync.mapping.registry import MAPPINGS, ToolMapping
from sync.mapping.vocabulary import Vocabulary
from sync.model import ConnectionState, Resource, SyncKind, SyncStatus, Tool
from sync.settings import Settings
from sync.store import connections as connection_store
from sync.store import records, runs
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work

logger = logging.getLogger("pmbridge.engine")

#: Order matters: items point at projects and milestones, which must exist first.
RESOURCE_ORDER = (Resource.PROJECTS, Resource.MILESTONES, Resource.WORK_ITEMS)

#: Event-loop turns granted to the next page's request before a page is written.
READ_AHEAD_TURNS = 50

#: A run still marked running after this long belongs to a process that died.
STALE_RUN_AFTER = timedelta(hours=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Progress:
    """What a progress bar shows: the resource being read and its counts so far."""

    resource: Resource
    pages: int
    fetched: int
    written: int


@dataclass
class SyncEnvironment:
    """Everything a run needs from outside, injected so tests and the demo control it."""

    sessions: sessionmaker[Session]
    box: SecretBox
    settings: Settings
    clock: Callable[[], datetime] = utc_now
    sleep: Sleep = asyncio.sleep
    #: The limiter's clock; must advance when ``sleep`` is awaited (tests fake both together).
    monotonic: Callable[[], float] = time.monotonic
    #: Per-connection transport override: simulators in-process, respx in tests.
    transport_for: Callable[[t.Connection], httpx.AsyncBaseTransport | None] = field(
        default=lambda _connection: None
    )
    on_progress: Callable[[Progress], None] | None = None


@dataclass(slots=True)
class RunTotals:
    pages: int = 0
    fetched: int = 0
    upserted: int = 0
    unchanged: int = 0
    deleted: int = 0
    access_lost: int = 0
    #: Work items the vendor itself reports in scope, where it gives a count.
    vendor_count: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: int
    connection_id: int
    kind: SyncKind
    status: SyncStatus
    pages: int
    requests: int
    fetched: int
    upserted: int
    unchanged: int
    deleted: int
    access_lost: int
    errors: list[dict[str, Any]]


def prepare_run(env: SyncEnvironment, connection_ref: int | str, kind: SyncKind) -> int:
    """Record a run as started (visible to the admin API at once) and return its id."""
    now = env.clock()
    with unit_of_work(env.sessions) as session:
        connection = connection_store.get_connection(session, connection_ref)
        if connection.state == ConnectionState.PAUSED.value:
            raise Conflict(
                f"connection {connection.name!r} is paused; resume it before syncing",
                connection=connection.name,
            )
        running = session.scalar(
            select(t.SyncRun.id).where(
                t.SyncRun.connection_id == connection.id,
                t.SyncRun.status == SyncStatus.RUNNING.value,
                t.SyncRun.started_at > now - STALE_RUN_AFTER,
            )
        )
        if running is not None:
            raise Conflict(
                f"connection {connection.name!r} is already syncing (run {running})",
                connection=connection.name,
                run_id=running,
            )
        return runs.start_run(session, connection.id, kind, now=now).id


async def run_sync(env: SyncEnvironment, connection_ref: int | str, kind: SyncKind) -> RunSummary:
    return await execute_run(env, prepare_run(env, connection_ref, kind))


async def execute_run(env: SyncEnvironment, run_id: int) -> RunSummary:
    with unit_of_work(env.sessions) as session:
        run = _get_run(session, run_id)
        connection = session.get_one(t.Connection, run.connection_id)
        config = connection_store.connection_config(connection, env.box)
        tool = Tool(connection.tool)
        kind = SyncKind(run.kind)
        transport = env.transport_for(connection)
        connection_id, options = connection.id, dict(connection.options or {})
    connector_class = CONNECTORS[tool]
    totals = RunTotals()
    client = open_client(env, connector_class, config, options, transport)
    status = SyncStatus.SUCCEEDED
    failure: PmbridgeError | None = None
    try:
        async with client:
            connector = connector_class(client, config)
            try:
                facts = await connector.discover()
            except AccessLost as error:
                # Refused on the account's own identity call: the credentials lack access
                # altogether, which a person must fix, not a project that disappeared.
                raise CredentialsRejected(
                    f"{tool.value} refused this account's own details: {error.message}",
                    tool=error.tool,
                    endpoint=error.endpoint,
                ) from error
            vocabulary = Vocabulary.build(tool, discovered=facts, overrides=options)
            scope = records.Scope(
                connection_id,
                tool.value,
                env.clock(),
                run_id,
                fingerprint=mapping_fingerprint(vocabulary),
            )
            if kind is SyncKind.CENSUS:
                await _census(env, connector, scope, totals)
                totals.vendor_count = _reported_count(connector)
            else:
                for resource in RESOURCE_ORDER:
                    if resource in connector.resources:
                        await _pull(
                            env,
                            connector,
                            MAPPINGS[tool],
                            vocabulary,
                            scope,
                            resource,
                            kind,
                            totals,
                            client,
                        )
                if kind is SyncKind.FULL:
                    totals.vendor_count = _reported_count(connector)
    except PmbridgeError as error:
        status, failure = SyncStatus.FAILED, error
        totals.errors.append(error.to_dict())
        logger.warning("sync run %s of connection %s failed: %s", run_id, connection_id, error)
    except Exception as error:  # the connection's error boundary: record, never crash the worker
        status = SyncStatus.FAILED
        failure = PmbridgeError(f"unexpected {type(error).__name__}: {error}")
        totals.errors.append(failure.to_dict())
        logger.exception("sync run %s of connection %s crashed", run_id, connection_id)
    return _finish(env, run_id, connection_id, kind, status, failure, totals, client.requests)


def open_client(
    env: SyncEnvironment,
    connector_class: type[Connector],
    config: ConnectionConfig,
    options: dict[str, Any],
    transport: httpx.AsyncBaseTransport | None,
) -> VendorClient:
    """The one way the engine builds a vendor client (sync runs and webhook refreshes alike):
    the connector's declared facts, the connection's budget, the environment's clock."""
    budget = rate_budget(connector_class.rate_limit, options)
    return VendorClient(
        tool=connector_class.tool.value,
        base_url=config.base_url,
        rate_limit=budget,
        limiter=RateLimiter(budget, clock=env.monotonic, sleep=env.sleep),
        auth=connector_class.auth(config),
        transport=transport,
        retry=RetryPolicy(
            max_attempts=env.settings.http_max_attempts,
            max_total_wait=env.settings.http_max_retry_wait,
            sleep=env.sleep,
        ),
        retry_after_headers=connector_class.retry_after_headers,
        throttle_wait=getattr(connector_class, "throttle_wait", None),
        timeout=httpx.Timeout(
            env.settings.http_read_timeout, connect=env.settings.http_connect_timeout
        ),
        clock=env.clock,
    )


@functools.cache
def _code_version() -> str:
    # Reading the installed metadata takes half a millisecond; webhook batches ask often.
    return version("pmbridge")


def mapping_fingerprint(vocabulary: Vocabulary) -> str:
    """Names the mapping in force: the vocabulary and the code that applies it."""
    text = f"{_code_version()}|{vocabulary!r}"
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def rate_budget(declared: RateLimit, options: dict[str, Any]) -> RateLimit:
    """The connector's declared budget, or the connection's own (an account on a higher plan,
    a shared token that must leave room for other clients)."""
    custom = options.get("rate_limit")
    if not isinstance(custom, dict):
        return declared
    try:
        return RateLimit(
            requests=int(custom["requests"]),
            per_seconds=float(custom["per_seconds"]),
            max_in_flight=declared.max_in_flight,
            source="connection option rate_limit",
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidRequest(
            'option rate_limit must be {"requests": N, "per_seconds": S} with N >= 1, S > 0',
            field="options.rate_limit",
        ) from error


def _reported_count(connector: Connector) -> int | None:
    """The vendor's own count of work items in scope, for reconciliation with ours."""
    return connector.reported_count() if isinstance(connector, ReportsCount) else None


def _get_run(session: Session, run_id: int) -> t.SyncRun:
    run = session.get(t.SyncRun, run_id)
    if run is None:
        raise InvalidRequest(f"no sync run {run_id}", run_id=run_id)
    return run


async def _pull(
    env: SyncEnvironment,
    connector: Connector,
    mapping: ToolMapping,
    vocabulary: Vocabulary,
    scope: records.Scope,
    resource: Resource,
    kind: SyncKind,
    totals: RunTotals,
    client: VendorClient,
) -> None:
    cursor = None
    if kind is SyncKind.INCREMENTAL:
        with env.sessions() as session:
            cursor = runs.load_cursor(session, scope.connection_id, resource)
    pages = fetched = written = 0

    def commit(page: Page) -> records.WriteCounts:
        """Map one page and commit its rows, tombstones, cursor and run totals together."""
        mapped = _map_page(mapping, vocabulary, resource, page, totals)
        now = env.clock()
        page_scope = dataclasses.replace(scope, now=now)
        with unit_of_work(env.sessions) as session:
            counts = _write(session, page_scope, resource, mapped)
            deleted = 0
            for vendor_id in page.deleted_ids:
                if resource is Resource.WORK_ITEMS:
                    deleted += records.tombstone(session, page_scope, vendor_id)
                elif resource is Resource.MILESTONES:
                    records.tombstone_milestone(session, page_scope, vendor_id)
            if page.cursor is not None:
                runs.save_cursor(session, scope.connection_id, resource, page.cursor, now=now)
            after = dataclasses.replace(
                totals,
                pages=totals.pages + 1,
                fetched=totals.fetched + len(page.items),
                upserted=totals.upserted + counts.upserted,
                unchanged=totals.unchanged + counts.unchanged,
                deleted=totals.deleted + deleted,
            )
            _save_totals(session, scope.sync_run_id, after, client.requests)
        totals.pages, totals.fetched = after.pages, after.fetched
        totals.upserted, totals.unchanged, totals.deleted = (
            after.upserted,
            after.unchanged,
            after.deleted,
        )
        return counts

    async for page in _read_ahead(connector.fetch(resource, cursor)):
        counts = commit(page)
        pages, fetched, written = pages + 1, fetched + len(page.items), written + counts.upserted
        if env.on_progress is not None:
            env.on_progress(Progress(resource, pages, fetched, written))


async def _read_ahead(pages: AsyncIterator[Page]) -> AsyncIterator[Page]:
    """Yield pages while the next one is already being fetched (one page ahead at most)."""
    iterator = aiter(pages)
    pending: asyncio.Future[Page | None] = asyncio.ensure_future(anext(iterator, None))
    try:
        while (page := await pending) is not None:
            pending = asyncio.ensure_future(anext(iterator, None))
            # Let the next request reach the wire before the caller's (blocking) write, so the
            # vendor prepares page n+1 while we commit page n. httpx/httpcore pass through a
            # dozen or so cooperative checkpoints before the bytes are written; a bounded
            # number of loop turns (microseconds each) covers them. Measured in
            # bench/sync_jira.py: about a fifth off a full sync.
            for _ in range(READ_AHEAD_TURNS):
                if pending.done():
                    break
                await asyncio.sleep(0)
            yield page
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            await closer()


def _map_page(
    mapping: ToolMapping,
    vocabulary: Vocabulary,
    resource: Resource,
    page: Page,
    totals: RunTotals,
) -> list[tuple[Any, dict[str, Any]]]:
    function: Callable[[Any, Vocabulary], Any] = {
        Resource.PROJECTS: mapping.project,
        Resource.MILESTONES: mapping.milestone,
        Resource.WORK_ITEMS: mapping.work_item,
    }[resource]
    mapped: list[tuple[Any, dict[str, Any]]] = []
    for payload, raw in zip(page.items, page.raw, strict=True):
        try:
            mapped.append((function(payload, vocabulary), raw))
        except Exception as error:  # mapping bugs skip one record, never the page
            problem = MappingProblem(
                f"could not map {resource} {vendor_id_of(raw)!r}: {type(error).__name__}: {error}",
                resource=resource.value,
                vendor_id=vendor_id_of(raw),
            )
            totals.errors.append(problem.to_dict())
    return mapped


def _write(
    session: Session,
    scope: records.Scope,
    resource: Resource,
    mapped: list[tuple[Any, dict[str, Any]]],
) -> records.WriteCounts:
    if resource is Resource.PROJECTS:
        return records.upsert_projects(session, scope, mapped)
    if resource is Resource.MILESTONES:
        return records.upsert_milestones(session, scope, mapped)
    return records.upsert_work_items(session, scope, mapped)


async def _census(
    env: SyncEnvironment, connector: Connector, scope: records.Scope, totals: RunTotals
) -> None:
    assert scope.sync_run_id is not None
    complete: list[str] = []
    lost: set[str] = set()
    async for census_page in connector.census(Resource.WORK_ITEMS):
        with unit_of_work(env.sessions) as session:
            if census_page.access_lost:
                lost.update(_projects_matching(session, scope.connection_id, census_page))
            else:
                records.remember_seen(session, scope.sync_run_id, census_page.ids)
                if census_page.project_vendor_id and census_page.project_vendor_id not in complete:
                    complete.append(census_page.project_vendor_id)
            totals.pages += 1
            totals.fetched += len(census_page.ids)
    with unit_of_work(env.sessions) as session:
        # A stored project the census never reached is one we cannot see any more.
        live = session.scalars(
            select(t.Project.vendor_id).where(
                t.Project.connection_id == scope.connection_id, t.Project.deleted_at.is_(None)
            )
        )
        lost.update(v for v in live if v not in complete)
        deleted, access_lost = records.apply_census(
            session,
            dataclasses.replace(scope, now=env.clock()),
            sync_run_id=scope.sync_run_id,
            complete_project_vendor_ids=complete,
            lost_project_vendor_ids=sorted(lost),
        )
        totals.deleted += deleted
        totals.access_lost += access_lost


def _projects_matching(session: Session, connection_id: int, page: Any) -> list[str]:
    wanted = page.project_vendor_id or page.scope_key
    if wanted is None:
        return []
    return list(
        session.scalars(
            select(t.Project.vendor_id).where(
                t.Project.connection_id == connection_id,
                (t.Project.vendor_id == wanted) | (func.lower(t.Project.key) == wanted.lower()),
            )
        )
    )


def _save_totals(session: Session, run_id: int | None, totals: RunTotals, requests: int) -> None:
    """Once per page: one Core UPDATE, no ORM object to load and flush."""
    if run_id is None:
        return
    table = cast(Table, t.SyncRun.__table__)
    session.connection().execute(
        update(table)
        .where(table.c.id == run_id)
        .values(
            pages=totals.pages,
            fetched=totals.fetched,
            upserted=totals.upserted,
            unchanged=totals.unchanged,
            deleted=totals.deleted,
            access_lost=totals.access_lost,
            requests=requests,
            errors=list(totals.errors),
        )
    )


def _finish(
    env: SyncEnvironment,
    run_id: int,
    connection_id: int,
    kind: SyncKind,
    status: SyncStatus,
    failure: PmbridgeError | None,
    totals: RunTotals,
    requests: int,
) -> RunSummary:
    now = env.clock()
    with unit_of_work(env.sessions) as session:
        _save_totals(session, run_id, totals, requests)
        run = session.get_one(t.SyncRun, run_id)
        run.status = status.value
        run.finished_at = now
        run.vendor_count = totals.vendor_count
        run.stored_count = session.scalar(
            select(func.count())
            .select_from(t.WorkItem)
            .where(
                t.WorkItem.connection_id == connection_id,
                t.WorkItem.deleted_at.is_(None),
                t.WorkItem.access_lost_at.is_(None),
            )
        )
        connection = session.get_one(t.Connection, connection_id)
        if failure is None:
            connection_store.record_success(session, connection, now=now)
        else:
            _degrade(session, connection, failure, now)
    return RunSummary(
        run_id=run_id,
        connection_id=connection_id,
        kind=kind,
        status=status,
        pages=totals.pages,
        requests=requests,
        fetched=totals.fetched,
        upserted=totals.upserted,
        unchanged=totals.unchanged,
        deleted=totals.deleted,
        access_lost=totals.access_lost,
        errors=list(totals.errors),
    )


def _degrade(
    session: Session, connection: t.Connection, error: PmbridgeError, now: datetime
) -> None:
    """Move the connection to the state that tells a person what to do next."""
    if isinstance(error, RateLimited):
        connection_store.set_state(
            session,
            connection,
            ConnectionState.THROTTLED,
            now=now,
            reason=error.message,
            throttled_until=error.retry_at,
        )
    elif isinstance(error, CredentialsRejected):
        connection_store.set_state(
            session, connection, ConnectionState.NEEDS_REAUTH, now=now, reason=error.message
        )
    else:
        connection_store.set_state(
            session, connection, ConnectionState.FAILING, now=now, reason=error.message
        )
