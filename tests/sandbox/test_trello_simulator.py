"""The Trello simulator behaves like Trello's REST v1 where the sync client can tell.

Each test reads as one line of the specification; all run in-process over httpx's ASGI
transport against a small seeded set of boards.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sandbox.trello import DEMO_KEY, DEMO_TOKEN, TrelloHandle, TrelloSimulator, serve

AUTH = {"key": DEMO_KEY, "token": DEMO_TOKEN}


@pytest.fixture
def sim() -> TrelloSimulator:
    return TrelloSimulator(cards=90, seed=7)


@pytest.fixture
async def trello(sim: TrelloSimulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://trello.test/1", params=AUTH
    ) as client:
        yield client


def campaign(sim: TrelloSimulator) -> str:
    return sim.board("Q1 Campaign Launch").id


async def feed(trello: httpx.AsyncClient, board: str, **params: Any) -> list[dict[str, Any]]:
    response = await trello.get(f"/boards/{board}/actions", params=params)
    assert response.status_code == 200, response.text
    actions: list[dict[str, Any]] = response.json()
    return actions


# -- auth and routing -------------------------------------------------------------------------


async def test_missing_or_wrong_key_or_token_get_401(sim: TrelloSimulator) -> None:
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://trello.test/1") as bare:
        missing = await bare.get("/members/me")
        wrong_key = await bare.get("/members/me", params={**AUTH, "key": "0" * 32})
        wrong_token = await bare.get("/members/me", params={**AUTH, "token": "nope"})
        header_only = await bare.get(
            "/members/me",
            headers={"Authorization": f'OAuth oauth_consumer_key="{DEMO_KEY}"'},
        )

    assert [r.status_code for r in (missing, wrong_key, wrong_token, header_only)] == [401] * 4
    assert missing.json() == {"code": "UNAUTHORIZED", "message": "invalid key"}
    assert wrong_token.json()["message"] == "invalid token"


async def test_the_api_answers_under_1_and_at_the_root(sim: TrelloSimulator) -> None:
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", params=AUTH) as c:
        prefixed = await c.get("/1/members/me/")
        bare = await c.get("/members/me")
        unknown = await c.get("/1/no-such-thing")
    assert prefixed.json() == bare.json()
    assert unknown.status_code == 404


async def test_the_tokens_member_sees_its_email_and_board_members_show_none(
    trello: httpx.AsyncClient, sim: TrelloSimulator
) -> None:
    me = (await trello.get("/members/me", params={"fields": "id,fullName,email"})).json()
    board_members = (await trello.get(f"/boards/{campaign(sim)}/members")).json()

    assert me == {"id": sim.me.id, "fullName": "Sales Ops Demo", "email": "demo@example.com"}
    assert {m["id"] for m in board_members} >= {sim.me.id}
    assert all(set(m) == {"id", "fullName", "username"} for m in board_members)


# -- boards, lists, labels --------------------------------------------------------------------


async def test_member_boards_are_the_three_sales_ops_boards_with_the_fields_asked(
    trello: httpx.AsyncClient,
) -> None:
    boards = (
        await trello.get("/members/me/boards", params={"filter": "all", "fields": "name,shortLink"})
    ).json()
    assert [b["name"] for b in boards] == [
        "Q1 Campaign Launch",
        "Partner Enablement",
        "Deal Desk & Quotes",
    ]
    assert all(set(b) == {"id", "name", "shortLink"} for b in boards)
    assert len(boards[0]["id"]) == 24


async def test_a_board_defaults_to_the_specs_fields_and_answers_by_short_link(
    trello: httpx.AsyncClient, sim: TrelloSimulator
) -> None:
    board = sim.board("Q1 Campaign Launch")
    by_id = (await trello.get(f"/boards/{board.id}")).json()
    by_link = (await trello.get(f"/boards/{board.short_link}")).json()
    assert by_id == by_link
    assert list(by_id) == [
        "id",
        "name",
        "desc",
        "descData",
        "closed",
        "idOrganization",
        "pinned",
        "url",
        "shortUrl",
        "prefs",
        "labelNames",
    ]
    assert by_id["shortUrl"] == f"https://trello.com/b/{board.short_link}"


async def test_lists_and_labels_of_a_board(trello: httpx.AsyncClient, sim: TrelloSimulator) -> None:
    board = campaign(sim)
    lists = (await trello.get(f"/boards/{board}/lists", params={"filter": "all"})).json()
    labels = (await trello.get(f"/boards/{board}/labels", params={"fields": "name,color"})).json()
    too_many = await trello.get(f"/boards/{board}/labels", params={"limit": 1001})

    assert [x["name"] for x in lists] == ["To Do", "Doing", "Review", "Done"]
    assert {x["name"] for x in labels} >= {"Milestone", "blocked", "Email", ""}
    assert all(set(x) == {"id", "name", "color"} for x in labels)
    assert too_many.status_code == 400


async def test_unknown_and_malformed_ids(trello: httpx.AsyncClient) -> None:
    unknown = await trello.get("/boards/5f1a0c2e9d1b2c3d4e5f6a70")
    malformed = await trello.get("/boards/not-an-id!")
    card = await trello.get("/cards/5f1a0c2e9d1b2c3d4e5f6a70")
    assert (unknown.status_code, malformed.status_code, card.status_code) == (404, 400, 404)
    assert unknown.json()["message"] == "The requested resource was not found."
    assert malformed.json()["message"] == "invalid id"


# -- cards ------------------------------------------------------------------------------------


async def test_cards_all_returns_the_whole_set_with_the_fields_asked() -> None:
    sim = TrelloSimulator(cards=400)
    board = campaign(sim)
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/1", params=AUTH) as t:
        everything = (
            await t.get(f"/boards/{board}/cards/all", params={"fields": "name,idList,closed"})
        ).json()
        open_only = (await t.get(f"/boards/{board}/cards", params={"fields": "closed"})).json()
        closed = (await t.get(f"/boards/{board}/cards/closed", params={"fields": "id"})).json()

    on_board = [c for c in sim.cards.values() if c.board_id == board]
    assert len(everything) == len(on_board)
    assert all(set(c) == {"id", "name", "idList", "closed"} for c in everything)
    assert not any(c["closed"] for c in open_only)
    assert len(open_only) + len(closed) == len(everything)
    assert closed  # some cards are archived


async def test_a_card_renders_trello_shapes(
    trello: httpx.AsyncClient, sim: TrelloSimulator
) -> None:
    card = next(c for c in sim.cards.values() if c.due is not None and c.check_items)
    body = (await trello.get(f"/cards/{card.id}")).json()
    assert body["id"] == card.id
    assert body["due"].endswith(".000Z")
    assert body["dateLastActivity"].endswith("Z")
    assert body["badges"]["checkItems"] == card.check_items
    assert body["shortUrl"] == f"https://trello.com/c/{card.short_link}"
    assert body["url"].startswith(f"https://trello.com/c/{card.short_link}/{card.id_short}-")
    assert "start" in body  # in GET /cards/{id}'s default fields
    assert [x["id"] for x in body["labels"]] == list(card.label_ids)


async def test_every_board_has_milestone_cards_and_blocked_and_overdue_work(
    sim: TrelloSimulator,
) -> None:
    for board in sim.boards.values():
        cards = [c for c in sim.cards.values() if c.board_id == board.id]
        milestones = [c for c in cards if sim.is_milestone(c.id)]
        assert len(milestones) == 3
        assert all(c.due is not None for c in milestones)
    blocked = sim.label_named("Q1 Campaign Launch", "blocked").id
    now = sim.clock()
    assert any(blocked in c.label_ids for c in sim.cards.values())
    assert any(c.due is not None and c.due < now and not c.due_complete for c in sim.cards.values())
    assert all(c.last_activity >= c.created for c in sim.cards.values())


# -- actions feed -----------------------------------------------------------------------------


async def test_the_feed_is_newest_first_with_limit_before_and_since(
    trello: httpx.AsyncClient, sim: TrelloSimulator
) -> None:
    board = campaign(sim)
    default = await feed(trello, board)
    newest_ten = await feed(trello, board, limit=10)
    next_ten = await feed(trello, board, limit=10, before=newest_ten[-1]["id"])
    since = await feed(trello, board, since=newest_ten[5]["id"], limit=1000)
    too_many = await trello.get(f"/boards/{board}/actions", params={"limit": 1001})

    ids = [a["id"] for a in await feed(trello, board, limit=1000)]
    assert ids == sorted(ids, reverse=True)
    assert len(default) == min(50, len(ids))
    assert [a["id"] for a in newest_ten + next_ten] == ids[:20]
    assert [a["id"] for a in since] == ids[:5]
    assert too_many.status_code == 400


async def test_since_takes_a_date_and_filter_takes_types(
    trello: httpx.AsyncClient, sim: TrelloSimulator
) -> None:
    board = campaign(sim)
    everything = await feed(trello, board, limit=1000)
    cutoff = datetime.fromisoformat(everything[10]["date"].replace("Z", "+00:00"))
    since = await feed(trello, board, limit=1000, since=cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"))
    creates = await feed(trello, board, limit=1000, filter="createCard")

    assert all(a["date"] >= everything[10]["date"][:19] for a in since)
    assert 10 <= len(since) <= 11
    assert {a["type"] for a in creates} == {"createCard"}
    assert len(creates) == sum(1 for c in sim.cards.values() if c.board_id == board)


async def test_actions_carry_the_example_shape(
    trello: httpx.AsyncClient, sim: TrelloSimulator
) -> None:
    board = campaign(sim)
    (newest,) = await feed(trello, board, limit=1)
    assert list(newest) == [
        "id",
        "idMemberCreator",
        "data",
        "appCreator",
        "type",
        "date",
        "limits",
        "memberCreator",
    ]
    assert newest["data"]["board"]["id"] == board
    assert {"id", "name", "idShort", "shortLink"} <= set(newest["data"]["card"])
    (bare,) = await feed(trello, board, limit=1, fields="id", memberCreator="false")
    assert bare == {"id": newest["id"]}


async def test_mutations_are_recorded_as_trello_records_them(
    trello: httpx.AsyncClient, sim: TrelloSimulator
) -> None:
    board = campaign(sim)
    sim.advance(60)
    card_id = sim.create_card(board, name="Draft launch FAQ", labels=["Email"])
    sim.advance(60)
    sim.update_card(card_id, list_name="Doing", due=sim.clock() + timedelta(days=3))
    sim.archive_card(card_id)
    sim.update_card(card_id, add_labels=["blocked"])
    sim.delete_card(card_id)
    sim.rename_list(board, "Review", "In Review")

    actions = await feed(trello, board, limit=6)
    kinds = [a["type"] for a in reversed(actions)]
    assert kinds == [
        "createCard",
        "updateCard",
        "updateCard",
        "addLabelToCard",
        "deleteCard",
        "updateList",
    ]
    created, moved, archived, _, deleted, renamed = reversed(actions)
    assert created["data"]["list"]["name"] == "To Do"
    assert moved["data"]["old"] == {"idList": sim.list_named(board, "To Do").id, "due": None}
    assert moved["data"]["listAfter"]["name"] == "Doing"
    assert moved["data"]["card"]["due"].endswith("Z")
    assert archived["data"]["old"] == {"closed": False}
    assert archived["data"]["card"]["closed"] is True
    assert deleted["data"]["card"] == {
        "id": card_id,
        "idShort": deleted["data"]["card"]["idShort"],
        "shortLink": deleted["data"]["card"]["shortLink"],
    }
    assert renamed["data"]["old"] == {"name": "Review"}
    assert (await trello.get(f"/cards/{card_id}")).status_code == 404
    assert moved["date"] == sim.clock().isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_new_actions_always_sort_after_the_feed_even_with_the_clock_set_back(
    trello: httpx.AsyncClient, sim: TrelloSimulator
) -> None:
    board = campaign(sim)
    (before,) = await feed(trello, board, limit=1)
    sim.set_clock(sim.clock() - timedelta(days=30))
    sim.create_card(board, name="Late entry")
    (after,) = await feed(trello, board, limit=1)
    assert after["id"] > before["id"]


async def test_a_hidden_board_answers_its_status_everywhere(
    trello: httpx.AsyncClient, sim: TrelloSimulator
) -> None:
    board = campaign(sim)
    card_id = next(c.id for c in sim.cards.values() if c.board_id == board)
    sim.hide_board(board)
    assert (await trello.get(f"/boards/{board}")).status_code == 401
    assert (await trello.get(f"/boards/{board}/cards/all")).status_code == 401
    assert (await trello.get(f"/cards/{card_id}")).status_code == 401
    boards = (await trello.get("/members/me/boards")).json()
    assert board not in {b["id"] for b in boards}
    sim.hide_board(board, status=404)
    assert (await trello.get(f"/boards/{board}/actions")).status_code == 404


# -- failures ---------------------------------------------------------------------------------


async def test_a_queued_429_carries_trellos_body_and_headers(
    trello: httpx.AsyncClient, sim: TrelloSimulator
) -> None:
    sim.fail_next(429)
    limited = await trello.get("/members/me")
    retried = await trello.get("/members/me")

    assert limited.status_code == 429
    assert limited.json() == {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
    assert limited.headers["x-rate-limit-api-token-max"] == "100"
    assert limited.headers["x-rate-limit-api-token-remaining"] == "0"
    assert "Retry-After" not in limited.headers
    assert retried.status_code == 200
    assert sim.request_count == 2


async def test_failures_can_target_a_path_and_repeat(
    trello: httpx.AsyncClient, sim: TrelloSimulator
) -> None:
    sim.fail_next(503, count=2, path_contains="/actions", body="<html>upstream</html>")
    board = campaign(sim)
    unaffected = await trello.get("/members/me")
    first, second, third = [await trello.get(f"/boards/{board}/actions") for _ in range(3)]
    assert unaffected.status_code == 200
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.text == "<html>upstream</html>"


async def test_a_corrupt_card_once(trello: httpx.AsyncClient, sim: TrelloSimulator) -> None:
    board = campaign(sim)
    sim.corrupt_next_card()
    corrupt = (await trello.get(f"/boards/{board}/cards/all")).json()
    clean = (await trello.get(f"/boards/{board}/cards/all")).json()
    assert corrupt[0]["dateLastActivity"] == "yesterday"
    assert clean[0]["dateLastActivity"].endswith("Z")


# -- webhooks and the handle ------------------------------------------------------------------


def test_a_delivery_is_signed_over_body_and_callback_url(sim: TrelloSimulator) -> None:
    card_id = next(iter(sim.cards))
    url = "https://pmbridge.example.com/webhooks/trello/1"
    delivery = sim.delivery(card_id, secret="s3cret", callback_url=url)
    expected = base64.b64encode(
        hmac.new(b"s3cret", delivery.body + url.encode(), hashlib.sha1).digest()
    ).decode()
    body = json.loads(delivery.body)
    assert delivery.headers["X-Trello-Webhook"] == expected
    assert body["action"]["data"]["card"]["id"] == card_id
    assert body["model"]["id"] == sim.cards[card_id].board_id


def test_the_handle_counts_work_items_without_milestones() -> None:
    handle = TrelloHandle(items=60)
    ids = handle.work_item_ids()
    assert len(ids) == 60
    assert not any(handle.vendor.is_milestone(i) for i in ids)
    target = ids[0]
    before = handle.vendor.cards[target].last_activity
    handle.touch_item(target, title="Renamed")
    assert handle.vendor.cards[target].name == "Renamed"
    assert handle.vendor.cards[target].last_activity > before
    handle.delete_item(ids[1])
    assert ids[1] not in handle.work_item_ids()


# -- data -------------------------------------------------------------------------------------


async def test_the_same_seed_gives_the_same_boards() -> None:
    async def first_board(seed: int) -> bytes:
        sim = TrelloSimulator(cards=60, seed=seed)
        transport = httpx.ASGITransport(app=sim.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/1", params=AUTH) as t:
            return (await t.get(f"/boards/{campaign(sim)}/cards/all")).content

    assert await first_board(7) == await first_board(7)
    assert await first_board(7) != await first_board(8)


def test_the_clock_is_fixed_and_timezone_aware() -> None:
    sim = TrelloSimulator(cards=10)
    assert sim.clock() == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        TrelloSimulator(cards=10, now=datetime(2026, 1, 1))  # noqa: DTZ001 - the case under test


def test_serve_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve(host="0.0.0.0")  # noqa: S104 - the address under test
