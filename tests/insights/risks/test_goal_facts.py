"""The binding to the goals feature: a real goal's scope, scope line (from its daily
snapshots), forecast and rollup feed scope_creep, forecast_slip and the goal's risk view."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from insights.goals.definitions import SelectorDraft, create_goal
from insights.goals.history import take_snapshots
from insights.risks import register
from insights.risks.goal_facts import StoreGoalFacts
from insights.risks.goal_view import goal_risks, set_thresholds, thresholds_of
from insights.risks.live import SignalQuery, live_signals
from insights.risks.settings import RiskSettings
from sync.model import StatusCategory
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from tests.builders_risks import NOW, TODAY, add_connection, row_id, work_item
from tests.builders_risks import store as write

DAY = timedelta(days=1)
BASELINE = NOW - 20 * DAY
SETTINGS = RiskSettings()


@pytest.fixture
def goal(db: sessionmaker[Session], box: SecretBox) -> int:
    """A goal over one connection: 20 items at its baseline, 30 now, 5 done in 20 days, due in
    5 days: its scope grew 50% and at its pace it cannot finish in time."""
    sales = add_connection(db, box)
    write(
        db, sales, now=BASELINE, items=[work_item(str(n), updated_at=BASELINE) for n in range(20)]
    )
    with unit_of_work(db) as session:
        created = create_goal(
            session,
            {
                "title": "Every sales team on the new CRM",
                "metric": "items_done",
                "status": "active",
                "start_date": BASELINE.date(),
                "due_date": TODAY + 5 * DAY,
            },
            [SelectorDraft(connection_id=sales)],
            now=BASELINE,
        )
        take_snapshots(session, now=BASELINE)
    grown = [work_item(str(n), updated_at=BASELINE + DAY) for n in range(20, 30)]
    write(db, sales, now=BASELINE + DAY, items=grown)
    for n in range(5):
        done_at = NOW - (2 * n + 1) * DAY
        finished = work_item(str(n), StatusCategory.DONE, updated_at=done_at, completed_at=done_at)
        write(db, sales, now=done_at, items=[finished])
    return created.id


def test_the_goal_scope_resolves_to_its_live_items_and_their_sources(
    db: sessionmaker[Session], goal: int
) -> None:
    with db() as session:
        scope = StoreGoalFacts(session, now=NOW).scope(goal)
    assert len(scope.item_ids) == 30
    assert scope.connection_ids == {1}
    assert len(scope.project_ids) == 1


def test_the_scope_line_runs_from_the_baseline_snapshot_to_today(
    db: sessionmaker[Session], goal: int
) -> None:
    with db() as session:
        line = StoreGoalFacts(session, now=NOW).scope_line(goal)
    assert line.unit == "items"
    assert [(p.day, p.size) for p in line.points] == [(BASELINE.date(), 20.0), (TODAY, 30.0)]


def test_a_real_goal_fires_scope_creep_and_forecast_slip(
    db: sessionmaker[Session], goal: int
) -> None:
    with db() as session:
        facts = StoreGoalFacts(session, now=NOW)
        report = live_signals(
            session, SignalQuery(goal_ids=[goal]), now=NOW, settings=SETTINGS, goal_facts=facts
        )
    found = {a.signal.kind.value: a.signal for a in report.signals}
    assert set(found) == {"scope_creep", "forecast_slip"}
    assert found["scope_creep"].reason.startswith("the scope grew 50% since the baseline")
    assert found["forecast_slip"].facts["verdict"] == "forecast"
    assert found["forecast_slip"].facts["due_date"] == "2026-11-25"


def test_a_goal_may_allow_more_scope_growth(db: sessionmaker[Session], goal: int) -> None:
    with unit_of_work(db) as session:
        facts = StoreGoalFacts(session, now=NOW)
        overrides = set_thresholds(
            session,
            goal,
            {"scope_creep_pct": 50},
            now=NOW,
            actor="lead",
            settings=SETTINGS,
            goal_facts=facts,
        )
    assert overrides.effective.scope_creep_pct == 50
    assert overrides.defaults.scope_creep_pct == 20
    with db() as session:
        facts = StoreGoalFacts(session, now=NOW)
        report = live_signals(
            session, SignalQuery(goal_ids=[goal]), now=NOW, settings=SETTINGS, goal_facts=facts
        )
        current = thresholds_of(session, goal, settings=SETTINGS, goal_facts=facts)
    assert {a.signal.kind.value for a in report.signals} == {"forecast_slip"}
    assert current.overrides["scope_creep_pct"] == 50


def test_the_goal_view_gathers_its_risks_signals_and_rollup(
    db: sessionmaker[Session], goal: int
) -> None:
    item = row_id(db, t.WorkItem, "25")
    with unit_of_work(db) as session:
        facts = StoreGoalFacts(session, now=NOW)
        linked = register.create_risk(
            session,
            {"title": "New accounts keep arriving", "probability": 3, "impact": 3},
            [("item", item)],
            now=NOW,
            actor="lead",
            settings=SETTINGS,
            goal_facts=facts,
        )
        register.create_risk(
            session,
            {"title": "Unrelated", "probability": 1, "impact": 1},
            now=NOW,
            actor="lead",
            settings=SETTINGS,
            goal_facts=facts,
        )
    with db() as session:
        view = goal_risks(
            session, goal, now=NOW, settings=SETTINGS, goal_facts=StoreGoalFacts(session, now=NOW)
        )
    assert [r.id for r in view.risks] == [linked.id]  # linked through an item of its scope
    assert {s.signal.kind.value for s in view.signals} == {"scope_creep", "forecast_slip"}
    assert view.unmanaged_signals == 2
    assert view.rollup.status in {"on_track", "at_risk", "off_track"}
    assert view.rollup.progress == pytest.approx(5 / 30, abs=1e-4)
