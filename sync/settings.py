"""The one settings object. Every knob is an environment variable prefixed ``PMBRIDGE_``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PMBRIDGE_", env_file=None, extra="ignore")

    #: SQLAlchemy URL. The embedded default is a SQLite file in the working directory.
    database_url: str = "sqlite:///pmbridge.db"
    #: Fernet key (urlsafe base64, 32 bytes) that encrypts stored credentials. On SQLite it
    #: is generated into ``secret_key_file`` on first run; PostgreSQL deployments must set it,
    #: because several processes on several machines have to share it.
    secret_key: SecretStr | None = None
    secret_key_file: Path = Path("pmbridge.key")

    #: HTTP timeouts towards vendors, in seconds.
    http_connect_timeout: float = 10.0
    http_read_timeout: float = 60.0
    #: Retries of one vendor request (429, 502/503/504, transport errors).
    http_max_attempts: int = Field(default=6, ge=1)
    #: Longest total time one request may spend waiting between retries.
    http_max_retry_wait: float = Field(default=120.0, ge=0)

    #: Re-read this many seconds before the incremental cursor: vendors' "updated" filters are
    #: coarse (Jira: minutes, in the user's zone) and eventually consistent.
    incremental_overlap_seconds: int = Field(default=300, ge=0)

    api_page_default: int = Field(default=100, ge=1)
    api_page_max: int = Field(default=1000, ge=1)
    #: How long a process trusts a key it has checked; a revocation takes effect within it.
    api_key_cache_seconds: float = Field(default=5.0, ge=0)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
