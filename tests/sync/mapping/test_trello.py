"""Trello payloads map to unified records, read from payload files shaped as the spec says."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from sync.connectors.trello.payloads import TrelloBoard, TrelloCard, TrelloMember
from sync.mapping import trello
from sync.mapping.vocabulary import Vocabulary
from sync.model import StatusCategory, Tool
from tests.builders_trello import resolved_card


def load(payloads: Path, name: str) -> Any:
    return json.loads((payloads / "trello" / name).read_text())


@pytest.fixture
def cards(payloads: Path) -> dict[str, TrelloCard]:
    """The payload file's cards by name, resolved against the board's lists, labels and
    members; the token's own member carries its e-mail, as the connector arranges."""
    me = load(payloads, "members-me.json")
    members = [
        {**m, "email": me["email"]} if m["id"] == me["id"] else m
        for m in load(payloads, "boards-id-members.json")
    ]
    resolved = [
        resolved_card(
            card,
            lists=load(payloads, "boards-id-lists.json"),
            labels=load(payloads, "boards-id-labels.json"),
            members=members,
        )
        for card in load(payloads, "boards-id-cards-all.json")
    ]
    return {card.name: card for card in resolved}


def vocabulary(**options: Any) -> Vocabulary:
    return Vocabulary.build(
        Tool.TRELLO, discovered={"site_url": "https://trello.com"}, overrides=options
    )


def test_an_open_card_maps_every_field(cards: dict[str, TrelloCard]) -> None:
    item = trello.work_item(cards["Draft nurture email #2 (EMEA)"], vocabulary())
    assert item.vendor_id == "6540a1b2c3d4e5f601234567"
    assert item.key == "Xk3pQ9aZ"
    assert item.project_vendor_id == "5f1a0c2e9d1b2c3d4e5f6a70"
    assert item.title == "Draft nurture email #2 (EMEA)"
    assert (item.status_name, item.status_category) == ("To Do", StatusCategory.TODO)
    assert item.item_type == "card"
    assert item.url == "https://trello.com/c/Xk3pQ9aZ/41-draft-nurture-email-2-emea"
    assert item.updated_at == datetime(2026, 11, 18, 14, 3, 11, 482000, tzinfo=UTC)
    assert item.due_date == date(2026, 12, 4)
    # The id is an ObjectId: its first four bytes are the creation time.
    assert item.created_at == datetime(2023, 10, 31, 6, 41, 54, tzinfo=UTC)
    assert item.completed_at is None  # Trello keeps no completion time on a card
    assert item.estimate is None  # checklist progress is not a size; it stays in raw
    assert item.labels == ("Email",)  # the colour-only label has no name to show
    assert item.blocked is False


def test_the_first_member_is_the_assignee_without_an_email_trello_does_not_show(
    cards: dict[str, TrelloCard],
) -> None:
    assignee = trello.work_item(cards["Draft nurture email #2 (EMEA)"], vocabulary()).assignee
    assert assignee is not None
    assert (assignee.vendor_id, assignee.display_name, assignee.email) == (
        "5e8f7a6b5c4d3e2f1a0b9c81",
        "Priya Raman",
        None,
    )


def test_the_tokens_own_member_brings_its_lower_cased_email(
    cards: dict[str, TrelloCard],
) -> None:
    assignee = trello.work_item(cards["Launch LinkedIn ad set"], vocabulary()).assignee
    assert assignee is not None
    assert assignee.email == "demo.ops@example.com"


def test_a_card_archived_from_a_done_list_is_done_not_cancelled(
    cards: dict[str, TrelloCard],
) -> None:
    item = trello.work_item(cards["Launch LinkedIn ad set"], vocabulary())
    assert item.status_category is StatusCategory.DONE


def test_a_card_archived_from_any_other_list_is_cancelled(cards: dict[str, TrelloCard]) -> None:
    item = trello.work_item(cards["Localize webinar invite (APAC)"], vocabulary())
    assert (item.status_name, item.status_category) == ("Doing", StatusCategory.CANCELLED)


def test_a_card_in_an_archived_list_counts_as_archived(cards: dict[str, TrelloCard]) -> None:
    item = trello.work_item(cards["Creative freeze"], vocabulary())
    assert item.status_category is StatusCategory.CANCELLED


def test_due_complete_is_done_only_when_the_connection_says_so(
    cards: dict[str, TrelloCard],
) -> None:
    card = cards["Approve press release"]
    assert trello.work_item(card, vocabulary()).status_category is StatusCategory.IN_PROGRESS
    done = trello.work_item(card, vocabulary(due_complete_is_done=True))
    assert done.status_category is StatusCategory.DONE


def test_a_blocked_label_marks_the_item_blocked_and_a_plain_date_due_reads_as_is(
    cards: dict[str, TrelloCard],
) -> None:
    item = trello.work_item(cards["Approve press release"], vocabulary())
    assert item.blocked is True
    assert item.due_date == date(2026, 11, 18)


def test_a_connection_maps_its_own_list_names(cards: dict[str, TrelloCard]) -> None:
    item = trello.work_item(
        cards["Draft nurture email #2 (EMEA)"],
        vocabulary(status_overrides={"to do": "in_progress"}),
    )
    assert item.status_category is StatusCategory.IN_PROGRESS


@pytest.mark.parametrize(
    ("list_name", "category"),
    [
        ("To Do", StatusCategory.TODO),
        ("Backlog", StatusCategory.TODO),
        ("  doing ", StatusCategory.IN_PROGRESS),
        ("In Progress", StatusCategory.IN_PROGRESS),
        ("Review", StatusCategory.IN_PROGRESS),
        ("Done", StatusCategory.DONE),
        ("Shipped", StatusCategory.DONE),
        ("Won't Do", StatusCategory.CANCELLED),  # the shared cancelled names
        ("Someday / maybe", StatusCategory.TODO),  # unknown names wait to be done
        (None, StatusCategory.TODO),
    ],
)
def test_default_list_names(list_name: str | None, category: StatusCategory) -> None:
    assert trello.list_category(list_name, vocabulary()) is category


def test_due_timestamps_become_dates_in_the_connections_time_zone(
    cards: dict[str, TrelloCard],
) -> None:
    card = cards["Draft nurture email #2 (EMEA)"].model_copy(
        update={"due": datetime(2026, 12, 4, 23, 30, tzinfo=UTC)}
    )
    assert trello.work_item(card, vocabulary()).due_date == date(2026, 12, 4)
    tokyo = trello.work_item(card, vocabulary(time_zone="Asia/Tokyo"))
    assert tokyo.due_date == date(2026, 12, 5)


def test_created_at_from_the_id_can_be_turned_off(cards: dict[str, TrelloCard]) -> None:
    card = cards["Draft nurture email #2 (EMEA)"]
    assert trello.work_item(card, vocabulary(created_at_from_id=False)).created_at is None


def test_a_milestone_card_maps_to_a_milestone(cards: dict[str, TrelloCard]) -> None:
    milestone = trello.milestone(cards["Campaign launch day"], vocabulary())
    assert milestone.vendor_id == "6544e5f60123456789012345"
    assert milestone.project_vendor_id == "5f1a0c2e9d1b2c3d4e5f6a70"
    assert milestone.name == "Campaign launch day"
    assert milestone.due_date == date(2026, 11, 26)
    assert (milestone.reached, milestone.archived) == (False, False)
    assert milestone.url == "https://trello.com/c/Mz5kP1uW/45-campaign-launch-day"


def test_a_milestone_is_reached_by_its_due_checkbox_and_archived_with_its_list(
    cards: dict[str, TrelloCard],
) -> None:
    milestone = trello.milestone(cards["Creative freeze"], vocabulary())
    assert (milestone.reached, milestone.archived) == (True, True)


def test_boards_map_to_projects_keyed_by_short_link(payloads: Path) -> None:
    boards = [TrelloBoard.model_validate(b) for b in load(payloads, "members-me-boards.json")]
    active, archived = (trello.project(b, vocabulary()) for b in boards)
    assert (active.vendor_id, active.key, active.name) == (
        "5f1a0c2e9d1b2c3d4e5f6a70",
        "Cmp1Q2La",
        "Q1 Campaign Launch",
    )
    assert active.url == "https://trello.com/b/Cmp1Q2La/q1-campaign-launch"
    assert (active.archived, archived.archived) == (False, True)


def test_a_board_without_short_link_takes_it_from_the_short_url() -> None:
    board = TrelloBoard(
        id="5f1a0c2e9d1b2c3d4e5f6a70", name="X", shortUrl="https://trello.com/b/Ab12Cd34"
    )
    assert trello.project(board, vocabulary()).key == "Ab12Cd34"


def test_a_member_without_full_name_shows_the_username() -> None:
    person = trello.person(TrelloMember(id="5e8f7a6b5c4d3e2f1a0b9c81", username="priyaraman"))
    assert person.display_name == "priyaraman"
