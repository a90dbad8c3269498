"""Engine and session set-up; the caller owns the commit (``unit_of_work``)."""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool, StaticPool

T = TypeVar("T")


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (the only PostgreSQL driver we ship)."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    kwargs.setdefault("json_serializer", _json_text)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        if make_url(url).database in {None, "", ":memory:"}:
            # One shared connection, or every new one would see its own empty database.
            kwargs.setdefault("poolclass", StaticPool)
        database = make_url(url).database
        lock = _writer_lock(None if database in {None, "", ":memory:"} else database)
        kwargs.setdefault(
            "connect_args",
            {
                "check_same_thread": False,
                "timeout": BUSY_TIMEOUT,
                "factory": serialized_writes(lock),
            },
        )
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        _engine_locks[engine] = lock
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


#: Seconds a SQLite writer waits for another before "database is locked".
BUSY_TIMEOUT = 30.0

#: Statements that take SQLite's write lock (the driver opens a transaction before the DML).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")

_writer_locks: dict[str, threading.Lock] = {}
_writer_locks_guard = threading.Lock()
_engine_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


def _writer_lock(database: str | None) -> threading.Lock:
    """One lock per database file in this process (engines on one file share it); an
    in-memory database is its engine's own."""
    if database is None:
        return threading.Lock()
    with _writer_locks_guard:
        return _writer_locks.setdefault(os.path.realpath(database), threading.Lock())


def serialized_writes(lock: threading.Lock) -> type[sqlite3.Connection]:
    """A sqlite3 connection class whose writers in this process take turns on a lock.

    SQLite lets one writer in at a time and makes the others poll: a writer that finds the
    database locked sleeps 1, 2, 5, 10... ms before trying again. With the webhook receiver
    and the worker writing from threads of one process, that put a sleep into two of five
    deliveries (p99 of the insert: 23 ms). Here an in-process writer waits on a lock that
    hands over the moment the other commits. Writers in other processes (a CLI sync) still
    meet SQLite's own locking and ``BUSY_TIMEOUT``.
    """

    class SerializedCursor(sqlite3.Cursor):
        def execute(self, sql: str, parameters: Any = (), /) -> SerializedCursor:
            return self._in_turn(super().execute, sql, parameters)

        def executemany(self, sql: str, parameters: Any, /) -> SerializedCursor:
            return self._in_turn(super().executemany, sql, parameters)

        def _in_turn(
            self, run: Callable[[str, Any], SerializedCursor], sql: str, parameters: Any
        ) -> SerializedCursor:
            connection: SerializedConnection = self.connection  # type: ignore[assignment]
            connection.before(sql)
            try:
                return run(sql, parameters)
            finally:
                connection.after()

    class SerializedConnection(sqlite3.Connection):
        #: This connection has the turn.
        holding = False
        #: Taken for a whole transaction (``write_now``): kept until commit or rollback even
        #: across statements that leave no transaction open.
        pinned = False

        def cursor(self, factory: Any = None) -> Any:
            return super().cursor(factory or SerializedCursor)

        def before(self, sql: str) -> None:
            if self.holding or not sql.lstrip()[:7].upper().startswith(_WRITES):
                return
            if not lock.acquire(timeout=BUSY_TIMEOUT):
                raise sqlite3.OperationalError("database is locked")
            self.holding = True

        def after(self) -> None:
            # A statement that left no transaction open (DDL, a failed write) lets go at once.
            if self.holding and not self.pinned and not self.in_transaction:
                self.let_go()

        def take_turn(self) -> bool:
            """Take the turn for a whole transaction if no one has it; never waits."""
            if not lock.acquire(blocking=False):
                return False
            self.holding = self.pinned = True
            return True

        def let_go(self) -> None:
            if self.holding:
                self.holding = self.pinned = False
                lock.release()

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self.let_go()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self.let_go()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self.let_go()

    return SerializedConnection


class Busy(Exception):
    """Writing now would mean waiting for another writer (see :func:`write_now`)."""


def write_now(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in a transaction that starts writing at once, or raise :class:`Busy`
    without waiting: another writer holds the SQLite database (in this process or another),
    or the engine is not a SQLite one :func:`make_engine` built.

    For a caller on an event loop, where a short local write costs less than handing it to
    a thread, but waiting for another writer would stall every request: on ``Busy`` it hands
    the work to a thread, which may wait.
    """
    lock = _engine_locks.get(engine)
    if lock is None or lock.locked():  # the common refusal, before taking a connection
        raise Busy
    pool = engine.pool
    if isinstance(pool, QueuePool) and pool.checkedin() == 0:
        # Every pooled connection is out (threads serving requests): checking one out could
        # wait for one to come back, and this caller must not wait.
        raise Busy
    with engine.connect() as connection:
        dbapi: Any = connection.connection.dbapi_connection
        if not dbapi.take_turn():  # someone took it meanwhile
            raise Busy
        try:
            # Another process's writer is not behind our lock: fail at once, do not wait.
            dbapi.execute("PRAGMA busy_timeout=0")
            with connection.begin():  # its commit or rollback hands the turn over
                return work(connection)
        except OperationalError as error:
            if getattr(error.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY:
                raise Busy from error
            raise
        finally:
            dbapi.let_go()
            dbapi.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while a sync writes; NORMAL is durable across process crashes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
    # A sync writes a page of wide rows per transaction. With SQLite's defaults (a 2 MiB
    # page cache, a checkpoint every 4 MiB of WAL) it spent a sixth of a 100k-issue sync
    # re-reading index pages and checkpointing; 32 MiB and 16 MiB measured ~15% faster in
    # bench/sync_jira.py. Both are per connection and bounded.
    cursor.execute("PRAGMA cache_size=-32768")
    cursor.execute("PRAGMA wal_autocheckpoint=4000")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def engine_of(factory: sessionmaker[Session]) -> Engine:
    """The engine a session factory binds to, for a hot path that skips the ORM session."""
    bind = factory.kw.get("bind")
    if not isinstance(bind, Engine):
        raise TypeError("the session factory is not bound to an engine")
    return bind


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session
