"""Risk thresholds and severity bands: every knob an environment variable ``PMBRIDGE_RISK_*``
(``Settings.risk``, read with the rest of the settings).

Some thresholds can be overridden per goal (``PUT /v1/goals/{id}/risk-thresholds``); those are
the fields of :class:`Thresholds`. Bands and the contingency rule are global: a register whose
bands moved from goal to goal could not be read as one matrix.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sync.settings import RiskConfig


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


class RiskSettings(RiskConfig):
    """``Settings.risk`` with its domain types: bands, thresholds, a severity."""

    contingency_required_from: Severity = Severity.HIGH

    @classmethod
    def of(cls, config: RiskConfig) -> RiskSettings:
        return cls.model_validate(config.model_dump())

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
