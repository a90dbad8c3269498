"""Alembic environment: the URL comes from the caller's config or PMBRIDGE_DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from sync.settings import Settings
from sync.store.database import make_engine
from sync.store.schema import metadata

config = context.config
target_metadata = metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    existing = config.attributes.get("connection")
    if existing is not None:
        _run(existing)
        return
    url = config.get_main_option("sqlalchemy.url") or Settings().database_url
    engine = make_engine(url)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("pmbridge migrations run online only: `pmbridge migrate`")
run_migrations_online()
