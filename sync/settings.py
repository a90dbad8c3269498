"""The one settings object. Every knob is an environment variable prefixed ``PMBRIDGE_``;
sections read their own prefix: ``PMBRIDGE_WORKER_POLL_SECONDS`` is ``worker.poll_seconds``,
``PMBRIDGE_RISK_STALE_DAYS`` is ``risk.stale_days``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Self

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseModel):
    """Worker and webhook-receiver knobs (``PMBRIDGE_WORKER_*``)."""

    #: Default polling; a connection's ``sync_every_minutes`` / ``census_every_hours`` options
    #: override them, and 0 turns that kind of run off.
    incremental_every_minutes: float = Field(default=15.0, ge=0)
    census_every_hours: float = Field(default=24.0, ge=0)
    #: Longest wait between scheduled runs of a connection whose runs keep failing.
    failure_backoff_max_minutes: float = Field(default=240.0, gt=0)
    #: Connections one worker process works on at once.
    concurrency: int = Field(default=4, ge=1)
    #: How long a claim holds without renewal; a killed worker's work is taken over after it.
    lease_seconds: float = Field(default=60.0, gt=0)
    #: How often an idle worker looks for work (deliveries also wake an in-process worker).
    poll_seconds: float = Field(default=1.0, gt=0)
    #: Deliveries applied per transaction (those naming one item share one fetch).
    batch_size: int = Field(default=200, ge=1)
    #: After a wake-up, and between batches of a busy connection, wait this long so a
    #: stream of deliveries is applied in batches.
    batch_window_seconds: float = Field(default=0.05, ge=0)
    #: Keep a connection this long after its inbox empties, for deliveries right behind.
    linger_seconds: float = Field(default=0.5, ge=0)
    #: Attempts before a delivery becomes a dead letter, and the backoff between them.
    max_attempts: int = Field(default=8, ge=1)
    retry_base_seconds: float = Field(default=10.0, gt=0)
    retry_max_seconds: float = Field(default=3600.0, gt=0)
    #: Applied deliveries are kept this long: longer than any vendor redelivers (Asana 24 h).
    inbox_retention_days: float = Field(default=7.0, gt=0)
    #: Time a stopping worker gives a running sync before cancelling it.
    stop_grace_seconds: float = Field(default=30.0, ge=0)
    #: Largest webhook body accepted (413 beyond it).
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    #: Public base URL of the receiver (behind a proxy); signatures over the URL use it.
    public_url: str | None = None
    #: Refresh an expiring webhook registration (Jira's last 30 days) once fewer than this
    #: many days remain (``sync.engine.webhooks.DEFAULT_REFRESH_MARGIN`` says why 7).
    webhook_refresh_margin_days: float = Field(default=7.0, gt=0, lt=30)


class RiskConfig(BaseModel):
    """Risk thresholds and severity bands (``PMBRIDGE_RISK_*``); ``insights.risks.settings``
    gives them their domain types."""

    due_soon_days: int = Field(default=7, ge=0, le=365)
    stale_days: int = Field(default=14, ge=1, le=3650)
    scope_creep_pct: float = Field(default=20.0, gt=0)
    forecast_slip_days: int = Field(default=0, ge=0, le=3650)
    #: ``milestone_at_risk``: the pace of a milestone's scope is its completions over this
    #: many days.
    milestone_pace_days: int = Field(default=28, ge=1, le=365)
    #: ``data_stale``: a source not synced successfully for this many hours.
    data_stale_hours: float = Field(default=24.0, gt=0)
    #: Per-source thresholds, by connection name (JSON: ``{"crm-jira": 6}``).
    data_stale_hours_by_connection: dict[str, float] = Field(default_factory=dict)

    band_medium_from: int = Field(default=5, ge=2, le=25)
    band_high_from: int = Field(default=10, ge=3, le=25)
    band_critical_from: int = Field(default=20, ge=4, le=25)
    #: Open risks at or above this band must carry a complete contingency plan.
    contingency_required_from: str = Field(default="high", pattern="^(low|medium|high|critical)$")

    @model_validator(mode="after")
    def _bands_ascend(self) -> Self:
        if not self.band_medium_from < self.band_high_from < self.band_critical_from:
            raise ValueError(
                "severity bands must ascend: band_medium_from < band_high_from < band_critical_from"
            )
        bad = {k: v for k, v in self.data_stale_hours_by_connection.items() if v <= 0}
        if bad:
            raise ValueError(f"data_stale_hours_by_connection must be positive: {bad}")
        return self


class Settings(BaseSettings):
    # A section's fields are read from ``PMBRIDGE_<SECTION>_<FIELD>``: split once, after the
    # section's name, so field names keep their underscores.
    model_config = SettingsConfigDict(
        env_prefix="PMBRIDGE_",
        env_file=None,
        extra="ignore",
        env_nested_delimiter="_",
        env_nested_max_split=1,
    )

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

    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    risk: RiskConfig = Field(default_factory=RiskConfig)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
