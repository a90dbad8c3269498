"""Forecasts from constructed histories: steady, stalled and accelerating paces, too little
history, and a seeded simulation that a test can pin."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from insights.goals.definitions import SelectorDraft
from insights.goals.forecast import (
    ForecastSettings,
    daily_series,
    forecast_from,
    forecast_goal,
    percentile,
    simulate,
)
from insights.goals.model import GoalDef, GoalStatus, Metric
from sync.model import Milestone, Project, StatusCategory, Tool
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from sync.store.goals import add_measurement
from tests.builders_goals import item, make_connection, make_goal, write
from tests.fakes import FakeClock

TODAY = date(2026, 11, 20)  # the FakeClock's day
DAY = timedelta(days=1)


def goal(**fields: Any) -> GoalDef:
    values: dict[str, Any] = {
        "id": 1,
        "title": "Close the Q4 onboarding backlog",
        "metric": Metric.ITEMS_DONE,
        "baseline": 0.0,
        "target": 40.0,
        "status": GoalStatus.ACTIVE,
        "start_date": date(2026, 10, 1),
        "due_date": TODAY + timedelta(days=20),
    }
    return GoalDef(**(values | fields))


def forecast(samples: list[float], *, current: float = 26.0, **settings: Any) -> Any:
    return forecast_from(
        goal(),
        today=TODAY,
        current=current,
        target=40.0,
        samples=samples,
        window_start=TODAY - timedelta(days=28),
        history_days=len(samples),
        settings=ForecastSettings(**settings),
    )


# -- pure ----------------------------------------------------------------------------------
def test_a_steady_pace_finishes_on_the_day_the_arithmetic_says() -> None:
    result = forecast([1.0] * 28)  # 14 left, one a day
    assert result.verdict == "forecast"
    assert result.p50_date == result.p85_date == TODAY + timedelta(days=14)
    assert result.probability_by_due == 1.0
    assert (result.recent_pace_per_week, result.pace_needed_per_week) == (7.0, 4.9)
    assert result.completed_in_window == 28.0
    assert [d.day for d in result.daily][:2] == [TODAY - timedelta(days=28), TODAY - 27 * DAY]


def test_a_stalled_scope_gets_no_date_and_no_chance() -> None:
    result = forecast([0.0] * 28)
    assert result.verdict == "stalled"
    assert (result.p50_date, result.p85_date, result.probability_by_due) == (None, None, 0.0)
    assert "nothing was completed in the last 28 days" in result.reason
    assert result.pace_needed_per_week == 4.9


def test_too_little_history_says_so_instead_of_inventing_a_date() -> None:
    result = forecast([3.0, 2.0, 4.0])
    assert result.verdict == "insufficient_history"
    assert result.p50_date is None
    assert result.probability_by_due is None
    assert "only 3 day(s) of history" in result.reason


def test_an_achieved_goal_needs_no_simulation() -> None:
    result = forecast([1.0] * 28, current=40.0)
    assert (result.verdict, result.remaining, result.p50_date) == ("achieved", 0.0, TODAY)


def test_the_seeded_simulation_is_pinned_and_the_seed_matters() -> None:
    lumpy = [0.0, 0.0, 3.0, 1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 5.0] * 2 + [0.0] * 8
    first, again = forecast(lumpy, seed=7), forecast(lumpy, seed=7)
    assert first == again
    assert (first.p50_date, first.p85_date) == (date(2026, 12, 8), date(2026, 12, 18))
    assert first.probability_by_due == 0.602
    other = forecast(lumpy, seed=8)
    assert (other.p50_date, other.p85_date) != (None, None)
    assert first.p50_date is not None
    assert first.p85_date is not None
    assert first.p50_date < first.p85_date  # the cautious date is later


def test_percentiles_rank_never_last() -> None:
    assert percentile([5, 1, 3, 2, 4], 0.5) == 3
    assert percentile([5, 1, 3, 2, 4], 0.85) == 5
    assert percentile([1, None, None], 0.5) is None
    assert percentile([], 0.5) is None


def test_simulation_stops_at_the_horizon() -> None:
    assert simulate(100.0, [0.1], trials=3, seed=0, horizon_days=50) == [None, None, None]
    assert simulate(2.0, [1.0], trials=2, seed=0, horizon_days=50) == [2, 2]


def test_daily_series_bins_events_by_day_with_zeros() -> None:
    start = date(2026, 11, 1)
    events = [(date(2026, 11, 1), 1.0), (date(2026, 11, 3), 2.0), (date(2026, 11, 3), -1.0)]
    assert daily_series(events, start, date(2026, 11, 5)) == [1.0, 0.0, 1.0, 0.0]


# -- from the store --------------------------------------------------------------------------
def build_history(
    db: sessionmaker[Session],
    box: SecretBox,
    now: datetime,
    *,
    per_day: list[int],
    still_open: int,
    first_seen: datetime,
) -> int:
    """Items completed per day for the days before today (oldest first), plus open ones."""
    connection = make_connection(db, box, name="jira", tool=Tool.JIRA, now=now, synced_at=now)
    total = sum(per_day) + still_open
    write(
        db,
        connection,
        Tool.JIRA,
        now=now,
        items=[item(str(n), updated_at=first_seen) for n in range(total)],
    )
    n = 0
    start = datetime.combine(TODAY - timedelta(days=len(per_day)), datetime.min.time(), UTC)
    completions = []
    for offset, count in enumerate(per_day):
        for _ in range(count):
            at = start + offset * DAY + timedelta(hours=12)
            completions.append(item(str(n), StatusCategory.DONE, updated_at=at))
            n += 1
    write(db, connection, Tool.JIRA, now=now, items=completions)
    return connection


def goal_over(db: sessionmaker[Session], connection: int, now: datetime) -> int:
    return make_goal(
        db,
        now=now,
        scope=[SelectorDraft(connection_id=connection)],
        start_date=date(2026, 9, 1),
        due_date=TODAY + timedelta(days=20),
        status="active",
    ).id


def test_steady_history_from_item_changes(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock
) -> None:
    now = clock()
    connection = build_history(
        db, box, now, per_day=[1] * 28, still_open=14, first_seen=now - 60 * DAY
    )
    goal_id = goal_over(db, connection, now)
    with db() as session:
        result = forecast_goal(session, goal_id, now=now)
    assert (result.verdict, result.history_days, result.completed_in_window) == ("forecast", 28, 28)
    assert (result.current, result.target, result.remaining) == (28.0, 42.0, 14.0)
    assert result.p50_date == result.p85_date == TODAY + timedelta(days=14)
    assert result.probability_by_due == 1.0


def test_a_stalled_history_from_item_changes(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock
) -> None:
    now = clock()
    # Ten done long ago, nothing since.
    connection = build_history(
        db, box, now, per_day=[10] + [0] * 59, still_open=5, first_seen=now - 90 * DAY
    )
    goal_id = goal_over(db, connection, now)
    with db() as session:
        result = forecast_goal(session, goal_id, now=now)
    assert result.verdict == "stalled"
    assert result.probability_by_due == 0.0


def test_an_accelerating_scope_forecasts_earlier_with_a_shorter_window(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock
) -> None:
    now = clock()
    connection = build_history(
        db, box, now, per_day=[0] * 21 + [3] * 7, still_open=30, first_seen=now - 60 * DAY
    )
    goal_id = goal_over(db, connection, now)
    with db() as session:
        recent = forecast_goal(session, goal_id, now=now, settings=ForecastSettings(window_days=7))
        long = forecast_goal(session, goal_id, now=now, settings=ForecastSettings(window_days=28))
    assert recent.p50_date == TODAY + timedelta(days=10)
    assert recent.recent_pace_per_week == 21.0
    assert long.recent_pace_per_week == 5.25
    assert long.p50_date is not None
    assert long.p50_date > TODAY + timedelta(days=30)
    assert recent.probability_by_due == 1.0
    assert long.probability_by_due is not None
    assert long.probability_by_due < 0.2


def test_a_scope_first_seen_days_ago_has_too_little_history(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock
) -> None:
    now = clock()
    connection = build_history(db, box, now, per_day=[2, 2], still_open=9, first_seen=now - 3 * DAY)
    goal_id = goal_over(db, connection, now)
    with db() as session:
        result = forecast_goal(session, goal_id, now=now)
    assert (result.verdict, result.history_days, result.p50_date) == (
        "insufficient_history",
        3,
        None,
    )


def test_a_numeric_goal_forecasts_from_its_measurements(
    db: sessionmaker[Session], clock: FakeClock
) -> None:
    now = clock()
    goal_id = make_goal(
        db,
        now=now,
        metric="numeric",
        baseline=0.0,
        target=600.0,
        start_date=date(2026, 10, 1),
        due_date=TODAY + timedelta(days=30),
    ).id
    with unit_of_work(db) as session:
        for back in range(28, 0, -1):  # +10 a day: 280 by yesterday
            add_measurement(
                session,
                goal_id,
                value=10.0 * (29 - back),
                measured_at=now - back * DAY,
                source="crm",
                note=None,
                now=now,
            )
    with db() as session:
        result = forecast_goal(session, goal_id, now=now)
    assert (result.verdict, result.current, result.remaining) == ("forecast", 280.0, 320.0)
    assert result.p50_date == TODAY + timedelta(days=32)
    assert result.recent_pace_per_week == 70.0


def test_a_milestones_goal_forecasts_from_milestones_reached(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock
) -> None:
    now = clock()
    connection = make_connection(db, box, name="jira", tool=Tool.JIRA, now=now, synced_at=now)
    releases = [
        Milestone(
            f"M{n}",
            "P1",
            f"Release {n}",
            due_date=TODAY + timedelta(days=7 * n),
            reached=n < 8,
            reached_at=now - timedelta(days=28 - 3 * n) if n < 8 else None,
        )
        for n in range(12)
    ]
    write(
        db,
        connection,
        Tool.JIRA,
        now=now,
        projects=[Project("P1", "CRM", "CRM Rollout")],
        milestones=releases,
    )
    goal_id = make_goal(
        db,
        now=now,
        metric="milestones_reached",
        scope=[SelectorDraft(connection_id=connection)],
        start_date=date(2026, 9, 1),
        due_date=TODAY + timedelta(days=60),
    ).id
    with db() as session:
        result = forecast_goal(session, goal_id, now=now)
    assert (result.verdict, result.current, result.target) == ("forecast", 8.0, 12.0)
    assert (result.completed_in_window, result.recent_pace_per_week) == (8.0, 2.0)
    assert result.p50_date is not None
    assert result.probability_by_due == 1.0
