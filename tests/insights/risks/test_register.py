"""Register rules, as pure functions: bounds, residuals, bands, the contingency plan required
at or above the high band, review dates, and what a change records."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from insights.risks.register import (
    Contingency,
    contingency_required,
    diff,
    review_overdue,
    validate,
)
from insights.risks.settings import RiskSettings, Severity
from sync.errors import InvalidRequest

SETTINGS = RiskSettings()
PLAN = {
    "contingency_trigger": "the pilot team misses the 1 Dec cut-over",
    "contingency_measures": "run the old CRM in parallel for December",
    "contingency_owner": "ana@example.com",
    "contingency_steps": ["freeze the migration", "re-open old CRM licences"],
}


def risk(**fields: Any) -> dict[str, Any]:
    return {
        "title": "Data migration slips",
        "probability": 2,
        "impact": 2,
        "status": "open",
    } | fields


@pytest.mark.parametrize(
    ("field", "value"),
    [("probability", 0), ("probability", 6), ("impact", "3"), ("impact", True), ("impact", 2.5)],
)
def test_probability_and_impact_are_whole_numbers_from_one_to_five(field: str, value: Any) -> None:
    with pytest.raises(InvalidRequest, match=f"{field} must be a whole number from 1 to 5") as err:
        validate(risk(**{field: value}), SETTINGS)
    assert err.value.details["field"] == field


@pytest.mark.parametrize("field", ["probability", "impact"])
def test_probability_and_impact_are_required(field: str) -> None:
    with pytest.raises(InvalidRequest, match=f"{field} is required"):
        validate(risk(**{field: None}), SETTINGS)


def test_a_risk_needs_a_title() -> None:
    with pytest.raises(InvalidRequest, match="needs a title"):
        validate(risk(title="  "), SETTINGS)


def test_residual_probability_and_impact_go_together() -> None:
    with pytest.raises(InvalidRequest, match="give both or neither") as err:
        validate(risk(residual_probability=1), SETTINGS)
    assert err.value.details["field"] == "residual_impact"


def test_a_response_cannot_make_a_risk_worse() -> None:
    with pytest.raises(InvalidRequest, match="residual score 6 is above the risk's score 4"):
        validate(risk(residual_probability=3, residual_impact=2), SETTINGS)
    validate(risk(residual_probability=1, residual_impact=4), SETTINGS)


@pytest.mark.parametrize(
    ("field", "value"), [("response", "ignore"), ("roam", "owned!"), ("status", "done")]
)
def test_choices_are_checked(field: str, value: str) -> None:
    with pytest.raises(InvalidRequest, match=f"{field} must be one of"):
        validate(risk(**{field: value}), SETTINGS)


def test_a_high_risk_without_a_contingency_plan_is_refused_and_told_what_is_missing() -> None:
    with pytest.raises(InvalidRequest) as err:
        validate(risk(probability=4, impact=3, contingency_owner="ana"), SETTINGS)
    assert str(err.value) == (
        "a high risk (score 12) needs a contingency plan: trigger, measures, steps missing. "
        "Open risks at or above the high band must say what triggers the plan, the measures, "
        "who owns it, and its steps"
    )
    assert err.value.details == {
        "field": "contingency",
        "missing": ["trigger", "measures", "steps"],
    }


def test_a_high_risk_with_a_complete_plan_is_accepted() -> None:
    validate(risk(probability=4, impact=3, **PLAN), SETTINGS)
    validate(risk(probability=5, impact=5, **PLAN), SETTINGS)


def test_just_below_the_high_band_no_plan_is_needed() -> None:
    validate(risk(probability=3, impact=3), SETTINGS)  # 9: medium


def test_a_closed_risk_needs_no_plan() -> None:
    validate(risk(probability=5, impact=5, status="closed"), SETTINGS)


def test_bands_and_the_plan_threshold_are_settings() -> None:
    lenient = RiskSettings(band_high_from=13, band_critical_from=20)
    validate(risk(probability=4, impact=3), lenient)  # 12 is medium now
    strict = RiskSettings(contingency_required_from=Severity.MEDIUM)
    assert contingency_required(1, 5, "open", strict)
    assert not contingency_required(2, 2, "open", strict)


def test_blank_steps_do_not_make_a_plan() -> None:
    assert Contingency.of(PLAN | {"contingency_steps": ["  "]}).missing == ["steps"]
    assert Contingency().empty


def test_review_is_overdue_the_day_after_the_review_date_while_open() -> None:
    today = date(2026, 11, 20)
    assert review_overdue("open", date(2026, 11, 19), today=today)
    assert not review_overdue("open", date(2026, 11, 20), today=today)
    assert not review_overdue("closed", date(2026, 1, 1), today=today)
    assert not review_overdue("open", None, today=today)


def test_a_change_records_only_what_changed_as_json_values() -> None:
    before = risk(review_date=date(2026, 12, 1), contingency_steps=["a"])
    after = before | {"impact": 3, "review_date": date(2026, 12, 8), "contingency_steps": ["a"]}
    assert diff(before, after) == {
        "impact": {"old": 2, "new": 3},
        "review_date": {"old": "2026-12-01", "new": "2026-12-08"},
    }
