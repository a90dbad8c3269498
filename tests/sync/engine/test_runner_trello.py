"""The sync engine against the Trello simulator: full, incremental from the actions feed,
census, archive vs delete, lost access, replays, resumes and failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Receive, Scope, Send

from sandbox.trello import TrelloSimulator
from sync.engine.runner import SyncEnvironment, run_sync
from sync.model import ConnectionState, Resource, SyncKind, SyncStatus
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.runs import load_cursor
from tests.builders import make_environment
from tests.builders_trello import make_trello_connection, make_trello_simulator
from tests.fakes import FakeClock, FakeSleep

BOARDS = 3
#: /members/me, /members/me/boards, then per board: feed head, cards, lists, labels, members.
FULL_REQUESTS = 2 + 5 * BOARDS


@pytest.fixture
def simulator() -> TrelloSimulator:
    return make_trello_simulator(cards=240)


@pytest.fixture
def env(
    db: sessionmaker[Session],
    box: SecretBox,
    clock: FakeClock,
    sleep: FakeSleep,
    simulator: TrelloSimulator,
) -> SyncEnvironment:
    return make_environment(sessions=db, box=box, clock=clock, sleep=sleep, app=simulator.app)


def count(env: SyncEnvironment, model: type[t.Base], *conditions: ColumnElement[bool]) -> int:
    with env.sessions() as session:
        value = session.scalar(select(func.count()).select_from(model).where(*conditions))
        return value or 0


def item(env: SyncEnvironment, vendor_id: str) -> t.WorkItem:
    with env.sessions() as session:
        return session.scalars(select(t.WorkItem).where(t.WorkItem.vendor_id == vendor_id)).one()


def connection(env: SyncEnvironment, connection_id: int) -> t.Connection:
    with env.sessions() as session:
        return session.get_one(t.Connection, connection_id)


def work_cards(simulator: TrelloSimulator, board: str = "Q1 Campaign Launch") -> list[str]:
    """Ids of live non-milestone cards on a board, oldest first."""
    owner = simulator.board(board).id
    return [
        c.id
        for c in simulator.cards.values()
        if c.board_id == owner and not simulator.is_milestone(c.id)
    ]


async def test_a_full_sync_stores_every_board_milestone_and_card(
    env: SyncEnvironment, simulator: TrelloSimulator
) -> None:
    connection_id = make_trello_connection(env)
    summary = await run_sync(env, connection_id, SyncKind.FULL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert count(env, t.Project) == BOARDS
    assert count(env, t.Milestone) == 3 * BOARDS
    assert count(env, t.WorkItem) == 240
    assert count(env, t.WorkItem, t.WorkItem.project_id.is_(None)) == 0
    assert count(env, t.Milestone, t.Milestone.project_id.is_(None)) == 0
    # Milestones and work items share one read of each board: the minimum Trello allows.
    assert summary.requests == simulator.request_count == FULL_REQUESTS
    assert summary.fetched == 240 + 3 * BOARDS + BOARDS
    with env.sessions() as session:
        statuses = set(session.scalars(select(t.WorkItem.status_name)))
        categories = set(session.scalars(select(t.WorkItem.status_category)))
    assert statuses == {"To Do", "Doing", "Review", "Done"}
    assert categories == {"todo", "in_progress", "done", "cancelled"}  # archived -> cancelled
    assert connection(env, connection_id).last_success_at == env.clock()


async def test_only_the_tokens_own_member_comes_with_an_email(env: SyncEnvironment) -> None:
    await run_sync(env, make_trello_connection(env), SyncKind.FULL)
    with env.sessions() as session:
        emails = [e for e in session.scalars(select(t.Person.email)) if e is not None]
        people = session.scalar(select(func.count()).select_from(t.PersonIdentity))
    assert emails == ["demo@example.com"]
    assert people is not None
    assert people > 1


async def test_replaying_a_sync_writes_nothing(env: SyncEnvironment, clock: FakeClock) -> None:
    connection_id = make_trello_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    changes = count(env, t.ItemChange)
    clock.advance(3600)

    again = await run_sync(env, connection_id, SyncKind.FULL)
    quiet = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert again.upserted == 0
    assert again.unchanged == again.fetched
    assert (quiet.status, quiet.upserted, quiet.fetched) == (SyncStatus.SUCCEEDED, 0, BOARDS)
    # /members/me, the boards, and one look at each board's feed.
    assert quiet.requests == 2 + BOARDS
    assert count(env, t.ItemChange) == changes


async def test_incremental_sync_follows_the_actions_feed(
    env: SyncEnvironment, simulator: TrelloSimulator, clock: FakeClock
) -> None:
    connection_id = make_trello_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    moved, archived, deleted, *_ = [
        c
        for c in work_cards(simulator)
        if simulator.lists[simulator.cards[c].list_id].name == "To Do"
        and not simulator.cards[c].closed
    ]
    simulator.advance(3600)
    due = datetime(2026, 12, 24, 17, 0, tzinfo=UTC)
    simulator.update_card(moved, name="Finalize launch email", list_name="Done", due=due)
    simulator.archive_card(archived)
    simulator.delete_card(deleted)
    created = simulator.create_card("Partner Enablement", name="Record partner demo video")
    before = simulator.request_count
    clock.advance(3600)

    summary = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert summary.fetched == BOARDS + 3  # the boards, then only the cards the feed named
    assert summary.requests == simulator.request_count - before
    updated = item(env, moved)
    assert (updated.title, updated.status_name, updated.status_category) == (
        "Finalize launch email",
        "Done",
        "done",
    )
    assert updated.due_date == due.date()
    gone = item(env, archived)
    assert (gone.status_category, gone.deleted_at) == ("cancelled", None)  # archived, not deleted
    assert item(env, deleted).deleted_at == env.clock()
    assert item(env, created).title == "Record partner demo video"
    with env.sessions() as session:
        rows = session.execute(
            select(t.ItemChange.field, t.ItemChange.old_value, t.ItemChange.new_value).where(
                t.ItemChange.work_item_id == updated.id,
                t.ItemChange.sync_run_id == summary.run_id,
            )
        ).all()
    history = {field: (old, new) for field, old, new in rows}
    assert history["status_category"] == ("todo", "done")
    assert history["due_date"][1] == "2026-12-24"


async def test_a_renamed_list_moves_every_card_in_it(
    env: SyncEnvironment, simulator: TrelloSimulator
) -> None:
    connection_id = make_trello_connection(env, options={"status_overrides": {"Shipped": "done"}})
    await run_sync(env, connection_id, SyncKind.FULL)
    review = simulator.list_named("Q1 Campaign Launch", "Review")
    in_review = [c.id for c in simulator.cards.values() if c.list_id == review.id]
    assert in_review
    simulator.advance(600)
    simulator.rename_list("Q1 Campaign Launch", "Review", "Shipped")

    summary = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert {item(env, c).status_name for c in in_review} == {"Shipped"}
    assert {item(env, c).status_category for c in in_review if not simulator.cards[c].closed} == {
        "done"
    }


async def test_a_card_given_the_milestone_label_becomes_a_milestone(
    env: SyncEnvironment, simulator: TrelloSimulator
) -> None:
    connection_id = make_trello_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    promoted = work_cards(simulator)[0]
    simulator.advance(600)
    simulator.update_card(promoted, add_labels=["Milestone"])

    summary = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert count(env, t.Milestone, t.Milestone.vendor_id == promoted) == 1
    assert item(env, promoted).deleted_at == env.clock()
    census = await run_sync(env, connection_id, SyncKind.CENSUS)
    assert census.deleted == 0  # the census agrees: it is not a work item


async def test_census_tombstones_deleted_cards_and_separates_lost_access(
    env: SyncEnvironment, simulator: TrelloSimulator
) -> None:
    connection_id = make_trello_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    victim = work_cards(simulator)[1]
    simulator.delete_card(victim)
    simulator.hide_board("Deal Desk & Quotes")
    lost = work_cards(simulator, "Deal Desk & Quotes")

    summary = await run_sync(env, connection_id, SyncKind.CENSUS)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert (summary.deleted, summary.access_lost) == (1, len(lost))
    assert item(env, victim).deleted_at == env.clock()
    assert item(env, lost[0]).access_lost_at == env.clock()
    assert item(env, lost[0]).deleted_at is None  # a revoked permission is not a deletion
    with env.sessions() as session:
        board = session.scalars(
            select(t.Project).where(t.Project.name == "Deal Desk & Quotes")
        ).one()
    assert board.access_lost_at == env.clock()


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_a_scoped_board_out_of_reach_is_lost_access_in_every_run(
    env: SyncEnvironment, simulator: TrelloSimulator, status: int
) -> None:
    boards = tuple(b.id for b in simulator.boards.values())
    connection_id = make_trello_connection(env, scope=boards)
    await run_sync(env, connection_id, SyncKind.FULL)
    simulator.hide_board("Partner Enablement", status=status)
    simulator.advance(600)
    renamed = work_cards(simulator)[0]
    simulator.update_card(renamed, name="Still synced")

    incremental = await run_sync(env, connection_id, SyncKind.INCREMENTAL)
    census = await run_sync(env, connection_id, SyncKind.CENSUS)

    assert incremental.status is SyncStatus.SUCCEEDED, incremental.errors
    assert item(env, renamed).title == "Still synced"
    assert census.status is SyncStatus.SUCCEEDED, census.errors
    assert census.access_lost == len(work_cards(simulator, "Partner Enablement"))
    assert census.deleted == 0

    simulator.reveal_board("Partner Enablement")
    back = await run_sync(env, connection_id, SyncKind.CENSUS)
    assert back.status is SyncStatus.SUCCEEDED
    assert count(env, t.WorkItem, t.WorkItem.access_lost_at.is_not(None)) == 0


async def test_an_interrupted_full_sync_resumes_board_by_board(
    env: SyncEnvironment, simulator: TrelloSimulator, clock: FakeClock, sleep: FakeSleep
) -> None:
    connection_id = make_trello_connection(env)
    second = simulator.board("Partner Enablement").id
    real_app = simulator.app

    async def flaky(scope: Scope, receive: Receive, send: Send) -> None:
        if f"/boards/{second}/cards" in scope.get("path", ""):
            simulator.fail_next(503, count=1)
        await real_app(scope, receive, send)

    interrupted = make_environment(
        sessions=env.sessions, box=env.box, clock=clock, sleep=sleep, app=flaky
    )
    first = await run_sync(interrupted, connection_id, SyncKind.FULL)

    assert first.status is SyncStatus.FAILED
    assert first.errors[0]["type"] == "VendorUnavailable"
    assert count(env, t.Milestone) == 3  # the first board's, committed with its cursor
    with env.sessions() as session:
        cursor = load_cursor(session, connection_id, Resource.MILESTONES)
    assert cursor is not None
    assert list(cursor["boards"]) == [simulator.board("Q1 Campaign Launch").id]
    assert connection(env, connection_id).state == ConnectionState.FAILING

    resumed = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert resumed.status is SyncStatus.SUCCEEDED, resumed.errors
    assert count(env, t.WorkItem) == 240
    assert count(env, t.Milestone) == 3 * BOARDS
    assert connection(env, connection_id).state == ConnectionState.ACTIVE


async def test_a_malformed_card_stores_nothing_and_keeps_the_cursor(
    env: SyncEnvironment, simulator: TrelloSimulator
) -> None:
    connection_id = make_trello_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    with env.sessions() as session:
        cursor_before = load_cursor(session, connection_id, Resource.WORK_ITEMS)
    target = work_cards(simulator)[0]
    simulator.advance(600)
    simulator.update_card(target, name="Changed while the page breaks")
    simulator.corrupt_next_card()

    summary = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert summary.status is SyncStatus.FAILED
    error = summary.errors[0]
    assert error["type"] == "ContractBroken"
    assert item(env, target).title != "Changed while the page breaks"
    with env.sessions() as session:
        assert load_cursor(session, connection_id, Resource.WORK_ITEMS) == cursor_before
    assert "failed validation" in (connection(env, connection_id).state_reason or "")

    fixed = await run_sync(env, connection_id, SyncKind.INCREMENTAL)
    assert fixed.status is SyncStatus.SUCCEEDED, fixed.errors
    assert item(env, target).title == "Changed while the page breaks"


async def test_rejected_credentials_need_a_person_to_reconnect(env: SyncEnvironment) -> None:
    connection_id = make_trello_connection(env, credentials={"key": "k" * 32, "token": "revoked"})
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    assert summary.status is SyncStatus.FAILED
    assert summary.errors[0]["type"] == "CredentialsRejected"
    assert "revoked" not in str(summary.errors)
    assert connection(env, connection_id).state == ConnectionState.NEEDS_REAUTH


async def test_a_token_limit_429_is_backed_off_through_the_injected_sleep(
    env: SyncEnvironment, simulator: TrelloSimulator, sleep: FakeSleep
) -> None:
    connection_id = make_trello_connection(env)
    simulator.fail_next(429, count=2, path_contains="/cards/all")
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert len(sleep.calls) == 2  # no Retry-After: the shared jittered backoff
    assert summary.requests == FULL_REQUESTS + 2


async def test_a_429_that_outlasts_the_retries_throttles_the_connection(
    env: SyncEnvironment, simulator: TrelloSimulator, clock: FakeClock
) -> None:
    connection_id = make_trello_connection(env)
    simulator.fail_next(429, count=10)
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    state = connection(env, connection_id)
    assert summary.errors[0]["type"] == "RateLimited"
    assert state.state == ConnectionState.THROTTLED
    # Trello names no wait; the shared client's default applies (see the report).
    assert state.throttled_until is not None
    assert state.throttled_until >= clock.now + timedelta(seconds=10)
