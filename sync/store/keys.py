"""API keys: random, shown once, stored as SHA-256 digests; scopes are read < write < admin."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.errors import Conflict, InvalidRequest
from sync.store.tables import ApiKey

KEY_PREFIX = "pmb_"


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


#: A wider scope includes the narrower ones: a write key can read, an admin key can do all.
IMPLIED: dict[Scope, frozenset[Scope]] = {
    Scope.READ: frozenset({Scope.READ}),
    Scope.WRITE: frozenset({Scope.READ, Scope.WRITE}),
    Scope.ADMIN: frozenset({Scope.READ, Scope.WRITE, Scope.ADMIN}),
}


def hash_key(key: str) -> str:
    # A fast digest is right here: keys are 256 random bits, not guessable passwords.
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    session: Session, *, name: str, scopes: Sequence[str], now: datetime
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its one-time plaintext."""
    name = name.strip()
    if not name:
        raise InvalidRequest("an API key needs a name", field="name")
    try:
        parsed = sorted({Scope(s) for s in scopes})
    except ValueError:
        raise InvalidRequest(
            f"unknown scope in {list(scopes)}; use read, write or admin", field="scopes"
        ) from None
    if not parsed:
        raise InvalidRequest("an API key needs at least one scope", field="scopes")
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise Conflict(f"an API key named {name!r} already exists", field="name")
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name,
        prefix=plaintext[:12],
        key_hash=hash_key(plaintext),
        scopes=[s.value for s in parsed],
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row, plaintext


def authenticate(session: Session, plaintext: str, *, now: datetime) -> ApiKey | None:
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plaintext)))
    if row is None or row.revoked_at is not None:
        return None
    # Minute resolution is plenty for "last used", and spares a write on every request.
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now
    return row


def granted(row: ApiKey) -> frozenset[Scope]:
    result: set[Scope] = set()
    for scope in row.scopes:
        result |= IMPLIED[Scope(scope)]
    return frozenset(result)


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, name: str, *, now: datetime) -> bool:
    row = session.scalar(select(ApiKey).where(ApiKey.name == name))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now
    return True
