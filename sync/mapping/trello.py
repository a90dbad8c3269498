"""Trello payloads -> unified records. Pure: no I/O, no clock.

Trello has no status entity: a card's status is the list it sits in (FACTS.md §2.6). Its
category comes, in order, from

1. the connection's ``status_overrides`` for that list name (``vocabulary.override_for``),
2. the default list names below,
3. ``todo`` for any other list.

Then: a card whose due-date checkbox is ticked (``dueComplete``) is done when the connection sets
option ``due_complete_is_done``; an archived card (``closed``, or its list archived) is
cancelled unless it is done by then ("archived from the Done list" is finished work).

Options read from ``vocabulary.extra`` (the connection's options): ``due_complete_is_done``
(default false), ``time_zone`` (IANA name, for turning due timestamps into dates; default UTC)
and ``created_at_from_id`` (default true; see :func:`created_at`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sync.connectors.trello.payloads import TrelloBoard, TrelloCard, TrelloMember
from sync.mapping.vocabulary import Vocabulary
from sync.model import Milestone, Person, Project, StatusCategory, WorkItem

#: List names (casefolded, single-spaced) every Trello board template and team seems to use.
DEFAULT_LIST_CATEGORIES: dict[str, StatusCategory] = {
    **dict.fromkeys(
        ("to do", "todo", "backlog", "ideas", "inbox", "next", "up next", "planned", "ready"),
        StatusCategory.TODO,
    ),
    **dict.fromkeys(
        (
            "doing",
            "in progress",
            "wip",
            "work in progress",
            "review",
            "in review",
            "qa",
            "testing",
            "blocked",
            "on hold",
        ),
        StatusCategory.IN_PROGRESS,
    ),
    **dict.fromkeys(
        ("done", "complete", "completed", "finished", "shipped", "launched", "live", "released"),
        StatusCategory.DONE,
    ),
}


def project(payload: TrelloBoard, vocabulary: Vocabulary) -> Project:
    return Project(
        vendor_id=payload.id,
        key=payload.shortLink or _short_link(payload.shortUrl),
        name=payload.name,
        url=payload.url or payload.shortUrl,
        archived=payload.closed,
    )


def person(payload: TrelloMember) -> Person:
    return Person(
        vendor_id=payload.id,
        display_name=payload.fullName or payload.username,
        email=payload.email.lower() if payload.email else None,
    )


def list_category(list_name: str | None, vocabulary: Vocabulary) -> StatusCategory:
    """The category a list name stands for: the connection's word first, then ours."""
    override = vocabulary.override_for(list_name)
    if override is not None:
        return override
    if list_name is None:
        return StatusCategory.TODO
    normal = " ".join(list_name.casefold().split())
    return DEFAULT_LIST_CATEGORIES.get(normal, StatusCategory.TODO)


def status_category(payload: TrelloCard, vocabulary: Vocabulary) -> StatusCategory:
    category = list_category(payload.list_name, vocabulary)
    if payload.dueComplete and _flag(vocabulary, "due_complete_is_done"):
        category = StatusCategory.DONE
    archived = payload.closed or payload.list_closed
    if archived and category is not StatusCategory.DONE:
        return StatusCategory.CANCELLED
    return category


def work_item(payload: TrelloCard, vocabulary: Vocabulary) -> WorkItem:
    labels = tuple(payload.label_names)
    return WorkItem(
        vendor_id=payload.id,
        key=payload.shortLink,
        project_vendor_id=payload.idBoard,
        title=payload.name,
        status_name=payload.list_name,
        status_category=status_category(payload, vocabulary),
        updated_at=payload.dateLastActivity.astimezone(UTC),
        item_type="card",
        url=payload.url or payload.shortUrl,
        assignee=person(payload.assignees[0]) if payload.assignees else None,
        start_date=_day(payload.start, vocabulary),
        due_date=_day(payload.due, vocabulary),
        created_at=created_at(payload.id, vocabulary),
        # Trello keeps no completion time on the card (only the actions feed dates the move).
        completed_at=None,
        # Checklist progress (badges.checkItems/checkItemsChecked) measures how far a card is,
        # not how big it is: summing it as points would make a ten-item checklist ten times a
        # one-line card. It stays in the raw JSON; Trello has no native estimate.
        estimate=None,
        labels=labels,
        blocked=vocabulary.is_blocked(labels=labels, status_name=payload.list_name),
    )


def milestone(payload: TrelloCard, vocabulary: Vocabulary) -> Milestone:
    """A milestone card (in the milestone list, or carrying the milestone label)."""
    return Milestone(
        vendor_id=payload.id,
        project_vendor_id=payload.idBoard,
        name=payload.name,
        start_date=_day(payload.start, vocabulary),
        due_date=_day(payload.due, vocabulary),
        reached=payload.dueComplete
        or list_category(payload.list_name, vocabulary) is StatusCategory.DONE,
        archived=payload.closed or payload.list_closed,
        url=payload.url or payload.shortUrl,
    )


def created_at(card_id: str, vocabulary: Vocabulary) -> datetime | None:
    """Trello ids are Mongo ObjectIds whose first 4 bytes are the creation time in seconds.

    FACTS.md §2.3 states it for action ids; for card ids it is UNVERIFIED in the docs read, so
    option ``created_at_from_id: false`` turns it off.
    """
    if not _flag(vocabulary, "created_at_from_id", default=True):
        return None
    if len(card_id) != 24:
        return None
    try:
        seconds = int(card_id[:8], 16)
    except ValueError:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def _day(value: datetime | date | None, vocabulary: Vocabulary) -> date | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        return value
    return value.astimezone(_zone(vocabulary)).date()


def _zone(vocabulary: Vocabulary) -> ZoneInfo:
    name = vocabulary.extra.get("time_zone")
    if not isinstance(name, str) or not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _flag(vocabulary: Vocabulary, name: str, *, default: bool = False) -> bool:
    value = vocabulary.extra.get(name, default)
    if isinstance(value, str):
        return value.strip().casefold() in {"1", "true", "yes", "on"}
    return bool(value)


def _short_link(short_url: str | None) -> str | None:
    """``https://trello.com/b/dQHqCohZ`` -> ``dQHqCohZ``."""
    if not short_url:
        return None
    return short_url.rstrip("/").rsplit("/", 1)[-1] or None
