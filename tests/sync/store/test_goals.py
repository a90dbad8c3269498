"""Scope resolution in SQL: within a selector every field must match, across selectors any,
and an item matched twice is one item. Plus the history, measurement and snapshot queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sync.model import Milestone, Person, Project, StatusCategory, Tool
from sync.store import goals as store
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from sync.store.goal_tables import GoalSnapshot
from sync.store.goals import ScopeSelector
from sync.store.records import Scope, tombstone
from tests.builders_goals import T0, item, make_connection, make_goal, write
from tests.fakes import FakeClock

DONE, TODO = StatusCategory.DONE, StatusCategory.TODO
ANA = Person("u-ana", "Ana", "ana@example.com")
BEN = Person("u-ben", "Ben", "ben@example.com")


@dataclass(frozen=True)
class Row:
    """What the reference matcher knows of one stored item."""

    id: int
    connection_id: int
    project_id: int | None
    milestone_id: int | None
    assignee_id: int | None
    labels: frozenset[str]
    item_type: str | None


@dataclass
class World:
    jira: int
    trello: int
    projects: dict[str, int]
    milestone: int
    people: dict[str, int]
    rows: list[Row]
    ids: dict[str, int]


@pytest.fixture
def world(db: sessionmaker[Session], box: SecretBox, clock: FakeClock) -> World:
    now = clock()
    jira = make_connection(db, box, name="jira", tool=Tool.JIRA, now=now, synced_at=now)
    trello = make_connection(db, box, name="trello", tool=Tool.TRELLO, now=now, synced_at=now)
    cancelled = StatusCategory.CANCELLED
    write(
        db,
        jira,
        Tool.JIRA,
        now=now,
        projects=[Project("P1", "CRM", "CRM Rollout"), Project("P2", "PIPE", "Pipeline")],
        milestones=[Milestone("M1", "P1", "Q4 launch", due_date=date(2026, 12, 15))],
        items=[
            item("1", DONE, labels=["q4", "emea"], estimate=3, milestone="M1", assignee=ANA),
            item(
                "2", TODO, labels=["q4"], item_type="Bug", estimate=5, milestone="M1", assignee=BEN
            ),
            item("3", cancelled, labels=["q4", "emea"], estimate=8),
            item("4", DONE, project="P2", labels=["emea"], item_type="Story", assignee=ANA),
            item("5", StatusCategory.IN_PROGRESS, project="P2", item_type="Bug", assignee=BEN),
            item("6", DONE, labels=["emea"], estimate=1),
        ],
    )
    write(
        db,
        trello,
        Tool.TRELLO,
        now=now,
        projects=[Project("B1", None, "Board")],
        items=[
            item("7", DONE, project="B1", labels=["q4"], item_type="card"),
            item("8", TODO, project="B1", labels=["EMEA"], item_type="card"),
        ],
    )
    with db() as session:
        rows = [
            Row(
                r.id,
                r.connection_id,
                r.project_id,
                r.milestone_id,
                r.assignee_id,
                frozenset(r.labels),
                r.item_type,
            )
            for r in session.scalars(select(t.WorkItem).order_by(t.WorkItem.id))
        ]
        ids = {r.vendor_id: r.id for r in session.scalars(select(t.WorkItem))}
        projects = {p.vendor_id: p.id for p in session.scalars(select(t.Project))}
        milestone = session.scalars(select(t.Milestone.id)).one()
        people = {(p.email or "").split("@")[0]: p.id for p in session.scalars(select(t.Person))}
    return World(jira, trello, projects, milestone, people, rows, ids)


def resolve(db: sessionmaker[Session], *selectors: ScopeSelector) -> set[int]:
    with db() as session:
        return set(store.scope_item_ids(session, list(selectors)))


def vendor(world: World, *vendor_ids: str) -> set[int]:
    return {world.ids[v] for v in vendor_ids}


def test_within_a_selector_every_given_field_must_match(
    db: sessionmaker[Session], world: World
) -> None:
    both = ScopeSelector(connection_id=world.jira, labels=("q4", "emea"))
    assert resolve(db, both) == vendor(world, "1", "3")
    bugs_in_p1 = ScopeSelector(project_id=world.projects["P1"], item_types=("Bug",))
    assert resolve(db, bugs_in_p1) == vendor(world, "2")
    anas_on_m1 = ScopeSelector(milestone_id=world.milestone, assignee_id=world.people["ana"])
    assert resolve(db, anas_on_m1) == vendor(world, "1")


def test_labels_must_all_be_present_types_may_be_any_and_labels_are_exact(
    db: sessionmaker[Session], world: World
) -> None:
    assert resolve(db, ScopeSelector(labels=("q4",))) == vendor(world, "1", "2", "3", "7")
    assert resolve(db, ScopeSelector(labels=("emea",))) == vendor(world, "1", "3", "4", "6")
    assert resolve(db, ScopeSelector(item_types=("Bug", "Story"))) == vendor(world, "2", "4", "5")


def test_across_selectors_any_matches(db: sessionmaker[Session], world: World) -> None:
    scope = (
        ScopeSelector(project_id=world.projects["P2"]),
        ScopeSelector(connection_id=world.trello),
    )
    assert resolve(db, *scope) == vendor(world, "4", "5", "7", "8")
    assert resolve(db) == set()


def test_an_item_matched_by_two_selectors_counts_once_and_exclusions_say_why(
    db: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    with unit_of_work(db) as session:
        tombstone(session, Scope(world.jira, "jira", clock()), "6")
    selectors = [ScopeSelector(project_id=world.projects["P1"]), ScopeSelector(labels=("q4",))]
    with db() as session:
        groups = store.scope_item_groups(session, selectors)
    totals = {
        name: sum(getattr(g, name) for g in groups)
        for name in ("items", "done", "points", "points_done", "deleted", "cancelled")
    }
    # 1, 2, 7 count (3 is cancelled, 6 deleted); 1 and 2 match both selectors.
    assert totals == {
        "items": 3,
        "done": 2,
        "points": 8.0,
        "points_done": 3.0,
        "deleted": 1,
        "cancelled": 1,
    }
    by_milestone = {(g.connection_id, g.milestone_id): g.items for g in groups}
    assert by_milestone[(world.jira, world.milestone)] == 2


SELECTOR_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "connection": st.sampled_from(["jira", "trello"]),
        "project": st.sampled_from(["P1", "P2", "B1"]),
        "labels": st.lists(st.sampled_from(["q4", "emea", "EMEA"]), min_size=1, max_size=2),
        "item_types": st.lists(st.sampled_from(["Task", "Bug", "Story", "card"]), min_size=1),
        "milestone": st.just(True),
        "assignee": st.sampled_from(["ana", "ben"]),
    },
)


def build(world: World, fields: dict[str, Any]) -> ScopeSelector:
    return ScopeSelector(
        connection_id={"jira": world.jira, "trello": world.trello}.get(
            fields.get("connection", "")
        ),
        project_id=world.projects.get(fields.get("project", "")),
        milestone_id=world.milestone if fields.get("milestone") else None,
        assignee_id=world.people.get(fields.get("assignee", "")),
        labels=tuple(fields.get("labels", ())),
        item_types=tuple(fields.get("item_types", ())),
    )


def matches(s: ScopeSelector, row: Row) -> bool:
    """The reference semantics, in plain Python."""
    return (
        (s.connection_id is None or row.connection_id == s.connection_id)
        and (s.project_id is None or row.project_id == s.project_id)
        and (s.milestone_id is None or row.milestone_id == s.milestone_id)
        and (s.assignee_id is None or row.assignee_id == s.assignee_id)
        and set(s.labels) <= row.labels
        and (not s.item_types or row.item_type in s.item_types)
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(SELECTOR_FIELDS, min_size=1, max_size=3))
def test_the_sql_scope_is_the_union_of_the_selectors_each_item_once(
    db: sessionmaker[Session], world: World, selector_fields: list[dict[str, Any]]
) -> None:
    selectors = [build(world, f) for f in selector_fields]
    expected = {r.id for r in world.rows if any(matches(s, r) for s in selectors)}
    assert resolve(db, *selectors) == expected
    # Naming a selector twice, or adding one already covered, changes nothing.
    assert resolve(db, *selectors, *selectors) == expected
    with db() as session:
        groups = store.scope_item_groups(session, [*selectors, selectors[0]])
    counted = sum(g.items + g.cancelled + g.deleted + g.access_lost for g in groups)
    assert counted == len(expected)


def test_milestone_scopes_ignore_selectors_that_only_pick_items(
    db: sessionmaker[Session], world: World
) -> None:
    with db() as session:
        by_project = store.scope_milestones(
            session, [ScopeSelector(project_id=world.projects["P1"])]
        )
        by_label = store.scope_milestones(session, [ScopeSelector(labels=("q4",))])
    assert [m.id for m in by_project] == [world.milestone]
    assert by_label == []


def test_completion_events_follow_items_into_and_out_of_done(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock
) -> None:
    now = clock()
    conn = make_connection(db, box, name="jira", tool=Tool.JIRA, now=now)
    day = timedelta(days=1)
    write(db, conn, Tool.JIRA, now=now, items=[item("A", TODO, estimate=2), item("B", TODO)])
    write(
        db, conn, Tool.JIRA, now=now, items=[item("A", DONE, estimate=2, updated_at=T0 + 2 * day)]
    )
    write(
        db, conn, Tool.JIRA, now=now, items=[item("A", TODO, estimate=2, updated_at=T0 + 3 * day)]
    )
    write(db, conn, Tool.JIRA, now=now, items=[item("B", DONE, updated_at=T0 + 4 * day)])
    selectors = [ScopeSelector(connection_id=conn)]
    with db() as session:
        events = store.completion_events(session, selectors, since=T0, until=T0 + 10 * day)
        late = store.completion_events(session, selectors, since=T0 + 4 * day, until=T0 + 10 * day)
        began = store.history_start(session, selectors)
    assert [(e.at, e.delta, e.estimate) for e in events] == [
        (T0 + 2 * day, 1, 2.0),
        (T0 + 3 * day, -1, 2.0),
        (T0 + 4 * day, 1, None),
    ]
    assert len(late) == 1
    assert began == T0


def test_a_day_snapshot_taken_twice_is_one_row_with_the_later_reading(
    db: sessionmaker[Session], clock: FakeClock
) -> None:
    goal = make_goal(db, now=clock(), metric="numeric", target=10)
    row: dict[str, Any] = {
        "goal_id": goal.id,
        "day": date(2026, 11, 20),
        "taken_at": clock(),
        "value": 1.0,
        "target": 10.0,
        "progress": 0.1,
        "expected_progress": None,
        "status": None,
        "scope_items": 0,
        "done_items": 0,
        "scope_points": 0.0,
        "done_points": 0.0,
        "rollup": {"current": 1.0},
    }
    for value in (1.0, 4.0):
        with unit_of_work(db) as session:
            store.upsert_snapshots(session, [{**row, "value": value, "rollup": {"current": value}}])
    with db() as session:
        rows = session.scalars(select(GoalSnapshot)).all()
        assert [(r.value, r.rollup) for r in rows] == [(4.0, {"current": 4.0})]
        assert session.scalar(select(func.count()).select_from(GoalSnapshot)) == 1


def test_the_latest_measurement_per_goal_is_the_last_measured_not_the_last_sent(
    db: sessionmaker[Session], clock: FakeClock
) -> None:
    now = clock()
    first = make_goal(db, now=now, metric="numeric", target=100)
    second = make_goal(db, now=now, metric="numeric", target=100)
    hour = timedelta(hours=1)
    with unit_of_work(db) as session:
        for goal_id, value, at in (
            (first.id, 30.0, now - 2 * hour),
            (first.id, 10.0, now - 5 * hour),  # sent later, measured earlier
            (second.id, 50.0, now - hour),
            (second.id, 70.0, now + hour),  # after the moment asked about
        ):
            store.add_measurement(
                session, goal_id, value=value, measured_at=at, source=None, note=None, now=now
            )
    with db() as session:
        latest = store.latest_measurements(session, [first.id, second.id], until=now)
    assert {g: m.value for g, m in latest.items()} == {first.id: 30.0, second.id: 50.0}


def test_ancestors_walk_up_the_parents(db: sessionmaker[Session], clock: FakeClock) -> None:
    top = make_goal(db, now=clock(), metric="numeric", target=1)
    middle = make_goal(db, now=clock(), metric="numeric", target=1, parent_id=top.id)
    low = make_goal(db, now=clock(), metric="numeric", target=1, parent_id=middle.id)
    with db() as session:
        assert store.ancestors(session, low.id) == [middle.id, top.id]
        assert store.ancestors(session, top.id) == []
