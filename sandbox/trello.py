"""A Trello REST API v1 simulator, as an ASGI app.

It speaks the slice of the API a sync client uses, with the paths, parameters and shapes of the
published spec (``shared/vendor-api/trello/trello-rest-v1.openapi.json``) and the behaviours in
``shared/vendor-api/FACTS.md`` §2: ``key`` and ``token`` query parameters, whole-set card and
list responses (no cursor), an actions feed newest first with ``limit`` <= 1000, ``before`` and
``since`` (an action id or a ``YYYY-MM-DDThh:mm:ssZ`` date), ``deleteCard`` actions for
deletions and ``closed: true`` for archiving, 429 bodies ``{"error":
"API_TOKEN_LIMIT_EXCEEDED", ...}`` with the ``x-rate-limit-*`` headers, and webhook deliveries
signed ``base64(HMAC-SHA1(secret, body + callbackURL))`` in ``X-Trello-Webhook``.

Endpoints (served under ``/1`` as on ``api.trello.com``, and without the prefix too, so a
connection whose base URL is the bare simulator address works as well)::

    GET /members/{id|me}                 GET /boards/{id}/members
    GET /members/{id|me}/boards          GET /boards/{id}/cards
    GET /boards/{id}                     GET /boards/{id}/cards/{filter}
    GET /boards/{id}/lists               GET /boards/{id}/actions
    GET /boards/{id}/labels              GET /cards/{id}

Not in the spec, hence choices of this simulator: error bodies use the spec's ``Error`` schema
``{"code", "message"}`` with Trello's well-known messages ("invalid token", "unauthorized
permission requested", "The requested resource was not found.", "invalid id"); a board the
token lost access to answers 401 (``hide_board(..., status=403 or 404)`` for the others);
member e-mails appear only on ``/members/me``; no ``Retry-After`` on 429 unless asked for.

State is in memory and readable: ``sim.boards``, ``sim.lists``, ``sim.labels``, ``sim.cards``
(live cards by id, archived included), ``sim.members``, ``sim.me`` and ``sim.actions(board)``.
The records are the dataclasses of :mod:`sandbox.trello_data`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.contract import Delivery
from sandbox.server import AsgiEntry, Failure, FailureQueue, run_on_loopback
from sandbox.trello_data import (
    MILESTONE_LABEL,
    Action,
    Board,
    Card,
    Label,
    Member,
    TList,
    generate_dataset,
)

__all__ = ["DEMO_KEY", "DEMO_TOKEN", "TrelloHandle", "TrelloSimulator", "serve"]

#: The simulator's default "now": fixed, so every run sees the same data and the same clock.
DEFAULT_NOW: Final = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
#: The public demo credentials (a Power-Up key is 32 hex digits, a token 64 or more).
DEMO_KEY: Final = "0123456789abcdef0123456789abcdef"
DEMO_TOKEN: Final = "demo-token-" + "0" * 53
DEFAULT_PORT: Final = 8102

Json = dict[str, Any]

_JSON_TYPE: Final = "application/json; charset=utf-8"
_OBJECT_ID: Final = re.compile(r"[0-9a-fA-F]{24}")
_SHORT_LINK: Final = re.compile(r"[0-9A-Za-z]{8}")
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?Z")
_NOT_FOUND: Final = "The requested resource was not found."
#: ``GET /cards/{id}`` defaults (the spec's ``fields`` description).
CARD_DEFAULT_FIELDS: Final = (
    "badges,checkItemStates,closed,dateLastActivity,desc,descData,due,start,idBoard,"
    "idChecklists,idLabels,idList,idMembers,idShort,idAttachmentCover,manualCoverAttachment,"
    "labels,name,pos,shortUrl,url"
)
#: ``GET /boards/{id}`` defaults (the spec's ``fields`` default).
BOARD_DEFAULT_FIELDS: Final = (
    "name,desc,descData,closed,idOrganization,pinned,url,shortUrl,prefs,labelNames"
)
_STATUS_MESSAGES: Final = {
    400: "invalid request",
    401: "unauthorized permission requested",
    403: "forbidden",
    404: _NOT_FOUND,
    429: "Rate limit exceeded",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _code(status)


def _code(status: int) -> str:
    return {
        400: "BAD_REQUEST",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        429: "API_TOKEN_LIMIT_EXCEEDED",
    }.get(status, "ERROR")


def _json(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, dict(headers or {}), media_type=_JSON_TYPE)


def _error(status: int, message: str, code: str | None = None) -> Response:
    return _json({"code": code or _code(status), "message": message}, status)


def _when(moment: datetime | None) -> str | None:
    """Trello's timestamps: UTC, milliseconds, ``Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "card"


def _initials(name: str) -> str:
    return "".join(part[0] for part in name.split()[:2]).upper()


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------

_Field = Callable[[Any], Any]


def _card_fields(sim: TrelloSimulator) -> dict[str, _Field]:
    """Card field name -> how to render it, in the order Trello lists them."""

    def badges(card: Card) -> Json:
        return {
            "attachmentsByType": {"trello": {"board": 0, "card": 0}},
            "location": False,
            "votes": 0,
            "viewingMemberVoted": False,
            "subscribed": False,
            "fogbugz": "",
            "checkItems": card.check_items,
            "checkItemsChecked": card.check_items_checked,
            "checkItemsEarliestDue": None,
            "comments": 0,
            "attachments": 0,
            "description": bool(card.desc),
            "due": _when(card.due),
            "dueComplete": card.due_complete,
            "start": None,
        }

    return {
        "id": lambda c: c.id,
        "address": lambda c: None,
        "badges": badges,
        "checkItemStates": lambda c: [],
        "closed": lambda c: c.closed,
        "coordinates": lambda c: None,
        "creationMethod": lambda c: None,
        "dueComplete": lambda c: c.due_complete,
        "dateLastActivity": lambda c: _when(c.last_activity),
        "desc": lambda c: c.desc,
        "descData": lambda c: {"emoji": {}},
        "due": lambda c: _when(c.due),
        "dueReminder": lambda c: None,
        "idBoard": lambda c: c.board_id,
        "idChecklists": lambda c: [],
        "idLabels": lambda c: list(c.label_ids),
        "idList": lambda c: c.list_id,
        "idMembers": lambda c: list(c.member_ids),
        "idMembersVoted": lambda c: [],
        "idShort": lambda c: c.id_short,
        "idAttachmentCover": lambda c: None,
        "labels": lambda c: [sim._label_json(sim.labels[i]) for i in c.label_ids],
        "limits": lambda c: {},
        "locationName": lambda c: None,
        "manualCoverAttachment": lambda c: False,
        "name": lambda c: c.name,
        "pos": lambda c: c.pos,
        "shortLink": lambda c: c.short_link,
        "shortUrl": lambda c: f"https://trello.com/c/{c.short_link}",
        "start": lambda c: None,
        "subscribed": lambda c: False,
        "url": lambda c: f"https://trello.com/c/{c.short_link}/{c.id_short}-{_slug(c.name)}",
        "cover": lambda c: {
            "idAttachment": None,
            "color": None,
            "idUploadedBackground": None,
            "size": "normal",
            "brightness": "dark",
            "idPlugin": None,
        },
        "isTemplate": lambda c: False,
        "cardRole": lambda c: None,
    }


def _board_fields(sim: TrelloSimulator) -> dict[str, _Field]:
    def label_names(board: Board) -> Json:
        names = dict.fromkeys(
            ("green", "yellow", "orange", "red", "purple", "blue", "sky", "lime", "pink", "black"),
            "",
        )
        for label in sim.labels.values():
            if label.board_id == board.id and label.color and not names.get(label.color):
                names[label.color] = label.name
        return names

    return {
        "id": lambda b: b.id,
        "name": lambda b: b.name,
        "desc": lambda b: b.desc,
        "descData": lambda b: None,
        "closed": lambda b: b.closed,
        "idMemberCreator": lambda b: sim.me.id,
        "idOrganization": lambda b: b.org_id,
        "pinned": lambda b: False,
        "url": lambda b: f"https://trello.com/b/{b.short_link}/{_slug(b.name)}",
        "shortUrl": lambda b: f"https://trello.com/b/{b.short_link}",
        "prefs": lambda b: {
            "permissionLevel": "org",
            "hideVotes": False,
            "voting": "disabled",
            "comments": "members",
            "invitations": "members",
            "selfJoin": True,
            "cardCovers": True,
            "isTemplate": False,
            "cardAging": "regular",
            "calendarFeedEnabled": False,
            "background": "blue",
        },
        "labelNames": label_names,
        "shortLink": lambda b: b.short_link,
        "dateLastActivity": lambda b: _when(b.last_activity),
        "dateLastView": lambda b: _when(b.last_activity),
        "starred": lambda b: False,
        "subscribed": lambda b: False,
        "memberships": lambda b: [
            {"id": m, "idMember": m, "memberType": "normal", "unconfirmed": False}
            for m in b.member_ids
        ],
        "enterpriseOwned": lambda b: False,
    }


_LIST_FIELDS: Final[dict[str, _Field]] = {
    "id": lambda x: x.id,
    "name": lambda x: x.name,
    "closed": lambda x: x.closed,
    "pos": lambda x: x.pos,
    "softLimit": lambda x: None,
    "idBoard": lambda x: x.board_id,
    "subscribed": lambda x: False,
}

_LABEL_FIELDS: Final[dict[str, _Field]] = {
    "id": lambda x: x.id,
    "idBoard": lambda x: x.board_id,
    "name": lambda x: x.name,
    "color": lambda x: x.color,
}

_ACTION_FIELDS: Final = ("id", "idMemberCreator", "data", "appCreator", "type", "date", "limits")


def _select(value: str | None, known: Iterable[str], default: str = "all") -> list[str]:
    """The ``fields`` parameter: ``all`` or a comma-separated list; unknown names are ignored
    and ``id`` always comes (as Trello does), in the renderer's order."""
    text = default if value is None or value == "" else value
    wanted = {part.strip() for part in text.split(",") if part.strip()}
    names = list(known)
    if "all" in wanted:
        return names
    return [name for name in names if name in wanted or name == "id"]


# --------------------------------------------------------------------------------------------
# The simulator
# --------------------------------------------------------------------------------------------


_KEEP: Final[Any] = object()


class TrelloSimulator:
    """An in-memory Trello with seeded sales-ops boards and test controls.

    ``app`` is the ASGI application. Mutations (``create_card``, ``update_card``,
    ``archive_card``, ``delete_card``, ``rename_list``) record actions in the board's feed as
    Trello does, stamped with :meth:`clock`; ``hide_board`` takes a board away from the token.
    """

    def __init__(
        self,
        *,
        cards: int = 300,
        seed: int = 7,
        key: str = DEMO_KEY,
        token: str = DEMO_TOKEN,
        email: str = "demo@example.com",
        now: datetime | None = None,
    ) -> None:
        if cards < 0:
            raise ValueError("cards must not be negative")
        if now is not None and now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._now = (now or DEFAULT_NOW).astimezone(UTC)
        data = generate_dataset(cards=cards, seed=seed, now=self._now, email=email)
        self.me: Member = data.me
        self.members: dict[str, Member] = data.members
        self.boards: dict[str, Board] = data.boards
        self.lists: dict[str, TList] = data.lists
        self.labels: dict[str, Label] = data.labels
        #: Live cards by id, archived ones included; deleted ones move to ``_deleted``.
        self.cards: dict[str, Card] = data.cards
        self._deleted: dict[str, Card] = {}
        self._ids = data.ids
        self._feeds: dict[str, list[Action]] = {b: [] for b in self.boards}
        for action in data.actions:
            self._feeds[action.board_id].append(action)
        self._feed_ids: dict[str, list[str]] = {
            b: [a.id for a in feed] for b, feed in self._feeds.items()
        }
        self._key = key.encode()
        self._token = token.encode()
        self._requests = 0
        self._failures = FailureQueue()
        self._corrupt_next = False
        self._card_renderers = _card_fields(self)
        self._board_renderers = _board_fields(self)

        router = Starlette(
            routes=[
                Route("/members/{id}", self._member, methods=["GET"]),
                Route("/members/{id}/boards", self._member_boards, methods=["GET"]),
                Route("/boards/{id}", self._board, methods=["GET"]),
                Route("/boards/{id}/lists", self._board_lists, methods=["GET"]),
                Route("/boards/{id}/labels", self._board_labels, methods=["GET"]),
                Route("/boards/{id}/members", self._board_members, methods=["GET"]),
                Route("/boards/{id}/cards", self._board_cards, methods=["GET"]),
                Route("/boards/{id}/cards/{filter}", self._board_cards, methods=["GET"]),
                Route("/boards/{id}/actions", self._board_actions, methods=["GET"]),
                Route("/cards/{id}", self._card, methods=["GET"]),
            ],
            exception_handlers={ApiError: self._on_error, HTTPException: self._on_error},
        )
        router.router.redirect_slashes = False
        self._router: ASGIApp = router
        self.app: ASGIApp = AsgiEntry(self._handle)

    # -- clock ---------------------------------------------------------------------------

    def clock(self) -> datetime:
        """The simulator's "now" (UTC); fixed unless set or advanced."""
        return self._now

    def set_clock(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._now = now.astimezone(UTC)

    def advance(self, seconds: float) -> None:
        self.set_clock(self._now + timedelta(seconds=seconds))

    # -- lookups -------------------------------------------------------------------------

    def board(self, ref: str) -> Board:
        """A board by id, short link or name (hidden ones included)."""
        for board in self.boards.values():
            if ref in (board.id, board.short_link, board.name):
                return board
        raise KeyError(f"no board {ref!r}; known: {[b.name for b in self.boards.values()]}")

    def list_named(self, board: str, name: str) -> TList:
        owner = self.board(board)
        for candidate in self.lists.values():
            if candidate.board_id == owner.id and candidate.name == name:
                return candidate
        raise KeyError(f"no list {name!r} on {owner.name!r}")

    def label_named(self, board: str, name: str) -> Label:
        owner = self.board(board)
        for candidate in self.labels.values():
            if candidate.board_id == owner.id and candidate.name == name:
                return candidate
        raise KeyError(f"no label {name!r} on {owner.name!r}")

    def is_milestone(self, card_id: str) -> bool:
        """Whether a card carries the board's "Milestone" label (the connector's default)."""
        card = self.cards[card_id]
        return any(self.labels[i].name == MILESTONE_LABEL for i in card.label_ids)

    def actions(self, board: str) -> list[Action]:
        """The board's feed, oldest first."""
        return list(self._feeds[self.board(board).id])

    def visible_card_ids(self) -> list[str]:
        """Cards the token can read (archived included, hidden boards' excluded)."""
        return [c.id for c in self.cards.values() if self.boards[c.board_id].hidden_status is None]

    @property
    def request_count(self) -> int:
        """HTTP requests served, failures and 401s included."""
        return self._requests

    # -- mutations -----------------------------------------------------------------------

    def create_card(
        self,
        board: str,
        *,
        name: str,
        list_name: str = "To Do",
        labels: Sequence[str] = (),
        due: datetime | None = None,
        members: Sequence[str] = (),
    ) -> str:
        """Add a card (``createCard``); ``labels`` by name, ``members`` by username."""
        owner = self.board(board)
        target = self.list_named(owner.id, list_name)
        now = self._now
        card = Card(
            id=self._ids.after_all(now),
            board_id=owner.id,
            list_id=target.id,
            name=name,
            id_short=owner.next_short,
            short_link=self._new_short_link(),
            pos=16384.0 * owner.next_short,
            created=now,
            last_activity=now,
            due=due,
            label_ids=tuple(self.label_named(owner.id, n).id for n in labels),
            member_ids=tuple(self._member_by_username(u).id for u in members),
        )
        owner.next_short += 1
        self.cards[card.id] = card
        self._record(
            owner,
            "createCard",
            {"card": self._card_ref(card), "list": self._list_ref(target), "board": None},
        )
        return card.id

    def update_card(
        self,
        card_id: str,
        *,
        name: str | None = None,
        list_name: str | None = None,
        due: datetime | None = _KEEP,
        due_complete: bool | None = None,
        closed: bool | None = None,
        add_labels: Sequence[str] = (),
        remove_labels: Sequence[str] = (),
    ) -> None:
        """Change a card like a user would (one ``updateCard`` with ``data.old``, and one
        ``addLabelToCard``/``removeLabelFromCard`` per label); None leaves a field alone."""
        card = self._live(card_id)
        board = self.boards[card.board_id]
        old: Json = {}
        new: Json = {}
        extra: Json = {}
        if name is not None and name != card.name:
            old["name"], new["name"] = card.name, name
            card.name = name
        if list_name is not None:
            target = self.list_named(board.id, list_name)
            if target.id != card.list_id:
                before = self.lists[card.list_id]
                old["idList"], new["idList"] = card.list_id, target.id
                extra = {"listBefore": self._list_ref(before), "listAfter": self._list_ref(target)}
                card.list_id = target.id
        if due is not _KEEP and due != card.due:
            old["due"], new["due"] = _when(card.due), _when(due)
            card.due = due
        if due_complete is not None and due_complete != card.due_complete:
            old["dueComplete"], new["dueComplete"] = card.due_complete, due_complete
            card.due_complete = due_complete
        if closed is not None and closed != card.closed:
            old["closed"], new["closed"] = card.closed, closed
            card.closed = closed
        card.last_activity = self._now
        if old:
            data: Json = {"card": {**new, **self._card_ref(card)}, "old": old, "board": None}
            data.update(extra or {"list": self._list_ref(self.lists[card.list_id])})
            self._record(board, "updateCard", data)
        for label_name in add_labels:
            label = self.label_named(board.id, label_name)
            if label.id not in card.label_ids:
                card.label_ids = (*card.label_ids, label.id)
                self._record(board, "addLabelToCard", self._label_data(card, label))
        for label_name in remove_labels:
            label = self.label_named(board.id, label_name)
            if label.id in card.label_ids:
                card.label_ids = tuple(i for i in card.label_ids if i != label.id)
                self._record(board, "removeLabelFromCard", self._label_data(card, label))

    def archive_card(self, card_id: str) -> None:
        """Archive (``closed: true``): an ``updateCard``, not a deletion."""
        self.update_card(card_id, closed=True)

    def delete_card(self, card_id: str) -> None:
        """Delete for good: the card 404s from now on; the feed gets a ``deleteCard``."""
        card = self._live(card_id)
        board = self.boards[card.board_id]
        del self.cards[card_id]
        self._deleted[card_id] = card
        self._record(
            board,
            "deleteCard",
            {
                "card": {"id": card.id, "idShort": card.id_short, "shortLink": card.short_link},
                "list": self._list_ref(self.lists[card.list_id]),
                "board": None,
            },
        )

    def rename_list(self, board: str, name: str, new_name: str) -> None:
        """Rename a list (``updateList`` with ``data.old.name``): every card in it moves
        status at once, and no card action says so."""
        target = self.list_named(board, name)
        target.name = new_name
        self._record(
            self.boards[target.board_id],
            "updateList",
            {"list": {**self._list_ref(target)}, "old": {"name": name}, "board": None},
        )

    def hide_board(self, board: str, *, status: int = 401) -> None:
        """The token loses the board: every request about it answers ``status``."""
        if status not in (401, 403, 404):
            raise ValueError("a hidden board answers 401, 403 or 404")
        self.board(board).hidden_status = status

    def reveal_board(self, board: str) -> None:
        self.board(board).hidden_status = None

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        retry_after: str | None = None,
        body: str | dict[str, Any] | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status``, before auth and routing.

        A str ``body`` goes as text/plain, a dict as JSON; the default is the error envelope,
        and for 429 Trello's ``{"error": "API_TOKEN_LIMIT_EXCEEDED", ...}`` with the
        ``x-rate-limit-*`` headers (no ``Retry-After`` unless ``retry_after`` is given).
        """
        self._failures.add(
            status, count=count, retry_after=retry_after, body=body, path_contains=path_contains
        )

    def corrupt_next_card(self) -> None:
        """The next response carrying cards has a first card whose ``dateLastActivity`` is not
        a timestamp."""
        self._corrupt_next = True

    # -- webhooks ------------------------------------------------------------------------

    def delivery(
        self, card_id: str, *, secret: str, callback_url: str, action_type: str | None = None
    ) -> Delivery:
        """A board webhook's delivery of the newest action naming ``card_id`` (or of the
        newest of ``action_type``), signed as Trello signs: base64 HMAC-SHA1 of the raw body
        followed by the callback URL, keyed by the application secret (FACTS.md §2.5)."""
        card = self.cards.get(card_id) or self._deleted.get(card_id)
        if card is None:
            raise KeyError(f"no card {card_id!r}")
        feed = self._feeds[card.board_id]
        action = next(
            a
            for a in reversed(feed)
            if self._action_card_id(a) == card_id and action_type in (None, a.type)
        )
        board = self.boards[card.board_id]
        body = orjson.dumps(
            {
                "action": self._action_json(action, _ACTION_FIELDS, member_creator=True),
                "model": self._board_json(
                    board, _select(BOARD_DEFAULT_FIELDS, self._board_renderers)
                ),
            }
        )
        return Delivery(body=body, headers={"X-Trello-Webhook": sign(body, callback_url, secret)})

    # -- internals -----------------------------------------------------------------------

    def _live(self, card_id: str) -> Card:
        card = self.cards.get(card_id)
        if card is None:
            raise KeyError(f"no live card {card_id!r}")
        return card

    def _member_by_username(self, username: str) -> Member:
        for member in self.members.values():
            if member.username == username:
                return member
        raise KeyError(f"no member {username!r}")

    def _new_short_link(self) -> str:
        taken = {c.short_link for c in self.cards.values()}
        number = len(self.cards) + len(self._deleted)
        while True:
            number += 1
            value = f"new{number:05d}"[-8:]
            if value not in taken:
                return value

    def _card_ref(self, card: Card) -> Json:
        return {
            "id": card.id,
            "name": card.name,
            "idShort": card.id_short,
            "shortLink": card.short_link,
        }

    @staticmethod
    def _list_ref(target: TList) -> Json:
        return {"id": target.id, "name": target.name}

    def _label_data(self, card: Card, label: Label) -> Json:
        return {
            "card": self._card_ref(card),
            "label": {"id": label.id, "name": label.name, "color": label.color},
            "text": label.name,
            "board": None,
        }

    def _record(self, board: Board, action_type: str, data: Json) -> None:
        data["board"] = {"id": board.id, "name": board.name, "shortLink": board.short_link}
        action = Action(
            self._ids.after_all(self._now),
            board.id,
            action_type,
            self._now,
            self.me.id,
            data=data,
        )
        self._feeds[board.id].append(action)
        self._feed_ids[board.id].append(action.id)
        board.last_activity = self._now

    def _action_card_id(self, action: Action) -> str | None:
        if action.data is not None:
            card = action.data.get("card")
            return card.get("id") if isinstance(card, dict) else None
        return action.card_id

    # -- ASGI ----------------------------------------------------------------------------

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._router(scope, receive, send)
            return
        self._requests += 1
        path: str = scope["path"]
        failure = self._failures.take(path, scope["method"])
        if failure is not None:
            await self._failure_response(failure)(scope, receive, send)
            return
        problem = self._auth_problem(scope)
        if problem is not None:
            await _error(401, problem)(scope, receive, send)
            return
        if path == "/1" or path.startswith("/1/"):
            path = path[2:] or "/"
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/")
        routed = {**scope, "path": path, "raw_path": path.encode()}
        await self._router(routed, receive, send)

    def _failure_response(self, failure: Failure) -> Response:
        headers: dict[str, str] = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = failure.retry_after
        if failure.status == 429:
            headers.update(
                {
                    "x-rate-limit-api-token-interval-ms": "10000",
                    "x-rate-limit-api-token-max": "100",
                    "x-rate-limit-api-token-remaining": "0",
                    "x-rate-limit-api-key-interval-ms": "10000",
                    "x-rate-limit-api-key-max": "300",
                    "x-rate-limit-api-key-remaining": "200",
                }
            )
        if isinstance(failure.body, str):
            return Response(failure.body, failure.status, headers, media_type="text/plain")
        if isinstance(failure.body, dict):
            return _json(failure.body, failure.status, headers)
        if failure.status == 429:
            body = {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
            return _json(body, 429, headers)
        message = _STATUS_MESSAGES.get(failure.status, "Request failed")
        return _json({"code": _code(failure.status), "message": message}, failure.status, headers)

    def _auth_problem(self, scope: Scope) -> str | None:
        """What Trello says when ``key``/``token`` are missing or wrong, else None."""
        query = Request(scope).query_params
        key = query.get("key", "").encode()
        token = query.get("token", "").encode()
        if not key or not hmac.compare_digest(key, self._key):
            return "invalid key"
        if not token or not hmac.compare_digest(token, self._token):
            return "invalid token"
        return None

    async def _on_error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, ApiError):
            return _error(exc.status, exc.message, exc.code)
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return _error(404, f"Cannot GET {request.url.path}")
        return _error(exc.status_code, str(exc.detail))

    def _visible_board(self, ref: str) -> Board:
        for board in self.boards.values():
            if ref in (board.id, board.short_link):
                if board.hidden_status is not None:
                    raise ApiError(board.hidden_status, _STATUS_MESSAGES[board.hidden_status])
                return board
        if _OBJECT_ID.fullmatch(ref) or _SHORT_LINK.fullmatch(ref):
            raise ApiError(404, _NOT_FOUND)
        raise ApiError(400, "invalid id", "INVALID_ID")

    # -- rendering -----------------------------------------------------------------------

    def _card_json(self, card: Card, fields: Sequence[str]) -> Json:
        render = self._card_renderers
        return {name: render[name](card) for name in fields}

    def _cards_response(self, cards: Iterable[Card], fields: Sequence[str]) -> list[Json]:
        rendered = [self._card_json(card, fields) for card in cards]
        if self._corrupt_next and rendered:
            self._corrupt_next = False
            rendered[0]["dateLastActivity"] = "yesterday"
        return rendered

    def _board_json(self, board: Board, fields: Sequence[str]) -> Json:
        render = self._board_renderers
        return {name: render[name](board) for name in fields}

    @staticmethod
    def _label_json(label: Label) -> Json:
        return {"id": label.id, "idBoard": label.board_id, "name": label.name, "color": label.color}

    def _member_json(self, member: Member, fields: Sequence[str]) -> Json:
        out: Json = {
            "id": member.id,
            "activityBlocked": False,
            "avatarHash": None,
            "avatarUrl": None,
            "fullName": member.full_name,
            "idMemberReferrer": None,
            "initials": _initials(member.full_name),
            "nonPublic": {},
            "nonPublicAvailable": True,
            "username": member.username,
            "url": f"https://trello.com/{member.username}",
            "confirmed": True,
            "memberType": "normal",
        }
        if member is self.me:
            out["email"] = member.email
            out["idBoards"] = [b.id for b in self.boards.values() if b.hidden_status is None]
        return {k: v for k, v in out.items() if k in fields}

    def _member_creator(self, member_id: str) -> Json:
        member = self.members[member_id]
        return {
            "id": member.id,
            "activityBlocked": False,
            "avatarHash": None,
            "avatarUrl": None,
            "fullName": member.full_name,
            "idMemberReferrer": None,
            "initials": _initials(member.full_name),
            "nonPublic": {},
            "nonPublicAvailable": True,
            "username": member.username,
        }

    def _action_data(self, action: Action) -> Json:
        if action.data is not None:
            return action.data
        card = self.cards.get(action.card_id or "") or self._deleted[action.card_id or ""]
        board = self.boards[action.board_id]
        ref = {
            "id": card.id,
            "name": action.card_name,
            "idShort": card.id_short,
            "shortLink": card.short_link,
        }
        board_ref = {"id": board.id, "name": board.name, "shortLink": board.short_link}
        if action.type == "createCard":
            target = self.lists[action.list_id or ""]
            return {"card": ref, "list": self._list_ref(target), "board": board_ref}
        after = self.lists[action.list_id or ""]
        if action.change == "closed":
            return {
                "card": {"closed": True, **ref},
                "old": {"closed": False},
                "board": board_ref,
                "list": self._list_ref(after),
            }
        before = self.lists[action.list_before_id or ""]
        return {
            "card": {"idList": after.id, **ref},
            "old": {"idList": before.id},
            "board": board_ref,
            "listBefore": self._list_ref(before),
            "listAfter": self._list_ref(after),
        }

    def _action_json(self, action: Action, fields: Sequence[str], *, member_creator: bool) -> Json:
        values: Json = {
            "id": action.id,
            "idMemberCreator": action.creator_id,
            "data": None,
            "appCreator": None,
            "type": action.type,
            "date": _when(action.date),
            "limits": {},
        }
        out = {name: values[name] for name in fields}
        if "data" in out:
            out["data"] = self._action_data(action)
        if member_creator:
            out["memberCreator"] = self._member_creator(action.creator_id)
        return out

    # -- endpoints -----------------------------------------------------------------------

    async def _member(self, request: Request) -> Response:
        member = self._member_ref(request.path_params["id"])
        fields = _select(request.query_params.get("fields"), _MEMBER_ALL)
        return _json(self._member_json(member, fields))

    def _member_ref(self, ref: str) -> Member:
        if ref == "me":
            return self.me
        for member in self.members.values():
            if ref in (member.id, member.username):
                return member
        raise ApiError(404, "model not found")

    async def _member_boards(self, request: Request) -> Response:
        member = self._member_ref(request.path_params["id"])
        wanted = _csv(request.query_params.get("filter")) or {"all"}
        unknown = wanted - {"all", "open", "closed", "members", "organization", "public", "starred"}
        if unknown:
            raise ApiError(400, f"invalid value for filter: {sorted(unknown)[0]}")
        fields = _select(request.query_params.get("fields"), self._board_renderers)
        boards = [
            b
            for b in self.boards.values()
            if member.id in b.member_ids
            and b.hidden_status is None
            and (
                wanted & {"all", "members", "organization"}
                or ("open" in wanted and not b.closed)
                or ("closed" in wanted and b.closed)
            )
        ]
        return _json([self._board_json(b, fields) for b in boards])

    async def _board(self, request: Request) -> Response:
        board = self._visible_board(request.path_params["id"])
        fields = _select(
            request.query_params.get("fields"), self._board_renderers, BOARD_DEFAULT_FIELDS
        )
        return _json(self._board_json(board, fields))

    async def _board_lists(self, request: Request) -> Response:
        board = self._visible_board(request.path_params["id"])
        which = request.query_params.get("filter", "open")
        if which not in ("all", "open", "closed", "none"):
            raise ApiError(400, "invalid value for filter")
        fields = _select(request.query_params.get("fields"), _LIST_FIELDS)
        rows = [
            {name: _LIST_FIELDS[name](x) for name in fields}
            for x in sorted(self.lists.values(), key=lambda x: x.pos)
            if x.board_id == board.id
            and (which == "all" or (which == "open") != x.closed)
            and which != "none"
        ]
        return _json(rows)

    async def _board_labels(self, request: Request) -> Response:
        board = self._visible_board(request.path_params["id"])
        limit = _int_param(request.query_params.get("limit"), "limit", 50, maximum=1000)
        fields = _select(request.query_params.get("fields"), _LABEL_FIELDS)
        rows = [
            {name: _LABEL_FIELDS[name](x) for name in fields}
            for x in self.labels.values()
            if x.board_id == board.id
        ]
        return _json(rows[:limit])

    async def _board_members(self, request: Request) -> Response:
        board = self._visible_board(request.path_params["id"])
        return _json(
            [
                {"id": m.id, "fullName": m.full_name, "username": m.username}
                for m in (self.members[i] for i in board.member_ids)
            ]
        )

    async def _board_cards(self, request: Request) -> Response:
        board = self._visible_board(request.path_params["id"])
        which = request.path_params.get("filter", "open")
        tests: dict[str, Callable[[Card], bool]] = {
            "all": lambda c: True,
            "open": lambda c: not c.closed,
            "visible": lambda c: not c.closed,
            "closed": lambda c: c.closed,
            "complete": lambda c: c.due_complete,
            "incomplete": lambda c: not c.due_complete,
            "none": lambda c: False,
        }
        test = tests.get(which)
        if test is None:
            raise ApiError(400, "invalid value for filter")
        fields = _select(request.query_params.get("fields"), self._card_renderers)
        cards = (c for c in self.cards.values() if c.board_id == board.id and test(c))
        return _json(self._cards_response(cards, fields))

    async def _card(self, request: Request) -> Response:
        ref = request.path_params["id"]
        card = self.cards.get(ref)
        if card is None:
            card = next((c for c in self.cards.values() if c.short_link == ref), None)
        if card is None:
            if _OBJECT_ID.fullmatch(ref) or _SHORT_LINK.fullmatch(ref):
                raise ApiError(404, _NOT_FOUND)
            raise ApiError(400, "invalid id", "INVALID_ID")
        self._visible_board(card.board_id)
        fields = _select(
            request.query_params.get("fields"), self._card_renderers, CARD_DEFAULT_FIELDS
        )
        return _json(self._cards_response([card], fields)[0])

    async def _board_actions(self, request: Request) -> Response:
        board = self._visible_board(request.path_params["id"])
        query = request.query_params
        if query.get("format", "list") != "list":
            raise ApiError(400, "invalid value for format")
        limit = _int_param(query.get("limit"), "limit", 50, maximum=1000)
        page = _int_param(query.get("page"), "page", 0)
        types = _csv(query.get("filter")) - {"all"}
        fields = _select(query.get("fields"), _ACTION_FIELDS)
        member_creator = query.get("memberCreator", "true").lower() != "false"
        ids = self._feed_ids[board.id]
        feed = self._feeds[board.id]
        low = self._bound(ids, query.get("since"), "since")
        high = self._bound(ids, query.get("before"), "before")
        skip, picked = page * limit, list[Action]()
        for index in range(min(high, len(ids)) - 1, low - 1, -1):  # newest first
            if len(picked) >= limit:
                break
            action = feed[index]
            if types and action.type not in types:
                continue
            if skip:
                skip -= 1
                continue
            picked.append(action)
        return _json([self._action_json(a, fields, member_creator=member_creator) for a in picked])

    @staticmethod
    def _bound(ids: list[str], value: str | None, name: str) -> int:
        """Index bounds for ``since`` (first index after it) and ``before`` (first index not
        before it), from an action id or a date."""
        if value is None or value == "":
            return 0 if name == "since" else len(ids)
        if _OBJECT_ID.fullmatch(value):
            bound = value.lower()
            return bisect_right(ids, bound) if name == "since" else bisect_left(ids, bound)
        if _DATE.fullmatch(value):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            seconds = f"{int(moment.timestamp()):08x}"
            if name == "since":
                return bisect_right(ids, seconds + "f" * 16)
            return bisect_left(ids, seconds + "0" * 16)
        raise ApiError(400, f"invalid value for {name}")


_MEMBER_ALL: Final = (
    "id",
    "activityBlocked",
    "avatarHash",
    "avatarUrl",
    "fullName",
    "idMemberReferrer",
    "initials",
    "nonPublic",
    "nonPublicAvailable",
    "username",
    "url",
    "confirmed",
    "memberType",
    "email",
    "idBoards",
)


def sign(body: bytes, callback_url: str, secret: str) -> str:
    """``X-Trello-Webhook``: base64(HMAC-SHA1(secret, body + callbackURL)) (FACTS.md §2.5)."""
    mac = hmac.new(secret.encode(), body + callback_url.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def _csv(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def _int_param(value: str | None, name: str, default: int, *, maximum: int | None = None) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(float(value))
    except ValueError:
        raise ApiError(400, f"invalid value for {name}") from None
    if number < 0 or (maximum is not None and number > maximum):
        raise ApiError(400, f"invalid value for {name}")
    return number


# --------------------------------------------------------------------------------------------
# The contract handle and running it
# --------------------------------------------------------------------------------------------


class TrelloHandle:
    """The vendor-neutral handle (:class:`sandbox.contract.Simulator`) over a simulator whose
    connection reads every board the demo token is a member of."""

    def __init__(self, *, items: int = 120, seed: int = 7) -> None:
        self.vendor = TrelloSimulator(cards=items, seed=seed)
        self.app: Any = self.vendor.app
        self.credentials: Mapping[str, str] = {"key": DEMO_KEY, "token": DEMO_TOKEN}
        self.scope: tuple[str, ...] = ()
        self.options: Mapping[str, Any] = {}
        self.signs_body = True

    def work_item_ids(self) -> list[str]:
        """Readable cards that are not milestones (archived ones are work items too)."""
        return [i for i in self.vendor.visible_card_ids() if not self.vendor.is_milestone(i)]

    def touch_item(self, vendor_id: str, *, title: str) -> None:
        self.vendor.advance(timedelta(minutes=5).total_seconds())
        self.vendor.update_card(vendor_id, name=title)

    def delete_item(self, vendor_id: str) -> None:
        self.vendor.delete_card(vendor_id)

    def delivery(self, vendor_id: str, *, secret: str, url: str) -> Delivery:
        return self.vendor.delivery(vendor_id, secret=secret, callback_url=url)


def serve(
    host: str = "127.0.0.1", port: int = DEFAULT_PORT, cards: int = 5000, seed: int = 7
) -> None:
    run_on_loopback("Trello", lambda: TrelloSimulator(cards=cards, seed=seed).app, host, port)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Trello simulator on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--cards", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(
        f"Trello simulator on http://{args.host}:{args.port}/1 (key={DEMO_KEY}, token={DEMO_TOKEN})"
    )
    serve(args.host, args.port, args.cards, args.seed)


if __name__ == "__main__":
    main()
