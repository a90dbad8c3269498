"""Shared fixtures: one migrated database per session (SQLite by default, PostgreSQL when
``PMBRIDGE_TEST_DATABASE_URL`` names one), emptied after every test that used it.

Tests commit for real, as the engine does in production, so isolation is by cleaning the
tables rather than by rolling back an outer transaction.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from sync.store.crypto import SecretBox
from sync.store.database import make_engine, session_factory
from sync.store.migrate import upgrade
from sync.store.schema import metadata
from tests.fakes import FakeClock, FakeSleep

TEST_SECRET_KEY = Fernet.generate_key()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a second backend, run only what touches the database: the rest already ran."""
    if os.environ.get("PMBRIDGE_TEST_DB_ONLY") != "1":
        return
    selected = [item for item in items if "db" in getattr(item, "fixturenames", ())]
    deselected = [item for item in items if item not in selected]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    configured = os.environ.get("PMBRIDGE_TEST_DATABASE_URL")
    if configured:
        return configured
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield session_factory(engine)
    tables = [table.name for table in reversed(metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                connection.execute(text(f"DELETE FROM {name}"))  # noqa: S608 - our table names


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleep(clock: FakeClock) -> FakeSleep:
    return FakeSleep(clock)


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(TEST_SECRET_KEY)


@pytest.fixture
def payloads() -> Path:
    return Path(__file__).parent / "payloads"
