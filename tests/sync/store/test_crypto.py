"""Credentials are sealed with Fernet; the key comes from settings or, on SQLite, a key file."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from sync.errors import ConfigurationError
from sync.settings import Settings
from sync.store.crypto import SecretBox, load_secret_box


def test_sealed_credentials_open_with_the_same_key_only() -> None:
    box = SecretBox(Fernet.generate_key())
    token = box.seal({"api_token": "t0ken"})
    assert b"t0ken" not in token
    assert box.open(token) == {"api_token": "t0ken"}
    with pytest.raises(ConfigurationError, match="cannot be decrypted"):
        SecretBox(Fernet.generate_key()).open(token)


def test_a_malformed_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not a Fernet key"):
        SecretBox(b"short")


def test_sqlite_generates_a_private_key_file_once(tmp_path: Path) -> None:
    settings = Settings(database_url="sqlite:///x.db", secret_key_file=tmp_path / "k")
    first = load_secret_box(settings)
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    second = load_secret_box(settings)
    assert second.open(first.seal({"a": "b"})) == {"a": "b"}


def test_postgresql_requires_an_explicit_key(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql://db.example.com/pmbridge", secret_key_file=tmp_path / "k"
    )
    with pytest.raises(ConfigurationError, match="PMBRIDGE_SECRET_KEY must be set"):
        load_secret_box(settings)
    key = Fernet.generate_key().decode()
    configured = Settings(
        database_url="postgresql://db.example.com/pmbridge", secret_key=SecretStr(key)
    )
    assert load_secret_box(configured).open(load_secret_box(configured).seal({"x": "y"}))
    assert not (tmp_path / "k").exists()


def test_settings_never_print_the_secret_key() -> None:
    key = Fernet.generate_key().decode()
    assert key not in repr(Settings(secret_key=SecretStr(key)))
