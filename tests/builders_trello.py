"""Builders for Trello tests: a connection to the simulator, the simulator itself, and cards
resolved against a board the way the connector resolves them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sandbox.trello import DEMO_KEY, DEMO_TOKEN, TrelloSimulator
from sync.connectors.trello.payloads import TrelloCard
from sync.engine.connections import add_connection
from sync.engine.runner import SyncEnvironment
from sync.model import Tool
from sync.store.database import unit_of_work

TRELLO_CREDENTIALS = {"key": DEMO_KEY, "token": DEMO_TOKEN}
#: Like api.trello.com: the API lives under /1 (the simulator answers there too).
TRELLO_BASE_URL = "http://127.0.0.1:8102/1"


def make_trello_connection(
    env: SyncEnvironment,
    *,
    name: str = "campaigns",
    scope: Sequence[str] = (),
    credentials: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
) -> int:
    with unit_of_work(env.sessions) as session:
        connection = add_connection(
            session,
            env.box,
            name=name,
            tool=Tool.TRELLO,
            base_url=TRELLO_BASE_URL,
            credentials=credentials or TRELLO_CREDENTIALS,
            scope=scope,
            options=options,
            now=env.clock(),
        )
        return connection.id


def make_trello_simulator(*, cards: int = 120, **kwargs: Any) -> TrelloSimulator:
    return TrelloSimulator(cards=cards, **kwargs)


def resolved_card(
    card: Mapping[str, Any],
    *,
    lists: Sequence[Mapping[str, Any]],
    labels: Sequence[Mapping[str, Any]] = (),
    members: Sequence[Mapping[str, Any]] = (),
) -> TrelloCard:
    """A card with its list, label and member names resolved from the board's responses."""
    by_list = {x["id"]: x for x in lists}
    by_label = {x["id"]: x for x in labels}
    by_member = {x["id"]: x for x in members}
    found = by_list.get(card["idList"])
    return TrelloCard.model_validate(
        {
            **card,
            "list_name": found["name"] if found else None,
            "list_closed": bool(found and found.get("closed")),
            "label_names": [
                by_label[i]["name"]
                for i in card.get("idLabels", [])
                if i in by_label and by_label[i].get("name")
            ],
            "assignees": [by_member[i] for i in card.get("idMembers", []) if i in by_member],
        }
    )
