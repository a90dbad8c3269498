"""Credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.engine import make_url

from sync.errors import ConfigurationError
from sync.settings import Settings

logger = logging.getLogger("pmbridge.store")


class SecretBox:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as error:
            raise ConfigurationError(
                "PMBRIDGE_SECRET_KEY is not a Fernet key (32 url-safe base64-encoded bytes); "
                "generate one with `pmbridge keys secret`",
                field="secret_key",
            ) from error

    def seal(self, credentials: Mapping[str, str]) -> bytes:
        return self._fernet.encrypt(json.dumps(dict(credentials)).encode())

    def open(self, token: bytes) -> dict[str, str]:
        try:
            data = json.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise ConfigurationError(
                "stored credentials cannot be decrypted with this PMBRIDGE_SECRET_KEY; "
                "use the key they were stored with, or re-enter the credentials",
                field="secret_key",
            ) from None
        return {str(k): str(v) for k, v in data.items()}


def load_secret_box(settings: Settings) -> SecretBox:
    """The configured key; on the embedded SQLite default, a key file made on first run."""
    if settings.secret_key is not None:
        return SecretBox(settings.secret_key.get_secret_value().encode())
    if make_url(settings.database_url).get_backend_name() != "sqlite":
        raise ConfigurationError(
            "PMBRIDGE_SECRET_KEY must be set when the database is not the embedded SQLite "
            "default: every process must share the key that encrypts stored credentials",
            field="secret_key",
        )
    return SecretBox(_key_file(settings.secret_key_file))


def _key_file(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    logger.warning(
        "generated a new secret key in %s: it encrypts stored credentials; "
        "back it up, or set PMBRIDGE_SECRET_KEY",
        path.resolve(),
    )
    return key
