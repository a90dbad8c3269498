"""Thresholds and bands come from the PMBRIDGE_RISK_* section of the settings; bands ascend."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from pydantic import ValidationError

from insights.risks.settings import Bands, RiskSettings, Severity, Thresholds
from sync.settings import RiskConfig, Settings


def test_settings_read_the_risk_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMBRIDGE_RISK_STALE_DAYS", "3")
    monkeypatch.setenv("PMBRIDGE_RISK_BAND_HIGH_FROM", "12")
    monkeypatch.setenv("PMBRIDGE_RISK_DATA_STALE_HOURS_BY_CONNECTION", '{"crm": 6}')
    monkeypatch.setenv("PMBRIDGE_RISK_CONTINGENCY_REQUIRED_FROM", "critical")
    settings = RiskSettings.of(Settings().risk)
    assert settings.contingency_required_from is Severity.CRITICAL
    assert settings.thresholds.stale_days == 3
    assert settings.bands == Bands(medium_from=5, high_from=12, critical_from=20)
    assert (settings.stale_hours_for("crm"), settings.stale_hours_for("other")) == (6.0, 24.0)


@pytest.mark.parametrize(
    "fields",
    [
        {"band_medium_from": 10, "band_high_from": 10},
        {"band_high_from": 21},
        {"data_stale_hours_by_connection": {"crm": 0}},
        {"stale_days": 0},
        {"contingency_required_from": "severe"},
    ],
)
def test_nonsensical_settings_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RiskConfig(**fields)
    with pytest.raises(ValidationError):
        RiskSettings(**fields)


def test_default_bands_follow_the_usual_five_by_five_matrix() -> None:
    bands = Bands()
    assert [bands.of(s).value for s in (4, 5, 9, 10, 16, 20, 25)] == [
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
        "critical",
    ]


@examples(max_examples=40)
@given(st.integers(2, 23).flatmap(lambda m: st.tuples(st.just(m), st.integers(m + 1, 24))))
def test_band_ranges_partition_the_scores(bounds: tuple[int, int]) -> None:
    medium, high = bounds
    bands = Bands(medium, high, 25)
    for severity in Severity:
        low, top = bands.scores(severity)
        assert all(bands.of(score) is severity for score in range(low, top + 1))
    covered = sorted(s for sev in Severity for s in range(*_inclusive(bands.scores(sev))))
    assert covered == list(range(1, 26))


def _inclusive(bounds: tuple[int, int]) -> tuple[int, int]:
    return bounds[0], bounds[1] + 1


def test_goal_overrides_replace_only_what_they_name() -> None:
    base = Thresholds(due_soon_days=7, stale_days=14)
    assert base.overridden(stale_days=3, due_soon_days=None) == Thresholds(7, 3)
