"""SQLite writers of one process take turns on a lock, and ``write_now`` writes only when no
one else is writing: the receiver's way to store a delivery without a thread switch."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, text

from sync.store.database import Busy, _engine_locks, make_engine, write_now


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)"))
    yield engine
    engine.dispose()


def add(body: str) -> Callable[[Connection], int]:
    def work(connection: Connection) -> int:
        added: int = connection.execute(
            text("INSERT INTO note (body) VALUES (:body) RETURNING id"), {"body": body}
        ).scalar_one()
        return added

    return work


def notes(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT body FROM note ORDER BY id")).scalars())


def test_write_now_writes_and_commits_when_no_one_else_writes(engine: Engine) -> None:
    assert write_now(engine, add("first")) == 1
    assert notes(engine) == ["first"]


def test_write_now_does_not_wait_for_a_writer_in_this_process(engine: Engine) -> None:
    with engine.begin() as other:
        other.execute(text("INSERT INTO note (body) VALUES ('theirs')"))
        with pytest.raises(Busy):
            write_now(engine, add("mine"))
    assert notes(engine) == ["theirs"]
    assert write_now(engine, add("mine")) == 2  # the turn is free again


def test_write_now_does_not_wait_for_a_writer_in_another_process(
    engine: Engine, tmp_path: Path
) -> None:
    # A plain sqlite3 connection stands for another process: our lock does not cover it.
    outsider = sqlite3.connect(tmp_path / "turns.db", isolation_level=None)
    outsider.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Busy):
            write_now(engine, add("mine"))
    finally:
        outsider.execute("ROLLBACK")
        outsider.close()
    assert write_now(engine, add("mine")) == 1
    with engine.connect() as connection:  # the patient timeout is back for everyone else
        assert connection.execute(text("PRAGMA busy_timeout")).scalar_one() == 30000


def test_work_that_fails_writes_nothing_and_frees_the_turn(engine: Engine) -> None:
    def half_written(connection: Connection) -> None:
        add("half")(connection)
        raise ValueError("no")

    def nothing_written(_connection: Connection) -> None:
        raise ValueError("no")

    for work in (half_written, nothing_written):
        with pytest.raises(ValueError, match="no"):
            write_now(engine, work)
    assert notes(engine) == []
    assert write_now(engine, add("after")) == 1


def test_only_engines_made_here_have_a_turn_to_take(tmp_path: Path) -> None:
    plain = create_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    with pytest.raises(Busy):
        write_now(plain, lambda _connection: None)


def test_a_second_writer_in_this_process_waits_its_turn_and_then_writes(engine: Engine) -> None:
    written = threading.Event()

    def second() -> None:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO note (body) VALUES ('second')"))
        written.set()

    with engine.begin() as first:
        first.execute(text("INSERT INTO note (body) VALUES ('first')"))
        thread = threading.Thread(target=second)
        thread.start()
        assert not written.wait(0.2)  # held off while the first transaction is open
    thread.join(5)
    assert written.is_set()
    assert notes(engine) == ["first", "second"]


def test_work_that_reads_before_it_writes_keeps_the_turn_throughout(engine: Engine) -> None:
    def read_then_write(connection: Connection) -> int:
        connection.execute(text("SELECT count(*) FROM note")).scalar_one()
        # Still this work's turn after a read: no one else gets to write in between.
        with pytest.raises(Busy):
            write_now(engine, add("cutting in"))
        return add("mine")(connection)

    assert write_now(engine, read_then_write) == 1
    assert notes(engine) == ["mine"]


def test_engines_on_one_file_share_the_turn(engine: Engine, tmp_path: Path) -> None:
    same_file = make_engine(f"sqlite:///{tmp_path}/../{tmp_path.name}/turns.db")
    other_file = make_engine(f"sqlite:///{tmp_path}/other.db")
    try:
        assert _engine_locks[same_file] is _engine_locks[engine]
        assert _engine_locks[other_file] is not _engine_locks[engine]
    finally:
        same_file.dispose()
        other_file.dispose()


def test_write_now_does_not_wait_for_a_pooled_connection(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'pool.db'}", pool_size=1, max_overflow=0)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)"))
        with engine.connect(), pytest.raises(Busy):  # the only connection is out
            write_now(engine, add("mine"))
        assert write_now(engine, add("mine")) == 1
    finally:
        engine.dispose()
