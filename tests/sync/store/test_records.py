"""Upserts key on (connection, vendor id), skip unchanged rows, and keep history."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sync.model import Person, Project, StatusCategory
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from sync.store.records import Scope, tombstone, upsert_work_items
from tests.builders import make_work_item, store_records
from tests.fakes import FakeClock


def connection(db: sessionmaker[Session], box: SecretBox, clock: FakeClock, name: str) -> Scope:
    from sync.engine.connections import add_connection
    from sync.model import Tool

    with unit_of_work(db) as session:
        row = add_connection(
            session,
            box,
            name=name,
            tool=Tool.JIRA,
            base_url="https://x.atlassian.net",
            credentials={"email": "a@example.com", "api_token": "t"},
            now=clock(),
        )
        return Scope(row.id, "jira", clock())


def count(db: sessionmaker[Session], model: type[t.Base]) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_the_same_vendor_id_in_two_connections_is_two_items(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock
) -> None:
    for name in ("a", "b"):
        store_records(db, connection(db, box, clock, name), items=[make_work_item(vendor_id="1")])
    assert count(db, t.WorkItem) == 2


def test_an_unchanged_record_is_not_written_again(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock
) -> None:
    scope = connection(db, box, clock, "a")
    record = make_work_item(vendor_id="1", estimate=3)
    with unit_of_work(db) as session:
        first = upsert_work_items(session, scope, [(record, {"id": "1"})])
    clock.advance(60)
    later = Scope(scope.connection_id, scope.tool, clock())
    with unit_of_work(db) as session:
        again = upsert_work_items(session, later, [(record, {"id": "1"})])
    assert (first.inserted, again.unchanged, again.upserted) == (1, 1, 0)
    with db() as session:
        assert session.scalars(select(t.WorkItem.recorded_at)).one() == scope.now


def test_a_change_is_written_with_its_history(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock
) -> None:
    scope = connection(db, box, clock, "a")
    store_records(db, scope, items=[make_work_item(vendor_id="1", estimate=3)])
    changed = make_work_item(
        vendor_id="1", estimate=5, status_category=StatusCategory.DONE, due_date=date(2026, 12, 1)
    )
    with unit_of_work(db) as session:
        counts = upsert_work_items(session, scope, [(changed, {"id": "1", "v": 2})])
    assert counts.updated == 1
    with db() as session:
        rows = session.execute(
            select(t.ItemChange.field, t.ItemChange.old_value, t.ItemChange.new_value).where(
                t.ItemChange.old_value.is_not(None)
            )
        ).all()
    assert sorted(rows) == [("estimate", "3.0", "5.0"), ("status_category", "todo", "done")]


def test_people_merge_across_connections_by_email(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock
) -> None:
    ana_jira = Person(vendor_id="acc-1", display_name="Ana", email="Ana@Example.com")
    ana_trello = Person(vendor_id="mem-9", display_name="ana", email="ana@example.com")
    store_records(
        db,
        connection(db, box, clock, "a"),
        items=[make_work_item(vendor_id="1", assignee=ana_jira)],
    )
    store_records(
        db,
        connection(db, box, clock, "b"),
        items=[make_work_item(vendor_id="1", assignee=ana_trello)],
    )
    assert (count(db, t.Person), count(db, t.PersonIdentity)) == (1, 2)


def test_items_link_to_their_project(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock
) -> None:
    scope = connection(db, box, clock, "a")
    store_records(
        db, scope, projects=[Project("P1", "CRM", "CRM")], items=[make_work_item(vendor_id="1")]
    )
    with db() as session:
        item = session.scalars(select(t.WorkItem)).one()
        project = session.scalars(select(t.Project)).one()
    assert item.project_id == project.id


def test_a_tombstone_marks_deletion_once(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock
) -> None:
    scope = connection(db, box, clock, "a")
    store_records(db, scope, items=[make_work_item(vendor_id="1")])
    with unit_of_work(db) as session:
        assert tombstone(session, scope, "1") is True
        assert tombstone(session, scope, "1") is False
        assert tombstone(session, scope, "unknown") is False
    with db() as session:
        assert session.scalars(select(t.WorkItem.deleted_at)).one() == scope.now


def test_a_deleted_item_that_comes_back_is_revived(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock
) -> None:
    scope = connection(db, box, clock, "a")
    record = make_work_item(vendor_id="1")
    store_records(db, scope, items=[record])
    with unit_of_work(db) as session:
        tombstone(session, scope, "1")
    store_records(db, scope, items=[record])
    with db() as session:
        assert session.scalars(select(t.WorkItem.deleted_at)).one() is None
        lifecycle = session.scalars(
            select(t.ItemChange.new_value).where(t.ItemChange.field == "lifecycle")
        ).all()
    assert lifecycle == ["deleted", "live"]
