"""What a running service holds: database, secrets, settings, clock, and the sync engine's
environment. Built once at start-up; tests build their own with a fake clock and transport."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from sync.engine.runner import SyncEnvironment
from sync.settings import Settings
from sync.store.crypto import SecretBox, load_secret_box
from sync.store.database import make_engine, session_factory


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    box: SecretBox
    sync: SyncEnvironment
    clock: Callable[[], datetime] = field(default=utc_now)

    @classmethod
    def build(cls, settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> Services:
        engine = make_engine(settings.database_url)
        sessions = session_factory(engine)
        box = load_secret_box(settings)
        environment = SyncEnvironment(sessions=sessions, box=box, settings=settings, clock=clock)
        return cls(settings, engine, sessions, box, environment, clock)
