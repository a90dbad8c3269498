"""The Trello connector against respx routes: the exact requests it makes and what it yields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import respx

from sync.connectors.base import (
    ConnectionConfig,
    Page,
    RegisteredWebhook,
    RegistersWebhooks,
    WebhookRequest,
)
from sync.connectors.trello.connector import CARD_FIELDS, TrelloConnector
from sync.errors import (
    ContractBroken,
    CredentialsRejected,
    InvalidRequest,
    VendorUnavailable,
    WebhookRejected,
)
from sync.http.client import VendorClient
from sync.http.retry import RetryPolicy
from sync.model import Resource
from tests.fakes import FakeClock, FakeSleep

API = "https://api.trello.com/1"
CREDENTIALS = {"key": "k" * 32, "token": "t0ken-" + "x" * 58}
BOARD = "5f1a0c2e9d1b2c3d4e5f6a70"
OTHER = "5f1a0c2e9d1b2c3d4e5f6b70"
TODO, DOING, DONE = (
    "5f1a0c2e9d1b2c3d4e5f6a71",
    "5f1a0c2e9d1b2c3d4e5f6a72",
    "5f1a0c2e9d1b2c3d4e5f6a74",
)
MILESTONE = "5f1a0c2e9d1b2c3d4e5f6a81"
ME = "5e8f7a6b5c4d3e2f1a0b9c80"
#: An action id at 2026-11-20 09:00:00 UTC (0x6b000c10) and two a few seconds after.
HEAD = "6b000c10aaaaaaaaaa000001"
LATER = "6b000c1faaaaaaaaaa000002"
LATEST = "6b000c2eaaaaaaaaaa000003"


def card(
    number: int, *, list_id: str = TODO, labels: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    return {
        "id": f"6540a1b2c3d4e5f6012345{number:02d}",
        "name": f"Card {number}",
        "idBoard": BOARD,
        "idList": list_id,
        "closed": False,
        "dateLastActivity": "2026-11-18T14:03:11.482Z",
        "due": None,
        "dueComplete": False,
        "idLabels": list(labels),
        "idMembers": [ME],
        "idShort": number,
        "shortLink": f"Sh{number:06d}",
        **extra,
    }


def action(action_id: str, kind: str, card_id: str | None = None, **data: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"board": {"id": BOARD, "name": "Q1 Campaign Launch"}, **data}
    if card_id is not None:
        body["card"] = {"id": card_id, "name": "A card"}
    return {"id": action_id, "type": kind, "date": "2026-11-20T09:00:15.000Z", "data": body}


def connector(
    sleep: FakeSleep,
    clock: FakeClock,
    *,
    scope: tuple[str, ...] = (BOARD,),
    cls: type[TrelloConnector] = TrelloConnector,
    **options: Any,
) -> TrelloConnector:
    config = ConnectionConfig(base_url=API, credentials=CREDENTIALS, scope=scope, options=options)
    client = VendorClient(
        tool="trello",
        base_url=API,
        rate_limit=cls.rate_limit,
        auth=cls.auth(config),
        retry=RetryPolicy(sleep=sleep),
        retry_after_headers=cls.retry_after_headers,
        clock=clock,
    )
    return cls(client, config)


def mock_me(status: int = 200) -> respx.Route:
    body = {
        "id": ME,
        "username": "salesopsdemo",
        "fullName": "Sales Ops",
        "email": "Ops@Example.com",
    }
    return respx.get(f"{API}/members/me").mock(
        return_value=httpx.Response(
            status, json=body if status == 200 else {"message": "invalid token"}
        )
    )


def mock_board(board_id: str = BOARD, name: str = "Q1 Campaign Launch") -> respx.Route:
    return respx.get(f"{API}/boards/{board_id}").mock(
        return_value=httpx.Response(
            200, json={"id": board_id, "name": name, "closed": False, "shortLink": "Cmp1Q2La"}
        )
    )


def mock_context(board_id: str = BOARD) -> dict[str, respx.Route]:
    lists = [
        {"id": TODO, "name": "To Do", "closed": False},
        {"id": DOING, "name": "Doing", "closed": False},
        {"id": DONE, "name": "Done", "closed": False},
    ]
    labels = [{"id": MILESTONE, "name": "Milestone", "color": "purple"}]
    members = [{"id": ME, "fullName": "Sales Ops", "username": "salesopsdemo"}]
    return {
        "lists": respx.get(f"{API}/boards/{board_id}/lists").mock(
            return_value=httpx.Response(200, json=lists)
        ),
        "labels": respx.get(f"{API}/boards/{board_id}/labels").mock(
            return_value=httpx.Response(200, json=labels)
        ),
        "members": respx.get(f"{API}/boards/{board_id}/members").mock(
            return_value=httpx.Response(200, json=members)
        ),
    }


def mock_actions(*pages: list[dict[str, Any]], board_id: str = BOARD) -> respx.Route:
    return respx.get(f"{API}/boards/{board_id}/actions").mock(
        side_effect=[httpx.Response(200, json=page) for page in pages]
    )


async def pages_of(
    trello: TrelloConnector, resource: Resource, cursor: dict[str, Any] | None
) -> list[Page]:
    return [page async for page in trello.fetch(resource, cursor)]


def cursor_at(newest: str = HEAD, recent: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"boards": {BOARD: {"newest": newest, "recent": list(recent)}}}


# -- auth ------------------------------------------------------------------------------------


@respx.mock
async def test_key_and_token_travel_as_query_parameters(sleep: FakeSleep, clock: FakeClock) -> None:
    route = mock_me()
    await connector(sleep, clock).check()
    request = route.calls.last.request
    assert request.url.params["key"] == CREDENTIALS["key"]
    assert request.url.params["token"] == CREDENTIALS["token"]
    assert request.url.params["fields"] == "id,username,fullName,email"
    assert "Authorization" not in request.headers


def test_missing_credentials_are_named() -> None:
    with pytest.raises(InvalidRequest, match="missing: token"):
        TrelloConnector.check_credentials({"key": "k"})


def test_the_auth_object_does_not_show_its_secrets() -> None:
    config = ConnectionConfig(base_url=API, credentials=CREDENTIALS)
    shown = repr(TrelloConnector.auth(config))
    assert CREDENTIALS["key"] not in shown
    assert CREDENTIALS["token"] not in shown


@respx.mock
async def test_401_rejects_the_credentials(sleep: FakeSleep, clock: FakeClock) -> None:
    mock_me(status=401)
    with pytest.raises(CredentialsRejected):
        await connector(sleep, clock).check()


@respx.mock
async def test_errors_name_the_path_never_the_key_or_token(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.get(f"{API}/members/me").mock(return_value=httpx.Response(500, text="oops"))
    with pytest.raises(VendorUnavailable) as caught:
        await connector(sleep, clock).check()
    shown = json.dumps(caught.value.to_dict()) + str(caught.value)
    assert "GET /members/me" in shown
    assert CREDENTIALS["token"] not in shown
    assert CREDENTIALS["key"] not in shown


@respx.mock
async def test_discover_reads_the_tokens_member(sleep: FakeSleep, clock: FakeClock) -> None:
    mock_me()
    facts = await connector(sleep, clock).discover()
    assert facts == {"site_url": "https://trello.com", "member_id": ME}


# -- full sync -------------------------------------------------------------------------------


@respx.mock
async def test_a_full_sync_reads_each_board_once_for_milestones_and_work_items(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    board = mock_board()
    context = mock_context()
    head = mock_actions([{"id": LATER}, {"id": HEAD}])
    cards = respx.get(f"{API}/boards/{BOARD}/cards/all").mock(
        return_value=httpx.Response(
            200, json=[card(1), card(2, list_id=DONE), card(3, labels=(MILESTONE,))]
        )
    )
    trello = connector(sleep, clock)
    await trello.discover()
    projects = await pages_of(trello, Resource.PROJECTS, None)
    milestones = await pages_of(trello, Resource.MILESTONES, None)
    items = await pages_of(trello, Resource.WORK_ITEMS, None)

    assert [b.name for b in projects[0].items] == ["Q1 Campaign Launch"]
    assert board.calls.last.request.url.params["fields"] == (
        "name,closed,url,shortUrl,shortLink,idOrganization"
    )
    assert [c.name for c in milestones[0].items] == ["Card 3"]
    assert [c.name for c in items[0].items] == ["Card 1", "Card 2"]
    assert [c.list_name for c in items[0].items] == ["To Do", "Done"]
    assert items[0].items[0].assignees[0].email == "Ops@Example.com"  # the token's own member
    # One read of the board serves both resources.
    assert (cards.call_count, head.call_count) == (1, 1)
    assert {name: route.call_count for name, route in context.items()} == {
        "lists": 1,
        "labels": 1,
        "members": 1,
    }
    params = cards.calls.last.request.url.params
    assert params["fields"] == ",".join(CARD_FIELDS)
    assert context["lists"].calls.last.request.url.params["filter"] == "all"
    assert context["labels"].calls.last.request.url.params["limit"] == "1000"
    head_params = head.calls.last.request.url.params
    assert (head_params["fields"], head_params["limit"]) == ("id", "100")
    # The resume point is the feed's head read before the cards, with the other ids of the
    # overlap window already handled.
    assert items[-1].cursor == cursor_at(LATER, (HEAD,))
    assert items[-1].project_vendor_id == BOARD
    # A milestone card is no work item: were it stored as one, it goes.
    assert items[-1].deleted_ids == ("6540a1b2c3d4e5f601234503",)
    # Raw is the card as received plus the names resolved for it.
    assert items[0].raw[0]["list_name"] == "To Do"
    assert items[0].raw[0]["assignees"][0]["id"] == ME
    assert items[0].raw[0]["idShort"] == 1


@respx.mock
async def test_a_configured_milestone_list_and_label(sleep: FakeSleep, clock: FakeClock) -> None:
    mock_me()
    mock_context()
    mock_actions([])
    respx.get(f"{API}/boards/{BOARD}/cards/all").mock(
        return_value=httpx.Response(
            200, json=[card(1), card(2, list_id=DONE), card(3, labels=(MILESTONE,))]
        )
    )
    mock_board()
    trello = connector(sleep, clock, milestone_list="done", milestone_label=None)
    milestones = await pages_of(trello, Resource.MILESTONES, None)
    assert [c.name for c in milestones[0].items] == ["Card 2"]
    assert milestones[0].cursor == {"boards": {BOARD: {"newest": None, "recent": []}}}


@respx.mock
async def test_cards_come_in_pages_and_only_the_last_moves_the_cursor(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    class SmallPages(TrelloConnector):
        page_size: ClassVar[int] = 2

    mock_me()
    mock_board()
    mock_context()
    mock_actions([{"id": HEAD}])
    respx.get(f"{API}/boards/{BOARD}/cards/all").mock(
        return_value=httpx.Response(200, json=[card(n) for n in range(1, 6)])
    )
    pages = await pages_of(connector(sleep, clock, cls=SmallPages), Resource.WORK_ITEMS, None)
    assert [len(p.items) for p in pages] == [2, 2, 1]
    assert [p.cursor for p in pages] == [{"boards": {}}, {"boards": {}}, cursor_at(HEAD)]


@respx.mock
async def test_a_malformed_card_breaks_the_page_contract(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_board()
    mock_context()
    mock_actions([])
    broken = card(2)
    broken["dateLastActivity"] = "yesterday"
    respx.get(f"{API}/boards/{BOARD}/cards/all").mock(
        return_value=httpx.Response(200, json=[card(1), broken])
    )
    with pytest.raises(ContractBroken) as caught:
        await pages_of(connector(sleep, clock), Resource.WORK_ITEMS, None)
    assert caught.value.details["item_index"] == 1
    assert caught.value.details["vendor_id"] == broken["id"]
    assert "dateLastActivity" in caught.value.details["reason"]


@respx.mock
async def test_a_board_out_of_reach_is_skipped_not_a_failure(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_board()
    respx.get(f"{API}/boards/{OTHER}").mock(
        return_value=httpx.Response(401, json={"message": "unauthorized permission requested"})
    )
    mock_context()
    mock_actions([])
    respx.get(f"{API}/boards/{BOARD}/cards/all").mock(
        return_value=httpx.Response(200, json=[card(1)])
    )
    trello = connector(sleep, clock, scope=(BOARD, OTHER))
    projects = await pages_of(trello, Resource.PROJECTS, None)
    items = await pages_of(trello, Resource.WORK_ITEMS, None)
    assert [b.id for b in projects[0].items] == [BOARD]
    assert [c.name for p in items for c in p.items] == ["Card 1"]


@respx.mock
async def test_without_scope_every_board_of_the_member_is_read(
    sleep: FakeSleep, clock: FakeClock, payloads: Path
) -> None:
    boards = json.loads((payloads / "trello" / "members-me-boards.json").read_text())
    route = respx.get(f"{API}/members/me/boards").mock(
        return_value=httpx.Response(200, json=boards)
    )
    pages = await pages_of(connector(sleep, clock, scope=()), Resource.PROJECTS, None)
    assert [b.closed for b in pages[0].items] == [False, True]
    assert pages[0].raw == boards
    params = route.calls.last.request.url.params
    assert (params["filter"], params["fields"]) == (
        "all",
        "name,closed,url,shortUrl,shortLink,idOrganization",
    )


# -- incremental -----------------------------------------------------------------------------


@respx.mock
async def test_incremental_reads_the_feed_since_the_overlap_and_refetches_named_cards(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_board()
    mock_context()
    feed = mock_actions(
        [
            action(LATEST, "deleteCard", card(7)["id"]),
            action(LATER, "updateCard", card(1)["id"], old={"closed": False}),
            action(HEAD, "createCard", card(9)["id"]),  # inside the overlap, handled last time
        ]
    )
    one = respx.get(f"{API}/cards/{card(1)['id']}").mock(
        return_value=httpx.Response(200, json=card(1, closed=True))
    )
    nine = respx.get(f"{API}/cards/{card(9)['id']}")
    board_cards = respx.get(f"{API}/boards/{BOARD}/cards/all")

    pages = await pages_of(connector(sleep, clock), Resource.WORK_ITEMS, cursor_at(HEAD))

    params = feed.calls.last.request.url.params
    # 09:00:00 less the 300-second overlap, in the feed's documented date form.
    assert params["since"] == "2026-11-20T08:55:00Z"
    assert (params["limit"], params["fields"]) == ("1000", "id,type,date,data")
    assert (params["member"], params["memberCreator"]) == ("false", "false")
    assert "before" not in params
    assert "filter" not in params
    assert one.call_count == 1
    assert one.calls.last.request.url.params["fields"] == ",".join(CARD_FIELDS)
    assert not nine.called
    assert not board_cards.called
    (page,) = pages
    # Archived is an update; deleted is a tombstone.
    assert [(c.name, c.closed) for c in page.items] == [("Card 1", True)]
    assert page.deleted_ids == (card(7)["id"],)
    assert page.cursor == cursor_at(LATEST, (HEAD, LATER))


@respx.mock
async def test_the_feed_is_paged_back_with_before_to_exhaustion(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    class SmallFeed(TrelloConnector):
        actions_page_size: ClassVar[int] = 2

    mock_me()
    mock_board()
    mock_context()
    feed = mock_actions(
        [action(LATEST, "commentCard", card(1)["id"]), action(LATER, "updateCard", card(2)["id"])],
        [action("6b000c11aaaaaaaaaa000009", "createCard", card(3)["id"])],
    )
    for number in (1, 2, 3):
        respx.get(f"{API}/cards/{card(number)['id']}").mock(
            return_value=httpx.Response(200, json=card(number))
        )
    pages = await pages_of(
        connector(sleep, clock, cls=SmallFeed, overlap_seconds=0),
        Resource.WORK_ITEMS,
        cursor_at(HEAD),
    )
    first, second = (call.request.url.params for call in feed.calls)
    assert first["since"] == HEAD  # no overlap: the id itself
    assert first["limit"] == "2"
    assert "before" not in first
    assert second["before"] == LATER
    assert sorted(c.name for c in pages[0].items) == ["Card 1", "Card 2", "Card 3"]


@respx.mock
async def test_a_refetched_card_that_is_gone_is_a_deletion_and_one_that_left_is_not(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_board()
    mock_context()
    mock_actions(
        [action(LATER, "updateCard", card(1)["id"]), action(LATEST, "updateCard", card(2)["id"])]
    )
    respx.get(f"{API}/cards/{card(1)['id']}").mock(return_value=httpx.Response(404, text="x"))
    respx.get(f"{API}/cards/{card(2)['id']}").mock(
        return_value=httpx.Response(200, json={**card(2), "idBoard": OTHER})
    )
    (page,) = await pages_of(connector(sleep, clock), Resource.WORK_ITEMS, cursor_at(HEAD))
    assert page.items == []
    assert page.deleted_ids == (card(1)["id"],)


@respx.mock
async def test_a_card_that_became_a_milestone_leaves_the_work_items(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_board()
    mock_context()
    mock_actions([action(LATER, "addLabelToCard", card(4)["id"], label={"id": MILESTONE})])
    respx.get(f"{API}/cards/{card(4)['id']}").mock(
        return_value=httpx.Response(200, json=card(4, labels=(MILESTONE,)))
    )
    trello = connector(sleep, clock)
    milestones = await pages_of(trello, Resource.MILESTONES, cursor_at(HEAD))
    items = await pages_of(trello, Resource.WORK_ITEMS, cursor_at(HEAD))
    assert [c.name for c in milestones[0].items] == ["Card 4"]
    assert (items[0].items, items[0].deleted_ids) == ([], (card(4)["id"],))


@respx.mock
async def test_many_changes_or_a_renamed_list_read_the_whole_board_once(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_board()
    mock_context()
    mock_actions(
        [action(LATER, "updateList", list={"id": DOING, "name": "Doing"}, old={"name": "WIP"})]
    )
    single = respx.get(url__regex=rf"{API}/cards/.*")
    whole = respx.get(f"{API}/boards/{BOARD}/cards/all").mock(
        return_value=httpx.Response(200, json=[card(1, list_id=DOING), card(2)])
    )
    (page,) = await pages_of(connector(sleep, clock), Resource.WORK_ITEMS, cursor_at(HEAD))
    assert [c.list_name for c in page.items] == ["Doing", "To Do"]
    assert whole.call_count == 1
    assert not single.called


@respx.mock
async def test_more_named_cards_than_the_threshold_read_the_whole_board(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_board()
    mock_context()
    mock_actions(
        [action(f"6b000c2{n}aaaaaaaaaa00000{n}", "updateCard", card(n)["id"]) for n in range(1, 4)]
    )
    whole = respx.get(f"{API}/boards/{BOARD}/cards/all").mock(
        return_value=httpx.Response(200, json=[card(1), card(2), card(3)])
    )
    trello = connector(sleep, clock, board_refetch_threshold=2)
    (page,) = await pages_of(trello, Resource.WORK_ITEMS, cursor_at(HEAD))
    assert len(page.items) == 3
    assert whole.call_count == 1


@respx.mock
async def test_a_quiet_board_costs_one_request_and_keeps_its_cursor(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_board()
    feed = mock_actions([action(HEAD, "createCard", card(9)["id"])], [])
    trello = connector(sleep, clock)
    await pages_of(trello, Resource.PROJECTS, None)
    milestones = await pages_of(trello, Resource.MILESTONES, cursor_at(HEAD))
    items = await pages_of(trello, Resource.WORK_ITEMS, cursor_at(HEAD))
    assert (milestones, items) == ([], [])
    assert feed.call_count == 1  # the work items reuse what the milestones read


@respx.mock
async def test_a_board_new_to_the_cursor_is_read_in_full(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_board()
    mock_context()
    mock_actions([{"id": HEAD}])
    whole = respx.get(f"{API}/boards/{BOARD}/cards/all").mock(
        return_value=httpx.Response(200, json=[card(1)])
    )
    cursor = {"boards": {OTHER: {"newest": HEAD, "recent": []}}}
    (page,) = await pages_of(connector(sleep, clock), Resource.WORK_ITEMS, cursor)
    assert whole.call_count == 1
    assert page.cursor == {
        "boards": {OTHER: {"newest": HEAD, "recent": []}, BOARD: {"newest": HEAD, "recent": []}}
    }


# -- rate limits -----------------------------------------------------------------------------


def test_the_budget_is_trellos_token_limit() -> None:
    limit = TrelloConnector.rate_limit
    assert (limit.requests, limit.per_seconds) == (100, 10.0)
    assert "FACTS.md §2.4" in limit.source


@respx.mock
async def test_a_token_limit_429_without_retry_after_backs_off_then_succeeds(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.get(f"{API}/members/me").mock(
        side_effect=[
            httpx.Response(
                429,
                json={"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"},
                headers={"x-rate-limit-api-token-interval-ms": "10000"},
            ),
            httpx.Response(200, json={"id": ME}),
        ]
    )
    await connector(sleep, clock).check()
    # No Retry-After: the shared policy's jittered backoff (first wait at most 0.5 s), and
    # the ten-second window header is not mistaken for a wait.
    assert len(sleep.calls) == 1
    assert 0 <= sleep.calls[0] <= 0.5


@respx.mock
async def test_a_retry_after_header_is_honoured_if_trello_sends_one(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.get(f"{API}/members/me").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "4"}, json={"error": "x"}),
            httpx.Response(200, json={"id": ME}),
        ]
    )
    await connector(sleep, clock).check()
    assert sleep.calls == [4.0]


# -- census and fetch_one --------------------------------------------------------------------


@respx.mock
async def test_census_lists_work_item_ids_and_reports_boards_out_of_reach(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_board()
    respx.get(f"{API}/boards/{OTHER}").mock(return_value=httpx.Response(404, text="not found"))
    respx.get(f"{API}/boards/GoneGone").mock(return_value=httpx.Response(403, text="forbidden"))
    mock_context()
    census = respx.get(f"{API}/boards/{BOARD}/cards/all").mock(
        return_value=httpx.Response(
            200,
            json=[
                {"id": card(1)["id"], "idList": TODO, "idLabels": []},
                {"id": card(3)["id"], "idList": TODO, "idLabels": [MILESTONE]},
            ],
        )
    )
    trello = connector(sleep, clock, scope=(BOARD, OTHER, "GoneGone"))
    pages = [p async for p in trello.census(Resource.WORK_ITEMS)]
    assert [(p.project_vendor_id, p.ids, p.access_lost, p.scope_key) for p in pages] == [
        (BOARD, [card(1)["id"]], False, None),
        (None, [], True, OTHER),
        (None, [], True, "GoneGone"),
    ]
    assert census.calls.last.request.url.params["fields"] == "id,idList,idLabels"


@respx.mock
async def test_census_marks_a_board_lost_mid_way(sleep: FakeSleep, clock: FakeClock) -> None:
    me = mock_me()
    mock_board()
    mock_context()
    respx.get(f"{API}/boards/{BOARD}/cards/all").mock(
        return_value=httpx.Response(401, text="unauthorized permission requested")
    )
    pages = [p async for p in connector(sleep, clock).census(Resource.WORK_ITEMS)]
    assert [(p.project_vendor_id, p.access_lost, p.scope_key) for p in pages] == [
        (BOARD, True, BOARD)
    ]
    assert me.called  # the token itself was checked before calling the board lost


@respx.mock
async def test_a_revoked_token_is_not_mistaken_for_lost_boards(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me(status=401)
    respx.get(f"{API}/boards/{BOARD}").mock(return_value=httpx.Response(401, text="invalid token"))
    with pytest.raises(CredentialsRejected):
        [p async for p in connector(sleep, clock).census(Resource.WORK_ITEMS)]


@respx.mock
async def test_fetch_one_knows_deleted_cards_milestones_and_cards_out_of_scope(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_board()
    mock_context()
    respx.get(f"{API}/cards/{card(1)['id']}").mock(return_value=httpx.Response(200, json=card(1)))
    respx.get(f"{API}/cards/{card(2)['id']}").mock(return_value=httpx.Response(404, text="gone"))
    respx.get(f"{API}/cards/{card(3)['id']}").mock(
        return_value=httpx.Response(200, json=card(3, labels=(MILESTONE,)))
    )
    respx.get(f"{API}/cards/{card(4)['id']}").mock(
        return_value=httpx.Response(200, json={**card(4), "idBoard": OTHER})
    )
    trello = connector(sleep, clock)
    found = await trello.fetch_one(Resource.WORK_ITEMS, card(1)["id"])
    assert found is not None
    assert found.list_name == "To Do"
    assert await trello.fetch_one(Resource.WORK_ITEMS, card(2)["id"]) is None
    assert await trello.fetch_one(Resource.WORK_ITEMS, card(3)["id"]) is None
    milestone = await trello.fetch_one(Resource.MILESTONES, card(3)["id"])
    assert milestone is not None
    assert await trello.fetch_one(Resource.WORK_ITEMS, card(4)["id"]) is None


async def test_unsupported_resources_are_refused(sleep: FakeSleep, clock: FakeClock) -> None:
    with pytest.raises(InvalidRequest):
        await pages_of(connector(sleep, clock), Resource.PEOPLE, None)
    with pytest.raises(InvalidRequest):
        [p async for p in connector(sleep, clock).census(Resource.MILESTONES)]


# -- webhooks ---------------------------------------------------------------------------------
SECRET = "trello-app-secret"
CALLBACK = "https://pmbridge.example.com/webhooks/trello/7"
BODY = b'{"action":{"id":"51f9424bcd6e040f3c002412"}}'
#: base64(HMAC-SHA1(SECRET, BODY + CALLBACK)), computed once outside pmbridge.
SIGNATURE = "9UNZeeZSx9hpsrFd4DtFw5qy/24="


def test_a_signature_over_body_and_callback_url_verifies(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    request = WebhookRequest(body=BODY, headers={"X-Trello-Webhook": SIGNATURE}, url=CALLBACK)
    connector(sleep, clock).verify_webhook(request, SECRET)


@pytest.mark.parametrize(
    ("body", "headers", "url", "secret"),
    [
        (BODY + b" ", {"X-Trello-Webhook": SIGNATURE}, CALLBACK, SECRET),
        (BODY, {"X-Trello-Webhook": SIGNATURE}, CALLBACK + "/", SECRET),
        (BODY, {"X-Trello-Webhook": SIGNATURE}, CALLBACK + "?x=1", SECRET),
        (BODY, {"X-Trello-Webhook": SIGNATURE}, CALLBACK, "another secret"),
        (BODY, {}, CALLBACK, SECRET),
        (BODY, {"X-Trello-Webhook": SIGNATURE}, "", SECRET),
        (BODY, {"X-Trello-Webhook": SIGNATURE[:-2]}, CALLBACK, SECRET),
    ],
    ids=[
        "tampered body",
        "trailing slash",
        "query added",
        "wrong secret",
        "no header",
        "no callback url",
        "truncated",
    ],
)
def test_forged_webhooks_are_rejected(
    sleep: FakeSleep,
    clock: FakeClock,
    body: bytes,
    headers: dict[str, str],
    url: str,
    secret: str,
) -> None:
    request = WebhookRequest(body=body, headers=headers, url=url)
    with pytest.raises(WebhookRejected):
        connector(sleep, clock).verify_webhook(request, secret)


def test_the_docs_example_names_its_card(
    sleep: FakeSleep, clock: FakeClock, payloads: Path
) -> None:
    body = (payloads / "trello" / "webhook-example.voteOnCard.legacy-docs.json").read_bytes()
    request = WebhookRequest(body=body, headers={})
    trello = connector(sleep, clock)
    notices = trello.parse_webhook(request)
    assert [(n.resource, n.vendor_id, n.deleted) for n in notices] == [
        (Resource.WORK_ITEMS, "51a79e72dbb7e23c7c003778", False)
    ]
    assert trello.delivery_id(request) == "51f9424bcd6e040f3c002412"


def test_the_docs_action_example_in_a_body_names_its_card(
    sleep: FakeSleep, clock: FakeClock, payloads: Path
) -> None:
    example = json.loads((payloads / "trello" / "action-example.updateCard-due.json").read_text())
    body = json.dumps({"action": example, "model": {"id": "54a17d76d4a5072e3931736b"}}).encode()
    notices = connector(sleep, clock).parse_webhook(WebhookRequest(body=body, headers={}))
    assert [(n.vendor_id, n.deleted) for n in notices] == [("54a1844d304d9736e54d2546", False)]


def test_delete_card_is_a_deletion_and_board_edits_name_the_board(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    trello = connector(sleep, clock)

    def notices(kind: str, **data: Any) -> list[tuple[Resource, str, bool]]:
        body = json.dumps({"action": action(LATER, kind, **data), "model": {"id": BOARD}})
        parsed = trello.parse_webhook(WebhookRequest(body=body.encode(), headers={}))
        return [(n.resource, n.vendor_id, n.deleted) for n in parsed]

    assert notices("deleteCard", card_id=card(1)["id"]) == [
        (Resource.WORK_ITEMS, card(1)["id"], True)
    ]
    assert notices("updateBoard") == [(Resource.PROJECTS, BOARD, False)]
    assert notices("updateList", list={"id": DOING}) == [(Resource.PROJECTS, BOARD, False)]
    assert notices("createList", list={"id": DOING}) == []


@pytest.mark.parametrize("body", [b"[]", b"not json", b'{"action": {"id": "x"}}'])
def test_a_body_that_is_not_action_and_model_breaks_the_contract(
    sleep: FakeSleep, clock: FakeClock, body: bytes
) -> None:
    trello = connector(sleep, clock)
    with pytest.raises(ContractBroken):
        trello.parse_webhook(WebhookRequest(body=body, headers={}))


def test_delivery_id_is_none_for_a_body_without_an_action_id() -> None:
    assert TrelloConnector.delivery_id(WebhookRequest(body=b"[]", headers={})) is None
    assert TrelloConnector.delivery_id(WebhookRequest(body=b"{", headers={})) is None


# -- registering a webhook ----------------------------------------------------------------------
@respx.mock
async def test_a_webhook_is_registered_for_a_board_and_answers_its_id(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    # The Webhook object of the spec (trello-rest-v1.openapi.json, POST /webhooks/).
    route = respx.post(f"{API}/webhooks").respond(
        200,
        json={
            "id": "5e8f7a6b5c4d3e2f1a0b9c99",
            "description": "pmbridge connection 7",
            "idModel": BOARD,
            "callbackURL": CALLBACK,
            "active": True,
            "consecutiveFailures": 0,
        },
    )
    trello = connector(sleep, clock)
    assert isinstance(trello, RegistersWebhooks)

    registered = await trello.register_webhook(BOARD, CALLBACK, description="pmbridge connection 7")

    params = route.calls.last.request.url.params
    assert (params["callbackURL"], params["idModel"], params["description"]) == (
        CALLBACK,
        BOARD,
        "pmbridge connection 7",
    )
    assert (params["key"], params["token"]) == (CREDENTIALS["key"], CREDENTIALS["token"])
    # Deliveries are signed with the application secret: the answer carries none.
    assert registered == RegisteredWebhook("5e8f7a6b5c4d3e2f1a0b9c99")
