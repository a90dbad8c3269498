"""Migrations and models agree: upgrading an empty database leaves autogenerate nothing to do."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session, sessionmaker

from sync.store.migrate import pending
from sync.store.schema import metadata


def test_the_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_the_database_is_at_the_newest_migration(engine: Engine) -> None:
    assert pending(engine) is False


def test_every_table_exists(engine: Engine, db: sessionmaker[Session]) -> None:
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())
