"""Each signal kind fires on constructed facts and stays quiet on the near miss. The clock is
a parameter: nothing here depends on today's date."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from insights.risks.goal_facts import GoalForecast, ScopeLine
from insights.risks.settings import Thresholds
from insights.risks.signals import (
    Blocker,
    SignalKind,
    access_lost,
    blocked_item,
    data_stale,
    forecast_slip,
    item_signals,
    milestone_at_risk,
    overdue_item,
    overdue_milestone,
    parse_key,
    scope_creep,
    signal_key,
    stale_item,
    unassigned_due_soon,
)
from sync.errors import InvalidRequest
from tests.builders_risks import (
    NOW,
    TODAY,
    connection_fact,
    goal_info,
    item_fact,
    milestone_fact,
    scope_line,
)

DAY = timedelta(days=1)


# -- overdue_item --------------------------------------------------------------------------
def test_an_open_item_due_yesterday_is_overdue_since_the_day_after_its_due_date() -> None:
    signal = overdue_item(item_fact(due_date=TODAY - DAY, status_name="In Progress"), today=TODAY)
    assert signal is not None
    assert signal.kind is SignalKind.OVERDUE_ITEM
    assert signal.key == "overdue_item:item:1"
    assert signal.reason == "due 2026-11-19, 1 day ago, and still In Progress"
    assert signal.since == NOW.replace(hour=0)
    assert (signal.probability, signal.impact) == (4, 2)
    assert signal.items[0].url == "https://example.atlassian.net/browse/CRM-1"


def test_an_item_due_today_is_not_late_yet() -> None:
    assert overdue_item(item_fact(due_date=TODAY), today=TODAY) is None


@pytest.mark.parametrize("category", ["done", "cancelled"])
def test_finished_or_cancelled_work_is_never_overdue(category: str) -> None:
    late = item_fact(due_date=TODAY - 30 * DAY, status_category=category)
    assert overdue_item(late, today=TODAY) is None


def test_long_overdue_or_high_priority_work_weighs_more() -> None:
    two_weeks = overdue_item(item_fact(due_date=TODAY - 14 * DAY), today=TODAY)
    longer = overdue_item(item_fact(due_date=TODAY - 15 * DAY), today=TODAY)
    urgent = overdue_item(item_fact(due_date=TODAY - DAY, priority="Highest"), today=TODAY)
    assert two_weeks is not None
    assert longer is not None
    assert urgent is not None
    assert (two_weeks.impact, longer.impact, urgent.impact) == (2, 3, 3)


@given(st.integers(-40, 40), st.sampled_from(["todo", "in_progress", "done", "cancelled"]))
def test_overdue_means_past_due_and_open(offset: int, category: str) -> None:
    fact = item_fact(due_date=TODAY + timedelta(days=offset), status_category=category)
    fired = overdue_item(fact, today=TODAY) is not None
    assert fired == (offset < 0 and category in ("todo", "in_progress"))


# -- unassigned_due_soon -------------------------------------------------------------------
def test_unassigned_work_due_within_the_window_fires() -> None:
    signal = unassigned_due_soon(
        item_fact(assignee_id=None, due_date=TODAY + 7 * DAY), today=TODAY, days=7
    )
    assert signal is not None
    assert signal.reason == "due 2026-11-27 (in 7 days) and nobody is assigned"
    assert signal.since == NOW.replace(hour=0)  # it entered the 7-day window today
    assert signal.probability == 3


def test_unassigned_work_due_today_is_more_likely_to_slip() -> None:
    signal = unassigned_due_soon(item_fact(assignee_id=None, due_date=TODAY), today=TODAY, days=7)
    assert signal is not None
    assert "(today)" in signal.reason
    assert signal.probability == 4


@pytest.mark.parametrize(
    "fields",
    [
        {"assignee_id": None, "due_date": TODAY + 8 * DAY},  # a day beyond the window
        {"assignee_id": 7, "due_date": TODAY + DAY},  # somebody has it
        {"assignee_id": None, "due_date": TODAY - DAY},  # overdue: another signal says so
        {"assignee_id": None, "due_date": None},
        {"assignee_id": None, "due_date": TODAY, "status_category": "done"},
    ],
)
def test_unassigned_due_soon_near_misses(fields: dict[str, object]) -> None:
    assert unassigned_due_soon(item_fact(**fields), today=TODAY, days=7) is None


# -- stale_item ----------------------------------------------------------------------------
def test_work_in_progress_untouched_for_the_threshold_is_stale() -> None:
    updated = NOW - timedelta(days=14)
    signal = stale_item(item_fact(updated_at=updated), now=NOW, days=14)
    assert signal is not None
    assert signal.reason == "in progress with no update for 14 days (last 2026-11-06)"
    assert signal.since == NOW
    assert signal.probability == 2


def test_a_minute_short_of_the_threshold_is_not_stale() -> None:
    updated = NOW - timedelta(days=14) + timedelta(minutes=1)
    assert stale_item(item_fact(updated_at=updated), now=NOW, days=14) is None


def test_work_not_started_is_never_stale() -> None:
    old = item_fact(status_category="todo", updated_at=NOW - 100 * DAY)
    assert stale_item(old, now=NOW, days=14) is None


def test_twice_the_threshold_makes_a_stall_likelier() -> None:
    signal = stale_item(item_fact(updated_at=NOW - 28 * DAY), now=NOW, days=14)
    assert signal is not None
    assert signal.probability == 3


# -- blocked_item --------------------------------------------------------------------------
def test_a_blocked_status_fires_and_says_so() -> None:
    signal = blocked_item(item_fact(blocked=True, status_name="Blocked"))
    assert signal is not None
    assert signal.reason == 'the tool shows it blocked (status "Blocked")'
    assert (signal.probability, signal.impact) == (3, 3)


def test_a_blocked_label_fires_and_says_so() -> None:
    signal = blocked_item(item_fact(blocked=True, labels=("emea", "Blocked")))
    assert signal is not None
    assert signal.reason == 'the tool shows it blocked (label "Blocked")'


def test_a_blocking_link_to_unfinished_work_fires_and_links_the_blocker() -> None:
    blocker = Blocker("10002", "CRM-2", "Legal review", "https://x/browse/CRM-2", 2, False)
    signal = blocked_item(item_fact(blockers=(blocker,)))
    assert signal is not None
    assert signal.reason == "blocked by CRM-2 (not finished)"
    assert [ref.id for ref in signal.items] == [1, 2]
    assert signal.facts["blocked_by"] == ["CRM-2"]


def test_a_blocker_nobody_knows_the_state_of_still_blocks() -> None:
    signal = blocked_item(item_fact(blockers=(Blocker("10009", "OPS-9"),)))
    assert signal is not None
    assert signal.reason == "blocked by OPS-9 (state unknown)"


def test_a_link_to_finished_work_blocks_nothing() -> None:
    done = Blocker("10002", "CRM-2", item_id=2, finished=True)
    assert blocked_item(item_fact(blockers=(done,))) is None
    assert blocked_item(item_fact()) is None


def test_finished_work_is_not_blocked_whatever_its_flag() -> None:
    assert blocked_item(item_fact(blocked=True, status_category="done")) is None


def test_item_signals_apply_every_item_kind_with_its_threshold() -> None:
    fact = item_fact(
        assignee_id=None,
        due_date=TODAY - DAY,
        blocked=True,
        updated_at=NOW - 3 * DAY,
    )
    kinds = {s.kind for s in item_signals(fact, now=NOW, thresholds=Thresholds(stale_days=3))}
    assert kinds == {SignalKind.OVERDUE_ITEM, SignalKind.STALE_ITEM, SignalKind.BLOCKED_ITEM}
    quieter = item_signals(fact, now=NOW, thresholds=Thresholds(stale_days=4))
    assert SignalKind.STALE_ITEM not in {s.kind for s in quieter}


# -- milestones ----------------------------------------------------------------------------
def test_a_milestone_past_its_date_and_not_reached_is_overdue() -> None:
    signal = overdue_milestone(milestone_fact(due_date=TODAY - 3 * DAY, open_items=4), today=TODAY)
    assert signal is not None
    assert signal.reason == "due 2026-11-17, 3 days ago, not reached, with 4 open item(s)"
    assert signal.milestones[0].title == "Q4 launch"
    assert (signal.probability, signal.impact) == (4, 4)


def test_a_late_milestone_with_nothing_open_asks_to_be_marked_reached() -> None:
    signal = overdue_milestone(milestone_fact(due_date=TODAY - DAY, open_items=0), today=TODAY)
    assert signal is not None
    assert "mark it reached in the tool" in signal.reason
    assert signal.impact == 2


def test_a_milestone_due_today_is_not_overdue() -> None:
    assert overdue_milestone(milestone_fact(due_date=TODAY, open_items=5), today=TODAY) is None


def test_a_milestone_whose_open_work_outruns_its_pace_is_at_risk() -> None:
    # 4 days left (today to the 23rd); 56 done in 28 days = 2 a day = 8 more; 9 are open.
    fact = milestone_fact(due_date=TODAY + 3 * DAY, open_items=9, done_recently=56)
    signal = milestone_at_risk(fact, today=TODAY, pace_days=28)
    assert signal is not None
    assert signal.reason == (
        "9 open item(s) and 4 days left until 2026-11-23; at the recent pace "
        "(56 done in the last 28 days) about 8.0 more can be finished"
    )
    assert signal.facts["pace_per_week"] == 14.0
    assert signal.since is None
    assert signal.probability == 3


def test_a_milestone_whose_pace_just_suffices_is_not_at_risk() -> None:
    fact = milestone_fact(due_date=TODAY + 3 * DAY, open_items=8, done_recently=56)
    assert milestone_at_risk(fact, today=TODAY, pace_days=28) is None


def test_a_milestone_with_no_recent_progress_and_open_work_is_at_risk() -> None:
    fact = milestone_fact(due_date=TODAY + 30 * DAY, open_items=1, done_recently=0)
    signal = milestone_at_risk(fact, today=TODAY, pace_days=28)
    assert signal is not None
    assert signal.probability == 4


@pytest.mark.parametrize(
    "fields",
    [
        {"due_date": TODAY + 30 * DAY, "open_items": 0},  # nothing left to do
        {"due_date": TODAY - DAY, "open_items": 5},  # past due: overdue_milestone says so
    ],
)
def test_milestone_at_risk_near_misses(fields: dict[str, object]) -> None:
    assert milestone_at_risk(milestone_fact(**fields), today=TODAY, pace_days=28) is None


# -- goals ---------------------------------------------------------------------------------
def test_scope_grown_beyond_the_threshold_since_the_baseline_is_creep() -> None:
    line = scope_line(
        ("2026-11-01", 10),
        ("2026-11-10", 13),
        ("2026-11-15", 12),
        ("2026-11-18", 13),
        ("2026-11-20", 13),
    )
    signal = scope_creep(goal_info(), line, pct=20)
    assert signal is not None
    assert signal.reason == (
        "the scope grew 30% since the baseline (10 items on 2026-11-01; 13 now), "
        "more than the 20% allowed"
    )
    assert signal.since == NOW.replace(day=18, hour=0)  # back above 20% since the 18th
    assert signal.goals[0].url == "/v1/goals/9"
    assert signal.facts["growth_pct"] == 30.0


def test_scope_grown_by_exactly_the_threshold_is_not_creep() -> None:
    line = scope_line(("2026-11-01", 10), ("2026-11-20", 12))
    assert scope_creep(goal_info(), line, pct=20) is None


def test_a_baseline_taken_after_the_baseline_date_is_named() -> None:
    line = scope_line(("2026-11-05", 10), ("2026-11-20", 30))
    signal = scope_creep(goal_info(), line, pct=20)
    assert signal is not None
    assert "the first snapshot after the baseline date 2026-11-01" in signal.reason
    assert signal.probability == 4  # grew by more than twice the threshold


@pytest.mark.parametrize(
    "line",
    [
        scope_line(("2026-11-01", 0), ("2026-11-20", 12)),  # empty at the baseline
        scope_line(("2026-11-20", 12)),  # no history yet
        ScopeLine(None),  # a numeric goal has no scope to grow
    ],
)
def test_scope_creep_needs_a_measurable_baseline(line: ScopeLine) -> None:
    assert scope_creep(goal_info(), line, pct=20) is None


def forecast(verdict: str = "forecast", **dates: date | None) -> GoalForecast:
    values: dict[str, date | None] = {"due_date": date(2026, 12, 31), **dates}
    return GoalForecast(
        verdict,
        "reason of the goals feature",
        values["due_date"],
        values.get("p50_date"),
        values.get("p85_date"),
    )


def test_an_85th_percentile_past_the_due_date_is_a_slip() -> None:
    found = forecast(p50_date=date(2026, 12, 20), p85_date=date(2027, 1, 4))
    signal = forecast_slip(goal_info(), found, grace_days=0)
    assert signal is not None
    assert signal.reason == (
        "the 85th-percentile forecast finishes 2027-01-04, 4 days after the due date "
        "2026-12-31 (even odds: 2026-12-20)"
    )
    assert (signal.probability, signal.impact) == (4, 4)


def test_an_85th_percentile_on_the_due_date_is_not_a_slip() -> None:
    found = forecast(p50_date=date(2026, 12, 20), p85_date=date(2026, 12, 31))
    assert forecast_slip(goal_info(), found, grace_days=0) is None


def test_grace_days_absorb_a_small_slip() -> None:
    found = forecast(p50_date=date(2026, 12, 20), p85_date=date(2027, 1, 2))
    assert forecast_slip(goal_info(), found, grace_days=2) is None
    assert forecast_slip(goal_info(), found, grace_days=1) is not None


def test_even_odds_past_the_due_date_make_a_slip_near_certain() -> None:
    found = forecast(p50_date=date(2027, 1, 2), p85_date=date(2027, 1, 9))
    signal = forecast_slip(goal_info(), found, grace_days=0)
    assert signal is not None
    assert signal.probability == 5


def test_stalled_work_slips_and_a_forecast_beyond_the_horizon_slips() -> None:
    stalled = forecast_slip(goal_info(), forecast("stalled"), grace_days=0)
    beyond = forecast_slip(goal_info(), forecast(p50_date=None, p85_date=None), grace_days=0)
    assert stalled is not None
    assert beyond is not None
    assert stalled.reason.startswith("the work has stalled")
    assert "does not finish within its horizon" in beyond.reason


@pytest.mark.parametrize("verdict", ["insufficient_history", "achieved", "no_target"])
def test_no_forecast_date_says_nothing(verdict: str) -> None:
    assert forecast_slip(goal_info(), forecast(verdict), grace_days=0) is None


def test_a_goal_without_a_due_date_cannot_slip() -> None:
    found = forecast(due_date=None, p85_date=date(2027, 6, 1))
    assert forecast_slip(goal_info(due_date=None), found, grace_days=0) is None


# -- data ----------------------------------------------------------------------------------
def test_a_source_not_synced_within_its_threshold_is_stale() -> None:
    fact = connection_fact(last_success_at=NOW - timedelta(hours=24, minutes=1), state="failing")
    signal = data_stale(fact, now=NOW, hours=24)
    assert signal is not None
    assert signal.reason == (
        "last synced successfully 24 h ago, more than the 24 h allowed; the connection is failing"
    )
    assert signal.since == NOW - timedelta(minutes=1)
    assert signal.key == "data_stale:connection:1"


def test_a_source_synced_exactly_at_its_threshold_is_fresh() -> None:
    fact = connection_fact(last_success_at=NOW - timedelta(hours=24))
    assert data_stale(fact, now=NOW, hours=24) is None


def test_a_source_never_synced_is_stale_once_its_threshold_has_passed_since_it_was_added() -> None:
    fresh = connection_fact(last_success_at=None, created_at=NOW - timedelta(hours=2))
    old = connection_fact(last_success_at=None, created_at=NOW - timedelta(days=5))
    assert data_stale(fresh, now=NOW, hours=24) is None
    signal = data_stale(old, now=NOW, hours=24)
    assert signal is not None
    assert signal.reason.startswith("never synced successfully")
    assert signal.probability == 3  # more than three times the threshold


def test_records_we_can_no_longer_see_are_access_lost() -> None:
    since = NOW - 2 * DAY
    signal = access_lost(connection_fact(lost_items=12, lost_projects=1, lost_since=since))
    assert signal is not None
    assert (
        signal.reason
        == "12 item(s) and 1 project(s) can no longer be seen (access lost, not deleted)"
    )
    assert signal.since == since


def test_rejected_credentials_are_access_lost() -> None:
    signal = access_lost(connection_fact(state="needs_reauth", updated_at=NOW - DAY))
    assert signal is not None
    assert signal.reason.startswith("the tool rejects the connection's credentials")
    assert signal.since == NOW - DAY
    assert signal.probability == 4


def test_a_healthy_source_loses_nothing() -> None:
    assert access_lost(connection_fact()) is None


# -- keys ----------------------------------------------------------------------------------
def test_a_signal_key_round_trips() -> None:
    parsed = parse_key(signal_key("blocked_item", "item", 42))
    assert (parsed.kind, parsed.subject_type.value, parsed.subject_id) == (
        SignalKind.BLOCKED_ITEM,
        "item",
        42,
    )


@pytest.mark.parametrize(
    "key",
    ["", "overdue_item:item", "nonsense:item:1", "overdue_item:goal:1", "overdue_item:item:x"],
)
def test_a_malformed_signal_key_is_refused(key: str) -> None:
    with pytest.raises(InvalidRequest, match="is not a signal key"):
        parse_key(key)
