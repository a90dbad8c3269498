"""Delivery ids are computed from bodies a vendor's signature vouches for but a bug or a
hostile sender may shape: any body gets an answer, never an exception."""

from __future__ import annotations

from typing import Any, cast

import pytest

from sync.connectors.asana.connector import AsanaConnector
from sync.connectors.base import ConnectionConfig, WebhookRequest
from sync.connectors.trello.connector import TrelloConnector

DEEP = b"[" * 5000 + b"]" * 5000


@pytest.mark.parametrize("body", [DEEP, b"not json", b""])
def test_asana_digests_any_body(body: bytes) -> None:
    config = ConnectionConfig(
        base_url="https://app.asana.com/api/1.0", credentials={"access_token": "t"}
    )
    connector = AsanaConnector(cast(Any, None), config)
    key = connector.delivery_id(WebhookRequest(body=body, headers={}))
    assert isinstance(key, str)
    assert len(key) == 64


@pytest.mark.parametrize("body", [DEEP, b"not json", b"[]"])
def test_trello_has_no_action_id_in_a_body_without_one(body: bytes) -> None:
    assert TrelloConnector.delivery_id(WebhookRequest(body=body, headers={})) is None
