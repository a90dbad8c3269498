"""Risk thresholds and severity bands: every knob an environment variable ``PMBRIDGE_RISK_*``.

Some thresholds can be overridden per goal (``PUT /v1/goals/{id}/risk-thresholds``); those are
the fields of :class:`Thresholds`. Bands and the contingency rule are global: a register whose
bands moved from goal to goal could not be read as one matrix.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


@dataclass(frozen=True, slots=True)
class Bands:
    """Severity by score (probability x impact, 1-25): each band starts at a score."""

    medium_from: int = 5
    high_from: int = 10
    critical_from: int = 20

    def of(self, score: int) -> Severity:
        if score >= self.critical_from:
            return Severity.CRITICAL
        if score >= self.high_from:
            return Severity.HIGH
        if score >= self.medium_from:
            return Severity.MEDIUM
        return Severity.LOW

    def scores(self, severity: Severity) -> tuple[int, int]:
        """The inclusive score range of a band."""
        return {
            Severity.LOW: (1, self.medium_from - 1),
            Severity.MEDIUM: (self.medium_from, self.high_from - 1),
            Severity.HIGH: (self.high_from, self.critical_from - 1),
            Severity.CRITICAL: (self.critical_from, 25),
        }[severity]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When signals fire. Every field can be overridden per goal."""

    #: ``unassigned_due_soon``: due within this many days (today included) and unassigned.
    due_soon_days: int = 7
    #: ``stale_item``: in progress with no update for this many days.
    stale_days: int = 14
    #: ``scope_creep``: the goal's scope grew by more than this percentage since its baseline.
    scope_creep_pct: float = 20.0
    #: ``forecast_slip``: the 85th-percentile date may pass the due date by this many days.
    forecast_slip_days: int = 0

    def overridden(self, **overrides: int | float | None) -> Thresholds:
        given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **given)


OVERRIDABLE = tuple(f.name for f in dataclasses.fields(Thresholds))


class RiskSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PMBRIDGE_RISK_", env_file=None, extra="ignore")

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
    contingency_required_from: Severity = Severity.HIGH

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

    @property
    def bands(self) -> Bands:
        return Bands(self.band_medium_from, self.band_high_from, self.band_critical_from)

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(
            due_soon_days=self.due_soon_days,
            stale_days=self.stale_days,
            scope_creep_pct=self.scope_creep_pct,
            forecast_slip_days=self.forecast_slip_days,
        )

    def stale_hours_for(self, connection_name: str) -> float:
        return self.data_stale_hours_by_connection.get(connection_name, self.data_stale_hours)


@lru_cache(maxsize=1)
def get_risk_settings() -> RiskSettings:
    return RiskSettings()
