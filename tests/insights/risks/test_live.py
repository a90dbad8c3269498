"""Live signals over the store (goals through a fake of their interface), coverage by the
register, promotion, and the history every change leaves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from insights.risks import register
from insights.risks.goal_facts import GoalForecast, GoalScope
from insights.risks.live import SignalQuery, find_signal, live_signals
from insights.risks.settings import RiskSettings, Severity
from insights.risks.signals import SignalKind
from sync.errors import Conflict, InvalidRequest, NotFound
from sync.model import Milestone, Person, StatusCategory
from sync.store import risks as store
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from tests.builders_risks import (
    NOW,
    TODAY,
    FakeGoalFacts,
    add_connection,
    goal_info,
    jira_raw,
    row_id,
    scope_line,
    work_item,
)
from tests.builders_risks import store as write

DAY = timedelta(days=1)
TODO, DOING, DONE = StatusCategory.TODO, StatusCategory.IN_PROGRESS, StatusCategory.DONE
SETTINGS = RiskSettings()
NOBODY: Person | None = None


@pytest.fixture
def facts() -> FakeGoalFacts:
    return FakeGoalFacts()


@pytest.fixture
def portfolio(db: sessionmaker[Session], box: SecretBox) -> dict[str, int]:
    """One Jira connection with one item or milestone per signal kind, and a stale one."""
    sales = add_connection(db, box)
    add_connection(db, box, name="ops", synced_at=NOW - 2 * DAY)
    write(
        db,
        sales,
        milestones=[
            Milestone("M-late", "P1", "Pilot", due_date=TODAY - 2 * DAY),
            Milestone("M-tight", "P1", "Q4 launch", due_date=TODAY + 3 * DAY),
        ],
        items=[
            work_item("1", TODO, due=TODAY - DAY, milestone="M-tight"),
            work_item("2", TODO, due=TODAY + 3 * DAY, assignee=NOBODY, milestone="M-tight"),
            work_item("3", DOING, updated_at=NOW - 20 * DAY),
            work_item("4", TODO, blocked=True, status_name="Blocked"),
            work_item("5", TODO),  # blocked by 3, which is not finished
            work_item("6", TODO),  # blocked by 7, which is done: quiet
            work_item("7", DONE, completed_at=NOW - 40 * DAY),
            work_item("8", TODO, due=TODAY + 10 * DAY, assignee=NOBODY),  # beyond 7 days
            work_item("9", TODO, milestone="M-late"),
        ],
        raws={
            "5": jira_raw("5", ("3", "CRM-3", "indeterminate")),
            "6": jira_raw("6", ("7", "CRM-7", "new")),  # stale embedded state: the store wins
        },
    )
    ids = {f"item{n}": row_id(db, t.WorkItem, str(n)) for n in range(1, 10)}
    ids |= {"late": row_id(db, t.Milestone, "M-late"), "tight": row_id(db, t.Milestone, "M-tight")}
    return ids | {"sales": sales}


def keys(db: sessionmaker[Session], facts: FakeGoalFacts, **query: object) -> list[str]:
    with db() as session:
        report = live_signals(
            session,
            SignalQuery(**query),  # type: ignore[arg-type]
            now=NOW,
            settings=SETTINGS,
            goal_facts=facts,
        )
    return sorted(a.signal.key for a in report.signals)


def test_every_kind_fires_from_stored_data(
    db: sessionmaker[Session], facts: FakeGoalFacts, portfolio: dict[str, int]
) -> None:
    found = keys(db, facts)
    i, late, tight = portfolio, portfolio["late"], portfolio["tight"]
    assert found == sorted(
        [
            f"overdue_item:item:{i['item1']}",
            f"unassigned_due_soon:item:{i['item2']}",
            f"stale_item:item:{i['item3']}",
            f"blocked_item:item:{i['item4']}",
            f"blocked_item:item:{i['item5']}",
            f"overdue_milestone:milestone:{late}",
            f"milestone_at_risk:milestone:{tight}",
            "data_stale:connection:2",
        ]
    )


def test_a_blocking_link_names_the_stored_blocker_and_links_to_it(
    db: sessionmaker[Session], facts: FakeGoalFacts, portfolio: dict[str, int]
) -> None:
    with db() as session:
        found = find_signal(
            session,
            f"blocked_item:item:{portfolio['item5']}",
            now=NOW,
            settings=SETTINGS,
            goal_facts=facts,
        )
    assert found is not None
    assert found.signal.reason == "blocked by CRM-3 (not finished)"
    assert [ref.id for ref in found.signal.items] == [portfolio["item5"], portfolio["item3"]]


def test_signals_filter_by_kind_severity_connection_and_project(
    db: sessionmaker[Session], facts: FakeGoalFacts, portfolio: dict[str, int]
) -> None:
    assert keys(db, facts, kinds=[SignalKind.STALE_ITEM]) == [
        f"stale_item:item:{portfolio['item3']}"
    ]
    high = keys(db, facts, severities=[Severity.HIGH])
    assert high == sorted(
        [
            f"overdue_milestone:milestone:{portfolio['late']}",
            f"milestone_at_risk:milestone:{portfolio['tight']}",
        ]
    )
    assert keys(db, facts, connection_ids=[2]) == ["data_stale:connection:2"]
    with db() as session:
        project = session.query(t.Project.id).scalar()
    by_project = keys(db, facts, project_ids=[project])
    assert "data_stale:connection:2" not in by_project  # ops holds no such project
    assert len(by_project) == 7


def test_a_goal_filter_keeps_its_scope_and_judges_it_by_its_thresholds(
    db: sessionmaker[Session], facts: FakeGoalFacts, portfolio: dict[str, int]
) -> None:
    goal = facts.add(
        goal_info(id=9),
        scope=GoalScope(
            item_ids=frozenset({portfolio["item2"], portfolio["item8"]}),
            milestone_ids=frozenset({portfolio["tight"]}),
            connection_ids=frozenset({portfolio["sales"]}),
        ),
        line=scope_line(("2026-11-01", 10), ("2026-11-20", 15)),
    )
    with unit_of_work(db) as session:
        store.set_goal_thresholds(session, goal.id, {"due_soon_days": 14}, now=NOW, actor="lead")

    found = keys(db, facts, goal_ids=[goal.id])

    assert found == sorted(
        [
            f"unassigned_due_soon:item:{portfolio['item2']}",
            f"unassigned_due_soon:item:{portfolio['item8']}",  # due in 10 days: within 14
            f"milestone_at_risk:milestone:{portfolio['tight']}",
            "scope_creep:goal:9",
        ]
    )
    # Without the goal the global 7 days hold, and the goal's own signals still show.
    assert f"unassigned_due_soon:item:{portfolio['item8']}" not in keys(db, facts)
    assert "scope_creep:goal:9" in keys(db, facts)


def test_an_unknown_goal_in_the_filter_is_named(
    db: sessionmaker[Session], facts: FakeGoalFacts
) -> None:
    with pytest.raises(InvalidRequest, match="no goal 404"):
        keys(db, facts, goal_ids=[404])


def test_goal_signals_come_from_each_active_goal(
    db: sessionmaker[Session], facts: FakeGoalFacts
) -> None:
    late = goal_info(id=1, due_date=TODAY + 10 * DAY)
    facts.add(
        late,
        forecast=GoalForecast("forecast", "", late.due_date, TODAY + 12 * DAY, TODAY + 20 * DAY),
    )
    facts.add(
        goal_info(id=2, status="draft"), line=scope_line(("2026-11-01", 1), ("2026-11-20", 9))
    )
    assert keys(db, facts) == ["forecast_slip:goal:1"]


def create(
    db: sessionmaker[Session], facts: FakeGoalFacts, links: list[tuple[str, int]], **fields: object
) -> register.RiskView:
    values = {"title": "Pilot slips", "probability": 3, "impact": 2} | fields
    with unit_of_work(db) as session:
        return register.create_risk(
            session, values, links, now=NOW, actor="lead", settings=SETTINGS, goal_facts=facts
        )


def promote(db: sessionmaker[Session], facts: FakeGoalFacts, key: str) -> register.RiskView:
    with unit_of_work(db) as session:
        return register.promote(
            session, key, {}, now=NOW, actor="lead", settings=SETTINGS, goal_facts=facts
        )


def coverage(db: sessionmaker[Session], facts: FakeGoalFacts) -> dict[str, tuple[int, ...]]:
    with db() as session:
        report = live_signals(session, SignalQuery(), now=NOW, settings=SETTINGS, goal_facts=facts)
    return {a.signal.key: a.covered_by for a in report.signals}


def test_a_promoted_signal_is_covered_and_leaves_the_unmanaged_list(
    db: sessionmaker[Session], facts: FakeGoalFacts, portfolio: dict[str, int]
) -> None:
    key = f"overdue_item:item:{portfolio['item1']}"
    risk = promote(db, facts, key)

    assert (risk.probability, risk.impact, risk.severity) == (4, 2, "medium")
    assert risk.title == "Overdue item: Item 1"
    assert risk.category == "schedule"
    assert risk.description == "due 2026-11-19, 1 day ago, and still todo"
    assert risk.source_signal_key == key
    assert [(link.target_type, link.target_id) for link in risk.links] == [
        ("item", portfolio["item1"]),
        ("milestone", portfolio["tight"]),
    ]
    covered = coverage(db, facts)
    assert covered[key] == (risk.id,)
    # It links the item's milestone, but only covers its own signal.
    assert covered[f"milestone_at_risk:milestone:{portfolio['tight']}"] == ()
    assert key not in keys(db, facts, unmanaged=True)
    assert keys(db, facts, unmanaged=False) == [key]


def test_a_signal_is_promoted_once_while_its_risk_is_open(
    db: sessionmaker[Session], facts: FakeGoalFacts, portfolio: dict[str, int]
) -> None:
    key = f"stale_item:item:{portfolio['item3']}"
    first = promote(db, facts, key)
    with pytest.raises(Conflict, match=f"already in the register as risk {first.id}"):
        promote(db, facts, key)
    with unit_of_work(db) as session:
        register.update_risk(
            session,
            first.id,
            {"status": "closed"},
            now=NOW,
            actor="lead",
            settings=SETTINGS,
            goal_facts=facts,
        )
    assert coverage(db, facts)[key] == ()  # a closed risk covers nothing
    assert promote(db, facts, key).id != first.id


def test_a_signal_that_does_not_fire_cannot_be_promoted(
    db: sessionmaker[Session], facts: FakeGoalFacts, portfolio: dict[str, int]
) -> None:
    with pytest.raises(NotFound, match="does not fire now"):
        promote(db, facts, f"overdue_item:item:{portfolio['item6']}")


def test_a_hand_entered_risk_linked_to_a_subject_covers_its_signals(
    db: sessionmaker[Session], facts: FakeGoalFacts, portfolio: dict[str, int]
) -> None:
    risk = create(db, facts, [("milestone", portfolio["late"])])
    assert coverage(db, facts)[f"overdue_milestone:milestone:{portfolio['late']}"] == (risk.id,)


def test_an_overdue_item_completed_in_the_tool_resolves_its_signal(
    db: sessionmaker[Session], facts: FakeGoalFacts, portfolio: dict[str, int]
) -> None:
    key = f"overdue_item:item:{portfolio['item1']}"
    risk = promote(db, facts, key)
    write(db, portfolio["sales"], items=[work_item("1", DONE, due=TODAY - DAY)])

    assert key not in coverage(db, facts)
    with db() as session:
        view = register.load_risk(
            session, risk.id, now=NOW, settings=SETTINGS, goal_facts=facts, with_signal=True
        )
    assert view.source_signal_active is False
    assert view.status == "open"  # people close risks; data only informs them


def test_every_change_is_kept_with_who_when_and_what(
    db: sessionmaker[Session], facts: FakeGoalFacts, portfolio: dict[str, int]
) -> None:
    risk = create(db, facts, [("item", portfolio["item4"])], owner="Ana")
    later = NOW + timedelta(hours=2)
    with unit_of_work(db) as session:
        register.update_risk(
            session,
            risk.id,
            {"impact": 1, "owner": "Ben", "review_date": TODAY + 7 * DAY},
            [("item", portfolio["item4"]), ("milestone", portfolio["late"])],
            now=later,
            actor="analyst",
            settings=SETTINGS,
            goal_facts=facts,
        )
        unchanged = register.update_risk(
            session,
            risk.id,
            {"owner": "Ben"},
            now=later,
            actor="analyst",
            settings=SETTINGS,
            goal_facts=facts,
        )
    assert unchanged.score == 3
    with db() as session:
        history = register.risk_history(session, risk.id)
    assert [(c.action, c.changed_by, c.changed_at) for c in history] == [
        ("created", "lead", NOW),
        ("updated", "analyst", later),
    ]
    assert history[0].changes["probability"] == {"old": None, "new": 3}
    assert history[0].changes["links"] == {"added": [f"item:{portfolio['item4']}"], "removed": []}
    assert history[1].changes == {
        "impact": {"old": 2, "new": 1},
        "owner": {"old": "Ana", "new": "Ben"},
        "review_date": {"old": None, "new": "2026-11-27"},
        "links": {"added": [f"milestone:{portfolio['late']}"], "removed": []},
    }


def test_links_must_name_existing_targets(
    db: sessionmaker[Session], facts: FakeGoalFacts, portfolio: dict[str, int]
) -> None:
    with pytest.raises(InvalidRequest, match="links: no item 9999"):
        create(db, facts, [("item", 9999)])
    with pytest.raises(InvalidRequest, match="links: no goal 5"):
        create(db, facts, [("goal", 5)])
    facts.add(goal_info(id=5))
    risk = create(db, facts, [("goal", 5), ("item", portfolio["item1"])])
    assert [(link.title, link.url) for link in risk.links] == [
        ("Every sales team on the new CRM", "/v1/goals/5"),
        ("Item 1", "https://example.atlassian.net/browse/CRM-1"),
    ]


def test_a_link_whose_target_went_away_reads_as_missing(
    db: sessionmaker[Session], facts: FakeGoalFacts
) -> None:
    facts.add(goal_info(id=5))
    risk = create(db, facts, [("goal", 5)])
    del facts.infos[5]
    with db() as session:
        view = register.load_risk(session, risk.id, now=NOW, settings=SETTINGS, goal_facts=facts)
    assert [(link.target_id, link.exists, link.title) for link in view.links] == [(5, False, None)]


def test_closing_and_reopening_stamps_closed_at(
    db: sessionmaker[Session], facts: FakeGoalFacts
) -> None:
    risk = create(db, facts, [])

    def change(**fields: object) -> register.RiskView:
        with unit_of_work(db) as session:
            return register.update_risk(
                session,
                risk.id,
                fields,
                now=NOW,
                actor="lead",
                settings=SETTINGS,
                goal_facts=facts,
            )

    assert change(status="closed").closed_at == NOW
    assert change(status="open").closed_at is None


def test_raising_a_risk_into_the_high_band_needs_its_plan(
    db: sessionmaker[Session], facts: FakeGoalFacts
) -> None:
    risk = create(db, facts, [])
    with unit_of_work(db) as session, pytest.raises(InvalidRequest, match="needs a contingency"):
        register.update_risk(
            session,
            risk.id,
            {"probability": 5},
            now=NOW,
            actor="lead",
            settings=SETTINGS,
            goal_facts=facts,
        )


def test_review_overdue_risks_are_listed_apart(
    db: sessionmaker[Session], facts: FakeGoalFacts
) -> None:
    due = create(db, facts, [], review_date=TODAY - DAY)
    create(db, facts, [], review_date=TODAY)
    with db() as session:
        overdue = register.list_risks(
            session,
            register.RiskQuery(review_overdue=True),
            after_id=None,
            limit=None,
            now=NOW,
            settings=SETTINGS,
            goal_facts=facts,
        )
    assert [(r.id, r.review_overdue) for r in overdue] == [(due.id, True)]


def test_access_lost_items_leave_item_signals_and_raise_a_data_signal(
    db: sessionmaker[Session], facts: FakeGoalFacts, portfolio: dict[str, int]
) -> None:
    with unit_of_work(db) as session:
        session.execute(
            update(t.WorkItem).where(t.WorkItem.id == portfolio["item1"]).values(access_lost_at=NOW)
        )
    found = keys(db, facts)
    assert f"overdue_item:item:{portfolio['item1']}" not in found
    assert f"access_lost:connection:{portfolio['sales']}" in found
