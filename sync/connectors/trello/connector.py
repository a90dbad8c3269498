"""Trello connector: REST API v1, facts from ``shared/vendor-api/FACTS.md`` §2.

Projects are boards; work items are cards; milestones are cards too (Trello has none natively):
the cards in the list named by option ``milestone_list``, or carrying the label named by option
``milestone_label`` (default ``"Milestone"``; ``null`` or ``""`` turns the label rule off).
A milestone card is a milestone and not a work item: it is left out of work-item pages and of
the census, and a card that turns into one is tombstoned as a work item (``Page.deleted_ids``).

Reading (FACTS.md §2.2, §2.3):

- Full: per board, the newest action id first (the board's resume point), then its lists,
  labels and members, then every card at once (``/boards/{id}/cards/all`` with an explicit
  ``fields=``; card lists have no pagination), handed to the engine in pages of
  :attr:`TrelloConnector.page_size`.
- Incremental: per board, ``/boards/{id}/actions?since=...`` paged back with
  ``before=<oldest id>`` (``limit`` <= 1000), then only the cards those actions name
  (``/cards/{id}``; 404 means deleted), or the whole board again when many cards changed or an
  action changed many cards at once (a list renamed, a label renamed). ``deleteCard`` actions
  are tombstones; archiving (``closed: true``) is an ordinary update. The cursor holds one entry
  per board, ``{"boards": {board id: {"newest": action id, "recent": [action ids]}}}``:
  ``since`` is the newest action's time less ``overlap_seconds`` (the id itself at 0), and
  ``recent`` lists the actions inside that overlap already handled, so a quiet board costs one
  request.
- Census: card ids per board (``fields=id,idList,idLabels``: the list and labels tell milestones
  apart). A board the token can no longer read (401, 403 or 404 on it while ``/members/me``
  still answers) is reported as lost access, never as deletions.

A card's list, label and member names come from its board (lists, labels, members) and are
added to the card, in the payload and in the raw JSON stored with it (see
:mod:`sync.connectors.trello.payloads` for why).

One connector instance serves one run. Milestones and work items are the same cards, fetched by
the engine one resource after the other: what the first resource reads from a board (its cards,
its actions feed) is handed to the second instead of being fetched twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar, cast

import httpx
from pydantic import ValidationError

from sync.connectors.base import (
    CensusPage,
    ChangeNotice,
    ConnectionConfig,
    Cursor,
    Page,
    RegisteredWebhook,
    WebhookRequest,
    secrets_match,
    validate_items,
)
from sync.connectors.trello import auth
from sync.connectors.trello.payloads import (
    TrelloAction,
    TrelloBoard,
    TrelloCard,
    TrelloCardRef,
    TrelloLabel,
    TrelloList,
    TrelloMember,
    TrelloModelRef,
    TrelloWebhookBody,
)
from sync.errors import (
    AccessLost,
    ContractBroken,
    CredentialsRejected,
    InvalidRequest,
    VendorError,
    WebhookRejected,
)
from sync.http.client import VendorClient, VendorNotFound
from sync.http.pagination import BeforeIdPaginator
from sync.http.rate_limit import RateLimit
from sync.model import Resource, Tool

T = TypeVar("T")

#: Where webhooks are registered, under the base URL (FACTS.md §2.5).
WEBHOOKS = "/webhooks"

#: Board fields we ask for (``GET /boards/{id}`` ``fields`` description, FACTS.md §2.2).
BOARD_FIELDS = ("name", "closed", "url", "shortUrl", "shortLink", "idOrganization")
#: Card fields we ask for, all from the spec's card field list (``CardFields``). ``start`` is
#: not in that list (FACTS.md §2.2), so it is not asked for.
CARD_FIELDS = (
    "id",
    "name",
    "idBoard",
    "idList",
    "closed",
    "dateLastActivity",
    "due",
    "dueComplete",
    "idLabels",
    "idMembers",
    "idShort",
    "shortLink",
    "shortUrl",
    "url",
    "badges",
)
CENSUS_FIELDS = ("id", "idList", "idLabels")
LIST_FIELDS = ("name", "closed", "idBoard", "pos")
LABEL_FIELDS = ("name", "color", "idBoard")
MEMBER_FIELDS = ("id", "username", "fullName", "email")
ACTION_FIELDS = ("id", "type", "date", "data")
#: ``GET /boards/{id}/labels`` returns 50 labels unless told; 1000 is the spec's maximum.
LABEL_LIMIT = 1000

#: Resources that read the same cards and share what the first of them fetched.
_CARD_RESOURCES = frozenset({Resource.MILESTONES, Resource.WORK_ITEMS})


@dataclass(slots=True)
class _BoardContext:
    """A board's lists, labels and members by id: what turns a card's ids into names, and
    which list and label ids make a card a milestone."""

    lists: dict[str, TrelloList]
    labels: dict[str, TrelloLabel]
    milestone_lists: frozenset[str]
    milestone_labels: frozenset[str]
    #: Member id -> ``{"id", "fullName", "username", "email"}`` (JSON: it goes into raw).
    members: dict[str, dict[str, Any]] | None = None


#: A board's entry in the cursor: ``{"newest": action id | None, "recent": [action ids]}``.
Mark = dict[str, Any]


@dataclass(slots=True)
class _Changes:
    """One board's actions since the cursor, and the cards they made us read again."""

    mark: Mark
    deleted: list[str]
    #: Cards read again, as received; the whole board's when ``whole``.
    cards: list[Any]
    whole: bool


@dataclass(slots=True)
class _Shared:
    """What one card resource read from the vendor, kept for the other one within the run.

    Each entry is handed to each resource at most once and dropped when both have had it; a
    resource asking a second time reads afresh.
    """

    consumers: frozenset[Resource]
    entries: dict[Hashable, tuple[Any, set[Resource]]] = field(default_factory=dict)

    async def get(self, key: Hashable, resource: Resource, load: Callable[[], Awaitable[T]]) -> T:
        entry = self.entries.get(key)
        if entry is None or resource in entry[1]:
            entry = (await load(), set())
            self.entries[key] = entry
        entry[1].add(resource)
        if entry[1] >= self.consumers:
            del self.entries[key]
        return cast(T, entry[0])


class TrelloConnector:
    tool: ClassVar[Tool] = Tool.TRELLO
    default_base_url: ClassVar[str] = "https://api.trello.com/1"
    resources: ClassVar[frozenset[Resource]] = frozenset(
        {Resource.PROJECTS, Resource.MILESTONES, Resource.WORK_ITEMS}
    )
    # The token budget binds first for one connection; the key's 300 per 10 s is shared by
    # every token of the Power-Up, and /1/members/ has its own 100 per 900 s (we call it once
    # or twice a run).
    rate_limit: ClassVar[RateLimit] = RateLimit(
        requests=100,
        per_seconds=10.0,
        source="FACTS.md §2.4: 100 requests per 10 s per token (300 per 10 s per key)",
    )
    # FACTS.md §2.4: whether a 429 carries Retry-After is UNVERIFIED; it is honoured if it
    # does. The x-rate-limit-api-token-interval-ms header is the window's length, not a wait.
    retry_after_headers: ClassVar[tuple[str, ...]] = ("Retry-After",)
    #: A header-less 429 (body ``API_TOKEN_LIMIT_EXCEEDED``, FACTS.md §2.4) waits out the
    #: rest of the 10-second window the budget is counted in.
    throttle_wait: ClassVar[float] = 10.0
    #: Cards per page handed to the engine (Trello returns a board's cards in one response).
    page_size: ClassVar[int] = 1000
    #: ``limit`` for the actions feed: FACTS.md §2.2 gives 0-1000.
    actions_page_size: ClassVar[int] = 1000
    #: Newest action ids read with a full sync, to know which ones the overlap will repeat.
    head_size: ClassVar[int] = 100
    #: Most action ids a board's cursor entry remembers from the overlap window.
    max_recent: ClassVar[int] = 1000
    #: More changed cards than this on one board: read the board's cards in one request
    #: instead of one request per card (option ``board_refetch_threshold``).
    board_refetch_threshold: ClassVar[int] = 50
    #: Action types that change cards without naming one: list and label edits change every
    #: card's list or label names. The type names are UNVERIFIED (FACTS.md §2.3 cites the
    #: action-type list without quoting it); option ``board_wide_actions`` replaces them.
    board_wide_actions: ClassVar[frozenset[str]] = frozenset(
        {"updateList", "moveListToBoard", "moveListFromBoard", "updateLabel", "deleteLabel"}
    )
    default_milestone_label: ClassVar[str] = "Milestone"

    def __init__(self, client: VendorClient, config: ConnectionConfig) -> None:
        self.client = client
        self.config = config
        options = config.options
        self._milestone_list = _name_key(options.get("milestone_list"))
        self._milestone_label = _name_key(
            options.get("milestone_label", self.default_milestone_label)
        )
        self._overlap = int(options.get("overlap_seconds", 300))
        self._threshold = int(options.get("board_refetch_threshold", self.board_refetch_threshold))
        board_wide = options.get("board_wide_actions")
        self._board_wide = (
            frozenset(str(t) for t in board_wide)
            if isinstance(board_wide, list | tuple)
            else self.board_wide_actions
        )
        # No ``filter`` by default: every action type comes, and any that names a card counts.
        # That omitting it means "all" is UNVERIFIED (FACTS.md §2.2 gives no default); option
        # ``actions_filter`` (comma-separated types) sends one.
        actions_filter = options.get("actions_filter")
        self._actions_filter = (
            ",".join(actions_filter) if isinstance(actions_filter, list) else actions_filter
        )
        self._me: TrelloMember | None = None
        self._boards: list[TrelloBoard] | None = None
        self._board_raw: dict[str, dict[str, Any]] = {}
        self._contexts: dict[str, _BoardContext] = {}
        self._shared = _Shared(_CARD_RESOURCES)

    # -- facts and set-up ---------------------------------------------------------------
    @classmethod
    def auth(cls, config: ConnectionConfig) -> httpx.Auth:
        return auth.auth_for(config.credentials)

    @classmethod
    def check_credentials(cls, credentials: Mapping[str, str]) -> None:
        auth.check_credentials(credentials)

    async def check(self) -> None:
        await self._member_me(refresh=True)

    async def discover(self) -> dict[str, Any]:
        me = await self._member_me(refresh=True)
        return {
            "site_url": self.config.options.get("site_url") or "https://trello.com",
            "member_id": me.id,
        }

    async def _member_me(self, *, refresh: bool = False) -> TrelloMember:
        if self._me is not None and not refresh:
            return self._me
        path = "/members/me"
        body = await self.client.get_json(path, params={"fields": ",".join(MEMBER_FIELDS)})
        self._me = validate_items(TrelloMember, [body], tool=self.tool, endpoint=f"GET {path}")[0]
        return self._me

    async def _confirm_board_lost(self, error: VendorError) -> None:
        """A board-level 401/403/404 means the board is gone from our view, unless the token
        itself was revoked: then ``/members/me`` fails too and that error propagates."""
        if isinstance(error, CredentialsRejected):
            await self._member_me(refresh=True)

    # -- boards -----------------------------------------------------------------------------
    async def _scoped_boards(self, *, refresh: bool = False) -> list[TrelloBoard]:
        """Boards in scope that the token can read: unreadable ones are simply absent."""
        if self._boards is not None and not refresh:
            return self._boards
        boards: list[TrelloBoard] = []
        if self.config.scope:
            for entry in self.config.scope:
                board = await self._board_or_none(entry)
                if board is not None and all(b.id != board.id for b in boards):
                    boards.append(board)
        else:
            path = "/members/me/boards"
            body = await self.client.get_json(
                path, params={"filter": "all", "fields": ",".join(BOARD_FIELDS)}
            )
            boards = validate_items(TrelloBoard, body, tool=self.tool, endpoint=f"GET {path}")
            self._board_raw.update({b.id: raw for b, raw in zip(boards, body, strict=True)})
        self._boards = boards
        return boards

    async def _board(self, board_ref: str) -> TrelloBoard:
        path = f"/boards/{board_ref}"
        body = await self.client.get_json(path, params={"fields": ",".join(BOARD_FIELDS)})
        board = validate_items(TrelloBoard, [body], tool=self.tool, endpoint=f"GET {path}")[0]
        self._board_raw[board.id] = body
        return board

    async def _board_or_none(self, board_ref: str) -> TrelloBoard | None:
        try:
            return await self._board(board_ref)
        except (VendorNotFound, AccessLost, CredentialsRejected) as error:
            await self._confirm_board_lost(error)
            return None

    async def _context(self, board_id: str, *, members: bool = True) -> _BoardContext:
        context = self._contexts.get(board_id)
        if context is None:
            lists_path = f"/boards/{board_id}/lists"
            body = await self.client.get_json(
                lists_path, params={"filter": "all", "fields": ",".join(LIST_FIELDS)}
            )
            lists = validate_items(TrelloList, body, tool=self.tool, endpoint=f"GET {lists_path}")
            labels_path = f"/boards/{board_id}/labels"
            body = await self.client.get_json(
                labels_path, params={"fields": ",".join(LABEL_FIELDS), "limit": LABEL_LIMIT}
            )
            labels = validate_items(
                TrelloLabel, body, tool=self.tool, endpoint=f"GET {labels_path}"
            )
            context = _BoardContext(
                lists={x.id: x for x in lists},
                labels={x.id: x for x in labels},
                milestone_lists=frozenset(
                    x.id
                    for x in lists
                    if self._milestone_list and _name_key(x.name) == self._milestone_list
                ),
                milestone_labels=frozenset(
                    x.id
                    for x in labels
                    if self._milestone_label and _name_key(x.name) == self._milestone_label
                ),
            )
            self._contexts[board_id] = context
        if members and context.members is None:
            path = f"/boards/{board_id}/members"
            body = await self.client.get_json(path)
            found = validate_items(TrelloMember, body, tool=self.tool, endpoint=f"GET {path}")
            me = await self._member_me()
            # Board member lists carry no e-mail; the token's own member sees its own.
            context.members = {
                m.id: {
                    "id": m.id,
                    "fullName": m.fullName,
                    "username": m.username,
                    "email": me.email if m.id == me.id else m.email,
                }
                for m in found
            }
        return context

    # -- reading --------------------------------------------------------------------------
    async def fetch(self, resource: Resource, cursor: Cursor | None) -> AsyncIterator[Page]:
        if resource is Resource.PROJECTS:
            boards = await self._scoped_boards(refresh=True)
            yield Page(items=boards, raw=[self._board_raw[b.id] for b in boards], cursor=None)
        elif resource in _CARD_RESOURCES:
            async for page in self._cards(resource, cursor):
                yield page
        else:
            raise InvalidRequest(f"Trello connector does not sync {resource}", resource=resource)

    async def _cards(self, resource: Resource, cursor: Cursor | None) -> AsyncIterator[Page]:
        state = _board_state(cursor)
        for board in await self._scoped_boards():
            pages = (
                self._board_changes(board, resource, state)
                if board.id in state
                else self._board_full(board, resource, state)
            )
            try:
                async for page in pages:
                    yield page
            except (VendorNotFound, AccessLost, CredentialsRejected) as error:
                # The board vanished from our view mid-run; census records the lost access.
                await self._confirm_board_lost(error)

    async def _board_full(
        self, board: TrelloBoard, resource: Resource, state: dict[str, Mark]
    ) -> AsyncIterator[Page]:
        path = f"/boards/{board.id}/cards/all"

        async def load() -> tuple[Mark, httpx.Response]:
            # The feed's head first: whatever changes while the cards are read comes again.
            mark = await self._feed_head(board.id)
            response = await self.client.request(
                "GET", path, params={"fields": ",".join(CARD_FIELDS)}
            )
            return mark, response

        mark, response = await self._shared.get(("full", board.id), resource, load)
        cards = _as_list(self.client.decode(response, f"GET {path}"), f"GET {path}")
        context = await self._context(board.id)
        for page in self._pages(
            board.id, cards, context, resource, endpoint=f"GET {path}", state=state, mark=mark
        ):
            yield page
        state[board.id] = mark

    async def _board_changes(
        self, board: TrelloBoard, resource: Resource, state: dict[str, Mark]
    ) -> AsyncIterator[Page]:
        known = state[board.id]
        since = self._since_param(known["newest"])
        recent = tuple(known["recent"])
        changes = await self._shared.get(
            ("changes", board.id, since, recent),
            resource,
            lambda: self._read_changes(board.id, since, known),
        )
        if not changes.cards and not changes.deleted:
            if changes.mark != known:
                yield Page(
                    items=[],
                    raw=[],
                    cursor={"boards": {**state, board.id: changes.mark}},
                    project_vendor_id=board.id,
                )
                state[board.id] = changes.mark
            return
        # Cards that moved to another board are that board's business (or census's).
        cards = [
            c for c in changes.cards if not isinstance(c, dict) or c.get("idBoard") == board.id
        ]
        context = await self._context(board.id)
        endpoint = f"GET /boards/{board.id}/cards/all" if changes.whole else "GET /cards/{id}"
        for page in self._pages(
            board.id,
            cards,
            context,
            resource,
            endpoint=endpoint,
            state=state,
            mark=changes.mark,
            deleted=changes.deleted,
        ):
            yield page
        state[board.id] = changes.mark

    def _pages(
        self,
        board_id: str,
        cards: list[Any],
        context: _BoardContext,
        resource: Resource,
        *,
        endpoint: str,
        state: dict[str, Mark],
        mark: Mark,
        deleted: Iterable[str] = (),
    ) -> Iterator[Page]:
        """The board's cards of one resource in pages; only the last carries the board's new
        resume point (and the tombstones), so a failure part-way reads the board again."""
        wanted = resource is Resource.MILESTONES
        selected: list[Any] = []
        tombstones = list(deleted)
        for card in cards:
            if self._is_milestone_raw(card, context) == wanted:
                selected.append(card)
            elif not wanted and isinstance(card, dict) and isinstance(card.get("id"), str):
                # A milestone card is not (or no longer) a work item.
                tombstones.append(card["id"])
        chunks = [
            selected[start : start + self.page_size]
            for start in range(0, len(selected), self.page_size)
        ] or [[]]
        for number, chunk in enumerate(chunks, start=1):
            last = number == len(chunks)
            items, raw = self._validate_cards(chunk, context, endpoint)
            yield Page(
                items=items,
                raw=raw,
                cursor={"boards": {**state, board_id: mark} if last else dict(state)},
                project_vendor_id=board_id,
                deleted_ids=tuple(dict.fromkeys(tombstones)) if last else (),
            )

    async def _feed_head(self, board_id: str) -> Mark:
        """The board's resume point now: its newest action and the others inside the overlap
        window (so the next incremental run does not read those cards again)."""
        path = f"/boards/{board_id}/actions"
        params: dict[str, Any] = {
            **self._action_params(),
            "fields": "id",
            "limit": self.head_size,
        }
        body = await self.client.get_json(path, params=params)
        head = validate_items(TrelloModelRef, body, tool=self.tool, endpoint=f"GET {path}")
        newest: str | None = None
        for action in head:
            newest = _later(newest, action.id)
        return self._mark(newest, (a.id for a in head))

    def _mark(self, newest: str | None, ids: Iterable[str]) -> Mark:
        """A board's cursor entry: the newest action id, and the ids already handled that a
        ``since`` moved back by the overlap will return again."""
        if newest is None:
            return {"newest": None, "recent": []}
        floor = (_object_id_seconds(newest) or 0) - max(self._overlap, 0)
        recent = {i for i in ids if i != newest and (_object_id_seconds(i) or 0) >= floor}
        # Bounded: a burst beyond it only means a few cards are read twice.
        return {"newest": newest, "recent": sorted(recent)[-self.max_recent :]}

    def _action_params(self) -> dict[str, str]:
        params = {"fields": ",".join(ACTION_FIELDS), "member": "false", "memberCreator": "false"}
        if self._actions_filter:
            params["filter"] = str(self._actions_filter)
        return params

    def _since_param(self, known: str | None) -> str | None:
        """The ``since`` to ask for: the last action's time less the overlap (``since`` takes a
        ``YYYY-MM-DDThh:mm:ssZ`` date or an action id, FACTS.md §2.2)."""
        if known is None:
            return None
        seconds = _object_id_seconds(known)
        if self._overlap <= 0 or seconds is None:
            return known
        moment = datetime.fromtimestamp(seconds - self._overlap, UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    async def _read_changes(self, board_id: str, since: str | None, known: Mark) -> _Changes:
        path = f"/boards/{board_id}/actions"
        params: dict[str, Any] = self._action_params()
        if since is not None:
            params["since"] = since
        actions: list[TrelloAction] = []
        async for body in self.client.paginate(
            path, BeforeIdPaginator(page_size=self.actions_page_size), params=params
        ):
            actions.extend(
                validate_items(TrelloAction, body, tool=self.tool, endpoint=f"GET {path}")
            )
        handled = {*known["recent"], *([known["newest"]] if known["newest"] else [])}
        newest = known["newest"]
        touched: dict[str, None] = {}
        deleted: dict[str, None] = {}
        board_wide = False
        for action in reversed(actions):  # the feed is newest first
            newest = _later(newest, action.id)
            if action.id in handled:
                continue  # inside the overlap and read last time
            board_wide = board_wide or action.type in self._board_wide
            card = action.data.card
            if card is None:
                continue
            if action.type == "deleteCard":
                deleted[card.id] = None
                touched.pop(card.id, None)
            elif card.id not in deleted:
                touched[card.id] = None
        mark = self._mark(newest, [*handled, *(a.id for a in actions)])
        if board_wide or len(touched) > self._threshold:
            cards_path = f"/boards/{board_id}/cards/all"
            body = await self.client.get_json(cards_path, params={"fields": ",".join(CARD_FIELDS)})
            return _Changes(mark, list(deleted), _as_list(body, f"GET {cards_path}"), True)
        cards: list[Any] = []
        for card_id in touched:
            card = await self._card_or_none(card_id)
            if card is None:
                deleted[card_id] = None
            elif card is not _UNREADABLE:
                cards.append(card)
        return _Changes(mark, list(deleted), cards, False)

    async def _card_or_none(self, card_id: str) -> Any:
        """The card as received; None when deleted (404); :data:`_UNREADABLE` when it moved
        somewhere the token cannot read (which is not a deletion)."""
        try:
            return await self.client.get_json(
                f"/cards/{card_id}", params={"fields": ",".join(CARD_FIELDS)}
            )
        except VendorNotFound:
            return None
        except (AccessLost, CredentialsRejected) as error:
            await self._confirm_board_lost(error)
            return _UNREADABLE

    # -- milestones and enrichment --------------------------------------------------------
    @staticmethod
    def _is_milestone(id_list: Any, id_labels: Any, context: _BoardContext) -> bool:
        if isinstance(id_list, str) and id_list in context.milestone_lists:
            return True
        if context.milestone_labels and isinstance(id_labels, list):
            wanted = context.milestone_labels
            return any(isinstance(i, str) and i in wanted for i in id_labels)
        return False

    def _is_milestone_raw(self, card: Any, context: _BoardContext) -> bool:
        if not isinstance(card, dict):
            return False  # not a card at all: validation of the page says so
        return self._is_milestone(card.get("idList"), card.get("idLabels"), context)

    def _validate_cards(
        self, cards: list[Any], context: _BoardContext, endpoint: str
    ) -> tuple[list[TrelloCard], list[Any]]:
        """Validated cards, and the raw JSON to store with them: each card as received plus
        the names the connector resolved (see :mod:`sync.connectors.trello.payloads`)."""
        enriched = [self._enriched(c, context) if isinstance(c, dict) else c for c in cards]
        return validate_items(TrelloCard, enriched, tool=self.tool, endpoint=endpoint), enriched

    @staticmethod
    def _enriched(card: dict[str, Any], context: _BoardContext) -> dict[str, Any]:
        """The card plus the names its ids stand for (ids of the wrong type are left for
        validation to refuse)."""
        id_list = card.get("idList")
        found = context.lists.get(id_list) if isinstance(id_list, str) else None
        labels = context.labels
        label_ids = card.get("idLabels")
        names = (
            [
                label.name
                for i in label_ids
                if isinstance(i, str) and (label := labels.get(i)) is not None and label.name
            ]
            if isinstance(label_ids, list)
            else []
        )
        members = context.members or {}
        member_ids = card.get("idMembers")
        assignees = (
            [members[i] for i in member_ids if isinstance(i, str) and i in members]
            if isinstance(member_ids, list)
            else []
        )
        return {
            **card,
            "list_name": found.name if found else None,
            "list_closed": found.closed if found else False,
            "label_names": names,
            "assignees": assignees,
        }

    async def fetch_one(self, resource: Resource, vendor_id: str) -> Any | None:
        if resource is Resource.PROJECTS:
            return await self._board_or_none(vendor_id)
        if resource not in _CARD_RESOURCES:
            raise InvalidRequest(f"Trello connector does not fetch {resource}", resource=resource)
        card = await self._card_or_none(vendor_id)
        if card is None or card is _UNREADABLE:
            return None
        if not isinstance(card, dict):
            raise ContractBroken(
                "Trello card is not a JSON object",
                tool=self.tool,
                endpoint="GET /cards/{id}",
                reason=f"expected an object, got {type(card).__name__}",
            )
        board_id = card.get("idBoard")
        if board_id not in {b.id for b in await self._scoped_boards()}:
            return None  # outside the connection's scope
        try:
            context = await self._context(str(board_id))
        except (VendorNotFound, AccessLost, CredentialsRejected) as error:
            await self._confirm_board_lost(error)
            return None
        if self._is_milestone_raw(card, context) != (resource is Resource.MILESTONES):
            return None  # a milestone card is not a work item, and the other way round
        return self._validate_cards([card], context, "GET /cards/{id}")[0][0]

    async def census(self, resource: Resource) -> AsyncIterator[CensusPage]:
        if resource is not Resource.WORK_ITEMS:
            raise InvalidRequest("Trello census covers work items", resource=resource)
        if self.config.scope:
            targets: list[tuple[str, TrelloBoard | None]] = [
                (entry, await self._board_or_none(entry)) for entry in self.config.scope
            ]
        else:
            targets = [(b.id, b) for b in await self._scoped_boards(refresh=True)]
        for scope_key, board in targets:
            if board is None:
                # Configured but unreadable: a revoked permission must not look like deletion.
                yield CensusPage(None, [], access_lost=True, scope_key=scope_key)
                continue
            path = f"/boards/{board.id}/cards/all"
            try:
                context = await self._context(board.id, members=False)
                body = await self.client.get_json(path, params={"fields": ",".join(CENSUS_FIELDS)})
            except (VendorNotFound, AccessLost, CredentialsRejected) as error:
                await self._confirm_board_lost(error)
                yield CensusPage(board.id, [], access_lost=True, scope_key=scope_key)
                continue
            cards = validate_items(TrelloCardRef, body, tool=self.tool, endpoint=f"GET {path}")
            ids = [c.id for c in cards if not self._is_milestone(c.idList, c.idLabels, context)]
            yield CensusPage(board.id, ids)

    # -- webhooks ----------------------------------------------------------------------------
    async def register_webhook(
        self, project_id: str, callback_url: str, *, description: str
    ) -> RegisteredWebhook:
        """``POST /1/webhooks`` for one board (FACTS.md §2.5); the spec's answer is the
        ``Webhook`` object, whose ``id`` we keep. Trello first sends ``HEAD`` to
        the callback URL and creates the webhook only if it answers 200; deliveries are
        signed with the application secret, so the answer carries no secret."""
        answer = await self.client.request_json(
            "POST",
            WEBHOOKS,
            params={"callbackURL": callback_url, "idModel": project_id, "description": description},
            creates=True,
        )
        webhook = answer.get("id") if isinstance(answer, dict) else None
        return RegisteredWebhook(str(webhook) if webhook else None)

    def verify_webhook(self, request: WebhookRequest, secret: str) -> None:
        """``X-Trello-Webhook: base64(HMAC-SHA1(app secret, raw body + callback URL))``, the URL
        exactly as registered (FACTS.md §2.5)."""
        received = _header(request.headers, "x-trello-webhook")
        if not received:
            raise WebhookRejected("missing X-Trello-Webhook header", tool=self.tool)
        if not request.url:
            raise WebhookRejected(
                "a Trello signature covers the callback URL; the receiver passed none",
                tool=self.tool,
            )
        mac = hmac.new(secret.encode(), request.body + request.url.encode(), hashlib.sha1)
        expected = base64.b64encode(mac.digest()).decode()
        if not secrets_match(expected, received.strip()):
            raise WebhookRejected(
                "X-Trello-Webhook does not match the body and callback URL", tool=self.tool
            )

    def parse_webhook(self, request: WebhookRequest) -> list[ChangeNotice]:
        try:
            body = TrelloWebhookBody.model_validate(json.loads(request.body))
        except (ValueError, ValidationError) as error:
            raise ContractBroken(
                "Trello webhook body is not {action, model}",
                tool=self.tool,
                endpoint="webhook",
                reason=str(error).splitlines()[0],
            ) from None
        action = body.action
        if action.data.card is not None:
            deleted = action.type == "deleteCard"
            return [ChangeNotice(Resource.WORK_ITEMS, action.data.card.id, deleted=deleted)]
        if action.type.startswith("updateBoard") or action.type in self._board_wide:
            board = action.data.board.id if action.data.board else body.model.id
            return [ChangeNotice(Resource.PROJECTS, board)]
        return []

    @staticmethod
    def delivery_id(request: WebhookRequest) -> str | None:
        """The delivery's de-duplication key: ``action.id`` (FACTS.md §2.5, §6); Trello
        retries failed deliveries and documents no delivery id of its own."""
        try:
            body = json.loads(request.body)
        except (ValueError, RecursionError):  # not JSON, or nested beyond the parser's depth
            return None
        action = body.get("action") if isinstance(body, dict) else None
        value = action.get("id") if isinstance(action, dict) else None
        return value if isinstance(value, str) and value else None


#: A card the token cannot read any more (moved to a board out of reach): not a deletion.
_UNREADABLE: Any = object()


def _board_state(cursor: Cursor | None) -> dict[str, Mark]:
    """Board id -> its resume point; boards absent from it are read in full."""
    boards = (cursor or {}).get("boards")
    if not isinstance(boards, dict):
        return {}
    state: dict[str, Mark] = {}
    for board_id, entry in boards.items():
        if isinstance(entry, dict):
            newest = entry.get("newest")
            recent = entry.get("recent")
            state[str(board_id)] = {
                "newest": str(newest) if newest else None,
                "recent": [str(i) for i in recent] if isinstance(recent, list) else [],
            }
    return state


def _object_id_seconds(object_id: str) -> int | None:
    """Seconds since the epoch in a Mongo ObjectId's first four bytes (FACTS.md §2.3)."""
    if len(object_id) != 24:
        return None
    try:
        return int(object_id[:8], 16)
    except ValueError:
        return None


def _later(first: str | None, second: str | None) -> str | None:
    """The later of two action ids: ObjectIds of one length sort by time as hex strings."""
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second, key=lambda v: (len(v), v.lower()))


def _as_list(body: Any, endpoint: str) -> list[Any]:
    if not isinstance(body, list):
        raise ContractBroken(
            f"trello page at {endpoint} has no item list",
            tool=Tool.TRELLO,
            endpoint=endpoint,
            reason=f"expected a list, got {type(body).__name__}",
        )
    return body


def _name_key(value: Any) -> str | None:
    """A list or label name as compared: casefolded, single-spaced; None for none or blank."""
    if not isinstance(value, str):
        return None
    key = " ".join(value.casefold().split())
    return key or None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
