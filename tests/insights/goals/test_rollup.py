"""Rollup arithmetic: progress from baseline to target, the plan (linear or by milestones),
status by variance thresholds, provenance that adds up, and weighted nesting."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from insights.goals.model import GoalDef, GoalStatus, Metric, ProgressFrom, Thresholds
from insights.goals.rollup import (
    MeasurementRef,
    Rollup,
    RollupInputs,
    build_rollup,
    classify,
    contributions,
    expected_progress,
    progress_of,
    weighted_progress,
)
from sync.store.goals import ItemGroup

NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
START, DUE = date(2026, 11, 1), date(2026, 12, 31)


def goal(**fields: Any) -> GoalDef:
    values: dict[str, Any] = {
        "id": 1,
        "title": "Onboard every sales team to the CRM",
        "metric": Metric.ITEMS_DONE,
        "baseline": 0.0,
        "target": None,
        "status": GoalStatus.ACTIVE,
        "start_date": START,
        "due_date": DUE,
    }
    return GoalDef(**(values | fields))


def group(
    items: int,
    done: int,
    *,
    connection_id: int = 1,
    tool: str = "jira",
    project_id: int | None = 10,
    milestone_id: int | None = None,
    points: float = 0.0,
    points_done: float = 0.0,
    estimated: int = 0,
    deleted: int = 0,
    access_lost: int = 0,
    cancelled: int = 0,
) -> ItemGroup:
    return ItemGroup(
        connection_id,
        tool,
        project_id,
        milestone_id,
        items,
        done,
        points,
        points_done,
        estimated,
        deleted,
        access_lost,
        cancelled,
    )


def rollup(g: GoalDef, *groups: ItemGroup, **inputs: Any) -> Rollup:
    return build_rollup(g, RollupInputs(groups=groups, **inputs), now=NOW)


# -- properties ----------------------------------------------------------------------------
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(baseline=finite, target=finite)
def test_progress_is_0_at_the_baseline_and_1_at_the_target(baseline: float, target: float) -> None:
    assume(abs(target - baseline) > 1e-6)
    assert progress_of(baseline, baseline, target) == 0
    assert progress_of(target, baseline, target) == pytest.approx(1.0)


def test_no_progress_without_a_target_distinct_from_the_baseline() -> None:
    assert progress_of(5, 5, 5) is None
    assert progress_of(5, 0, None) is None


counts = st.lists(
    st.tuples(st.integers(0, 40), st.integers(0, 40)).map(lambda t: (max(t), min(t))),
    min_size=1,
    max_size=5,
)


@given(groups=counts, baseline=st.integers(0, 10), extra=st.integers(1, 50), data=st.data())
def test_progress_is_monotone_in_done_items(
    groups: list[tuple[int, int]], baseline: int, extra: int, data: st.DataObject
) -> None:
    g = goal(baseline=float(baseline), target=float(baseline + extra))
    before = [group(items, done, project_id=i) for i, (items, done) in enumerate(groups)]
    index = data.draw(st.integers(0, len(groups) - 1))
    items, done = groups[index]
    more = data.draw(st.integers(0, items - done))
    after = list(before)
    after[index] = group(items, done + more, project_id=index)
    first, second = rollup(g, *before), rollup(g, *after)
    assert first.progress is not None
    assert second.progress is not None
    assert second.progress >= first.progress
    assert second.current - first.current == more


@given(groups=counts)
def test_provenance_adds_up_to_the_totals(groups: list[tuple[int, int]]) -> None:
    r = rollup(
        goal(),
        *(
            group(items, done, project_id=i % 3, connection_id=i % 2 + 1)
            for i, (items, done) in enumerate(groups)
        ),
    )
    assert sum(s.items for s in r.sources) == r.scope_items
    assert sum(s.done for s in r.sources) == r.done_items
    assert sum(s.contribution for s in r.sources) == pytest.approx(r.current)
    if r.current:
        assert sum(s.share or 0 for s in r.sources) == pytest.approx(1.0, abs=1e-3)


weights = st.floats(min_value=0.01, max_value=100, allow_nan=False)
progresses = st.floats(min_value=-1, max_value=2, allow_nan=False)


@given(st.lists(st.tuples(weights, progresses), min_size=1, max_size=6), weights)
def test_nested_goals_roll_up_as_a_weighted_mean(
    parts: list[tuple[float, float]], scale: float
) -> None:
    clamped = [(w, min(1.0, max(0.0, p))) for w, p in parts]
    expected = sum(w * p for w, p in clamped) / sum(w for w, _ in clamped)
    result = weighted_progress(parts)
    assert result == pytest.approx(expected)
    # Weights are relative: scaling all of them changes nothing.
    assert weighted_progress([(w * scale, p) for w, p in parts]) == pytest.approx(expected)
    # Each child's contribution is its weighted share; together they are the parent.
    assert sum(c or 0 for c in contributions(parts)) == pytest.approx(expected)
    assert 0 <= (result or 0) <= 1


@given(
    today=st.dates(min_value=date(2026, 10, 1), max_value=date(2027, 2, 1)),
    later=st.integers(0, 60),
    shares=st.lists(
        st.tuples(
            st.one_of(st.none(), st.dates(min_value=date(2026, 10, 1), max_value=date(2027, 2, 1))),
            st.floats(min_value=0, max_value=50, allow_nan=False),
        ),
        max_size=6,
    ),
)
def test_the_plan_never_goes_backwards_and_ends_at_1(
    today: date, later: int, shares: list[tuple[date | None, float]]
) -> None:
    now, _ = expected_progress(today, START, DUE, shares)
    then, _ = expected_progress(today + timedelta(days=later), START, DUE, shares)
    assert now is not None
    assert then is not None
    assert 0 <= now <= then <= 1
    assert expected_progress(START, START, DUE, shares)[0] == 0
    assert expected_progress(DUE, START, DUE, shares)[0] == 1


# -- examples ------------------------------------------------------------------------------
def test_the_plan_is_linear_without_milestones() -> None:
    assert expected_progress(date(2026, 11, 16), START, DUE) == (0.25, "linear")
    assert expected_progress(date(2026, 10, 1), START, DUE) == (0.0, "linear")
    assert expected_progress(date(2027, 3, 1), START, DUE) == (1.0, "linear")
    assert expected_progress(date(2026, 11, 16), None, DUE) == (None, None)


def test_milestones_dates_shape_the_plan() -> None:
    # 6 of 10 items are due with a milestone on Nov 30; the rest by the goal's due date.
    shares = [(date(2026, 11, 30), 6.0), (None, 4.0)]
    at_milestone, plan = expected_progress(date(2026, 11, 30), START, DUE, shares)
    assert at_milestone == pytest.approx(0.6)
    assert plan == "milestones"
    halfway, _ = expected_progress(date(2026, 11, 15), START, DUE, shares)
    assert halfway == pytest.approx(0.6 * 14 / 29)
    december, _ = expected_progress(date(2026, 12, 15), START, DUE, shares)
    assert december == pytest.approx(0.6 + 0.4 * 15 / 31)


@pytest.mark.parametrize(
    ("progress", "expected", "status"),
    [
        (1.0, 0.5, "achieved"),
        (0.45, 0.5, "on_track"),
        (0.4, 0.5, "on_track"),  # exactly at the threshold is still on track
        (0.39, 0.5, "at_risk"),
        (0.25, 0.5, "at_risk"),
        (0.24, 0.5, "off_track"),
    ],
)
def test_status_follows_the_variance_thresholds(
    progress: float, expected: float, status: str
) -> None:
    result, reason = classify(progress, expected, Thresholds())
    assert result is not None
    assert result.value == status
    assert reason


def test_thresholds_are_the_goals_own_when_it_sets_them() -> None:
    strict = Thresholds(at_risk_below=-0.02, off_track_below=-0.05)
    assert classify(0.47, 0.5, strict)[0] == "at_risk"
    assert classify(0.44, 0.5, strict)[0] == "off_track"


def test_an_items_goal_counts_done_items_and_names_what_it_left_out() -> None:
    r = rollup(
        goal(target=20.0),
        group(10, 4, deleted=1, cancelled=2),
        group(6, 1, connection_id=2, tool="trello", project_id=20, access_lost=3),
        project_names={10: "CRM Rollout", 20: "Board"},
        connections={
            1: {
                "id": 1,
                "name": "jira",
                "tool": "jira",
                "state": "active",
                "last_success_at": NOW - timedelta(hours=2),
            },
            2: {
                "id": 2,
                "name": "trello",
                "tool": "trello",
                "state": "active",
                "last_success_at": NOW - timedelta(days=3),
            },
        },
    )
    assert (r.current, r.progress, r.expected_progress) == (5.0, 0.25, 0.25)
    assert (r.variance, r.status, r.plan) == (0.0, "on_track", "linear")
    assert (r.scope_items, r.done_items) == (16, 5)
    assert (r.exclusions.deleted, r.exclusions.access_lost, r.exclusions.cancelled) == (1, 3, 2)
    jira, trello = r.sources
    assert (jira.project_name, jira.contribution, jira.share) == ("CRM Rollout", 4.0, 0.8)
    assert (trello.tool, trello.excluded.access_lost) == ("trello", 3)
    assert [(f.connection_name, f.fresh) for f in r.freshness] == [
        ("jira", True),
        ("trello", False),
    ]


def test_without_a_target_the_goal_follows_its_scope() -> None:
    r = rollup(goal(target=None), group(8, 2))
    assert (r.target, r.target_from_scope, r.progress) == (8.0, True, 0.25)


def test_a_points_goal_counts_estimates() -> None:
    r = rollup(
        goal(metric=Metric.POINTS_DONE, target=40.0),
        group(5, 2, points=21.0, points_done=8.0, estimated=4),
        group(3, 3, points=5.0, points_done=5.0, estimated=3, project_id=11),
    )
    assert (r.current, r.progress, r.points_total, r.estimated_items) == (13.0, 0.325, 26.0, 7)
    assert [s.contribution for s in r.sources] == [8.0, 5.0]


def test_a_numeric_goal_is_its_latest_measurement() -> None:
    g = goal(metric=Metric.NUMERIC, baseline=100.0, target=300.0, unit="kEUR")
    measured = MeasurementRef(150.0, NOW - timedelta(days=1), "crm")
    r = build_rollup(g, RollupInputs(measurement=measured), now=NOW)
    assert (r.current, r.progress, r.measurement) == (150.0, 0.25, measured)
    none_yet = build_rollup(g, RollupInputs(), now=NOW)
    assert none_yet.current == 100.0
    assert "no measurement yet" in none_yet.status_reason


def test_a_goal_lowering_a_number_progresses_as_it_falls() -> None:
    g = goal(metric=Metric.NUMERIC, baseline=20.0, target=10.0)
    r = build_rollup(g, RollupInputs(measurement=MeasurementRef(15.0, NOW, None)), now=NOW)
    assert r.progress == 0.5


def test_a_parent_rolls_up_its_children_by_weight_leaving_out_cancelled_ones() -> None:
    a = goal(id=2, target=10.0, weight=3.0)
    b = goal(id=3, target=10.0, weight=1.0)
    c = goal(id=4, target=10.0, status=GoalStatus.CANCELLED)
    children = [
        (a, rollup(a, group(10, 10))),  # done: 1.0
        (b, rollup(b, group(10, 2))),  # 0.2
        (c, rollup(c, group(10, 0))),
    ]
    parent = goal(id=1, progress_from=ProgressFrom.CHILDREN, target=None)
    r = build_rollup(parent, RollupInputs(children=children), now=NOW)
    assert r.progress == pytest.approx((3 * 1.0 + 1 * 0.2) / 4)
    assert [c.goal_id for c in r.children] == [2, 3]
    assert sum(c.contribution or 0 for c in r.children) == pytest.approx(r.progress or 0)
    assert (r.plan, r.expected_progress) == ("children", 0.25)
