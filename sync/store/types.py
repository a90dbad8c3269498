"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

#: 64-bit keys on PostgreSQL; SQLite only auto-increments an ``INTEGER PRIMARY KEY``.
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: JSONB where we have it (indexable, compact), plain JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on every backend.

    SQLite has no time-zone type and hands back naive values; PostgreSQL's ``timestamptz``
    returns the session's zone. Both are normalised here so no caller ever sees a naive time.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pmbridge stores aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        generic = super().bind_processor(dialect)
        if dialect.name != "sqlite" or generic is None:
            return generic

        def process(value: Any) -> Any:
            # The generic chain (this decorator, then SQLite's DATETIME formatting a dict) is
            # a measurable share of a sync's writes; this renders the same text
            # (``YYYY-MM-DD HH:MM:SS.ffffff``, always with microseconds) in one C call.
            if value is None:
                return None
            if not isinstance(value, datetime) or value.tzinfo is None or value.year < 1000:
                return generic(value)  # errors and odd years: exactly the generic result
            if value.tzinfo is not UTC:
                value = value.astimezone(UTC)
            text = value.replace(tzinfo=None).isoformat(" ")
            return text if value.microsecond else text + ".000000"

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
