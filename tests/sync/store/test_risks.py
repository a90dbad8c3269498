"""The risk store: the SQL that narrows unified data to signal candidates, and the register's
repository (links, filters, history, per-goal thresholds)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from insights.risks.blockers import RAW_MARKERS
from sync.model import Milestone, StatusCategory
from sync.store import risks as store
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from sync.store.records import Scope, tombstone
from tests.builders_risks import NOW, TODAY, add_connection, jira_raw, row_id, work_item
from tests.builders_risks import store as write

DAY = timedelta(days=1)
TODO, DOING, DONE = StatusCategory.TODO, StatusCategory.IN_PROGRESS, StatusCategory.DONE


@pytest.fixture
def connection(db: sessionmaker[Session], box: SecretBox) -> int:
    return add_connection(db, box)


def candidates(db: sessionmaker[Session], **filters: object) -> dict[str, dict[str, object]]:
    with db() as session:
        rows = store.signal_item_rows(
            session,
            due_until=TODAY + 7 * DAY,
            stale_before=NOW - 14 * DAY,
            raw_markers=RAW_MARKERS,
            **filters,  # type: ignore[arg-type]
        )
    return {str(r["key"]): r for r in rows}


def test_item_candidates_are_open_live_items_that_could_fire(
    db: sessionmaker[Session], connection: int
) -> None:
    write(
        db,
        connection,
        items=[
            work_item("1", TODO, due=TODAY - DAY),  # overdue
            work_item("2", TODO, due=TODAY + 8 * DAY),  # due beyond the window
            work_item("3", DOING, updated_at=NOW - 15 * DAY),  # stale
            work_item("4", DOING, updated_at=NOW - 13 * DAY),  # recently touched
            work_item("5", TODO, blocked=True),  # blocked
            work_item("6", DONE, due=TODAY - DAY),  # done
            work_item("7", TODO),  # links to a blocker
            work_item("8", TODO, due=TODAY - DAY),  # deleted below
            work_item("9", TODO, due=TODAY - DAY),  # lost below
        ],
        raws={"7": jira_raw("7", ("1", "CRM-1", "new"))},
    )
    with unit_of_work(db) as session:
        tombstone(session, Scope(connection, "jira", NOW), "8")
        session.execute(
            update(t.WorkItem).where(t.WorkItem.vendor_id == "9").values(access_lost_at=NOW)
        )

    found = candidates(db)

    assert sorted(found) == ["CRM-1", "CRM-3", "CRM-5", "CRM-7"]
    assert found["CRM-1"]["raw"] is None
    assert '"issuelinks":[{' in str(found["CRM-7"]["raw"])
    assert found["CRM-1"]["connection_name"] == "sales"
    assert found["CRM-1"]["project_name"] == "CRM Rollout"
    assert found["CRM-1"]["assignee_name"] == "Ana"


def test_item_candidates_filter_by_connection_project_and_id(
    db: sessionmaker[Session], box: SecretBox, connection: int
) -> None:
    other = add_connection(db, box, name="ops")
    write(db, connection, items=[work_item("1", TODO, due=TODAY)])
    write(db, other, items=[work_item("2", TODO, due=TODAY)])
    first = row_id(db, t.WorkItem, "1")
    with db() as session:
        project = session.scalars(
            select(t.Project.id).where(t.Project.connection_id == connection)
        ).one()
    assert sorted(candidates(db, connection_ids=[other])) == ["CRM-2"]
    assert sorted(candidates(db, item_ids=[first])) == ["CRM-1"]
    assert sorted(candidates(db, project_ids=[project])) == ["CRM-1"]


def test_blockers_are_looked_up_by_vendor_id_within_a_connection(
    db: sessionmaker[Session], connection: int
) -> None:
    write(db, connection, items=[work_item("1", DOING), work_item("2", DONE)])
    with db() as session:
        found = store.items_by_vendor_id(session, connection, {"1", "2", "404"})
    assert {k: v["status_category"] for k, v in found.items()} == {
        "1": "in_progress",
        "2": "done",
    }


def test_milestone_candidates_carry_open_done_and_recent_counts(
    db: sessionmaker[Session], connection: int
) -> None:
    write(
        db,
        connection,
        milestones=[
            Milestone("M1", "P1", "Q4 launch", due_date=TODAY + 5 * DAY),
            Milestone("M2", "P1", "Pilot", due_date=TODAY - DAY, reached=True),
            Milestone("M3", "P1", "Someday"),
        ],
        items=[
            work_item("1", TODO, milestone="M1"),
            work_item("2", DOING, milestone="M1"),
            work_item("3", DONE, milestone="M1", completed_at=NOW - 2 * DAY),
            work_item("4", DONE, milestone="M1", completed_at=NOW - 40 * DAY),
            work_item("5", StatusCategory.CANCELLED, milestone="M1"),
        ],
    )
    with db() as session:
        rows = store.signal_milestone_rows(session, done_since=NOW - 28 * DAY)
    (row,) = rows
    assert row["name"] == "Q4 launch"
    assert (row["open_items"], row["done_items"], row["done_recently"]) == (2, 2, 1)
    assert row["due_date"] == date(2026, 11, 25)
    assert (row["tool"], row["connection_name"]) == ("jira", "sales")


def test_connection_health_counts_what_we_can_no_longer_see(
    db: sessionmaker[Session], connection: int
) -> None:
    write(db, connection, items=[work_item("1"), work_item("2"), work_item("3")])
    with unit_of_work(db) as session:
        session.execute(
            update(t.WorkItem)
            .where(t.WorkItem.vendor_id.in_(["1", "2"]))
            .values(access_lost_at=NOW - DAY)
        )
        session.execute(
            update(t.WorkItem).where(t.WorkItem.vendor_id == "1").values(access_lost_at=NOW)
        )
        session.execute(update(t.Project).values(access_lost_at=NOW))
    with db() as session:
        (row,) = store.connection_health_rows(session)
    assert (row["lost_items"], row["lost_projects"]) == (2, 1)
    assert row["lost_since"] == NOW - DAY
    assert row["last_success_at"] == NOW


def test_links_are_replaced_as_a_set(db: sessionmaker[Session]) -> None:
    with unit_of_work(db) as session:
        risk = store.insert_risk(session, _risk(), now=NOW)
        added, removed = store.replace_links(session, risk.id, [("item", 1), ("goal", 2)], now=NOW)
        assert (added, removed) == ([("goal", 2), ("item", 1)], [])
        added, removed = store.replace_links(
            session, risk.id, [("goal", 2), ("milestone", 3)], now=NOW
        )
        assert (added, removed) == ([("milestone", 3)], [("item", 1)])
        assert store.links_of(session, [risk.id]) == {risk.id: [("goal", 2), ("milestone", 3)]}


def _risk(**fields: object) -> dict[str, object]:
    values: dict[str, object] = {
        "title": "Migration slips",
        "probability": 2,
        "impact": 3,
        "score": 6,
        "status": "open",
        "contingency_steps": [],
    }
    return values | fields


def test_register_filters_run_in_sql(db: sessionmaker[Session]) -> None:
    with unit_of_work(db) as session:
        low = store.insert_risk(session, _risk(score=2, owner="Ana"), now=NOW)
        high = store.insert_risk(
            session, _risk(score=12, review_date=TODAY - DAY, category="Data"), now=NOW
        )
        closed = store.insert_risk(
            session, _risk(score=12, status="closed", review_date=TODAY - DAY), now=NOW
        )

    def ids(**filters: object) -> list[int]:
        with db() as session:
            rows = store.list_risks(
                session,
                store.RiskFilters(**filters),  # type: ignore[arg-type]
                after_id=None,
                limit=None,
            )
        return [r.id for r in rows]

    assert ids(score_ranges=[(10, 19)]) == [high.id, closed.id]
    assert ids(score_ranges=[(1, 4), (20, 25)]) == [low.id]
    assert ids(review_before=TODAY) == [high.id]
    assert ids(owners=["ana"], statuses=["open"]) == [low.id]
    assert ids(categories=["DATA"]) == [high.id]
    assert ids(ids=set()) == []
    with db() as session:
        page = store.list_risks(session, store.RiskFilters(), after_id=low.id, limit=1)
    assert [r.id for r in page] == [high.id]


def test_goal_thresholds_upsert_and_clear(db: sessionmaker[Session]) -> None:
    with unit_of_work(db) as session:
        store.set_goal_thresholds(session, 7, {"stale_days": 3}, now=NOW, actor="lead")
    with unit_of_work(db) as session:
        assert store.goal_thresholds(session, [7, 8]) == {
            7: {
                "due_soon_days": None,
                "stale_days": 3,
                "scope_creep_pct": None,
                "forecast_slip_days": None,
            }
        }
        store.set_goal_thresholds(session, 7, {"scope_creep_pct": 5.0}, now=NOW, actor="lead")
    with db() as session:
        assert store.goal_thresholds(session, [7])[7]["stale_days"] is None
        assert store.goal_thresholds(session, [7])[7]["scope_creep_pct"] == 5.0
