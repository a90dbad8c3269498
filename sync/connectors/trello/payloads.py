"""Typed shapes of the Trello REST v1 responses we read.

Field names follow ``shared/vendor-api/trello/trello-rest-v1.openapi.json`` (schemas ``Board``,
``TrelloList``, ``Label``, ``Member``, ``Card``, ``Action``) and are spelt as Trello spells them.
Only what the connector and mapping need is typed; the rest travels in the raw JSON.

A card alone does not say which list it is in by name, nor what its labels and members are
called: Trello returns ids and serves the names from the board. The connector resolves them and
adds them to each card as the snake_case fields ``list_name``, ``list_closed``, ``label_names``
and ``assignees`` (snake_case marks them as ours, never Trello's). They are part of the raw JSON
stored for the card, on purpose: the store decides whether a row changed from its raw JSON and
the mapping in force, so a list renamed must change the raw, and re-mapping stored raw JSON
(``MAPPINGS[...].payload_models``) must find the names again.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import AwareDatetime, Field

from sync.connectors.base import Payload


class TrelloMember(Payload):
    id: str
    fullName: str | None = None
    username: str | None = None
    #: Trello shows a member's e-mail to that member only (``/members/me``): board member lists
    #: carry none (the spec's ``Member.email`` does not say who may read it).
    email: str | None = None


class TrelloBoard(Payload):
    id: str
    name: str
    closed: bool = False
    url: str | None = None
    shortUrl: str | None = None
    shortLink: str | None = None
    idOrganization: str | None = None


class TrelloList(Payload):
    id: str
    name: str
    closed: bool = False
    idBoard: str | None = None
    pos: float | None = None


class TrelloLabel(Payload):
    id: str
    #: Null or empty for a colour-only label.
    name: str | None = None
    color: str | None = None
    idBoard: str | None = None


class TrelloBadges(Payload):
    #: Check items across the card's checklists, and how many are ticked.
    checkItems: int = 0
    checkItemsChecked: int = 0


class TrelloCard(Payload):
    id: str
    name: str
    idBoard: str
    idList: str
    #: Archived. Not deleted: archived cards stay readable (``/cards/all``, ``/cards/{id}``).
    closed: bool = False
    dateLastActivity: AwareDatetime
    #: The spec says ``format: date``; Trello sends a full timestamp (the docs' Action example).
    due: AwareDatetime | date | None = None
    dueComplete: bool = False
    #: Not in the spec's card field list (FACTS.md §2.2); read when Trello sends it anyway.
    start: AwareDatetime | date | None = None
    idLabels: list[str] = Field(default_factory=list)
    idMembers: list[str] = Field(default_factory=list)
    idShort: int | None = None
    shortLink: str | None = None
    shortUrl: str | None = None
    url: str | None = None
    badges: TrelloBadges | None = None

    # -- resolved by the connector from the board's lists, labels and members --------------
    list_name: str | None = None
    list_closed: bool = False
    label_names: list[str] = Field(default_factory=list)
    assignees: list[TrelloMember] = Field(default_factory=list)


class TrelloCardRef(Payload):
    """What census asks of a card: its id, and enough to tell a milestone from a work item."""

    id: str
    idList: str | None = None
    idLabels: list[str] = Field(default_factory=list)


class TrelloActionRef(Payload):
    id: str
    name: str | None = None


class TrelloActionData(Payload):
    card: TrelloActionRef | None = None
    board: TrelloActionRef | None = None
    list: TrelloActionRef | None = None
    listBefore: TrelloActionRef | None = None
    listAfter: TrelloActionRef | None = None
    label: TrelloActionRef | None = None
    #: The changed fields' previous values (``updateCard``, ``updateList``).
    old: dict[str, Any] | None = None


class TrelloAction(Payload):
    """One entry of a board's actions feed, and the ``action`` of a webhook body."""

    #: A Mongo ObjectId: 24 hex digits whose first eight are the creation time in seconds.
    id: str
    type: str
    date: AwareDatetime | None = None
    data: TrelloActionData = Field(default_factory=TrelloActionData)


class TrelloModelRef(Payload):
    id: str


class TrelloWebhookBody(Payload):
    """``{"action": {...}, "model": {...}}``: ``model`` is the watched model after the change."""

    action: TrelloAction
    model: TrelloModelRef
