"""Paginators decide the next request from the page in hand, and refuse to loop forever."""

import pytest

from sync.errors import ContractBroken
from sync.http.pagination import (
    BeforeIdPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    TokenPaginator,
)

WHERE = {"endpoint": "GET /x", "tool": "test"}


def test_token_paginator_follows_tokens_until_the_last_page() -> None:
    paginator = TokenPaginator(
        page_size=50, next_param="nextPageToken", next_path=("nextPageToken",), last_flag="isLast"
    )
    assert paginator.first_params() == {"maxResults": 50}
    assert paginator.next_params({"nextPageToken": "a", "isLast": False}, **WHERE) == {
        "maxResults": 50,
        "nextPageToken": "a",
    }
    assert paginator.next_params({"nextPageToken": "b", "isLast": True}, **WHERE) is None


def test_token_paginator_stops_when_the_token_is_absent() -> None:
    paginator = TokenPaginator(page_size=10, next_param="offset", next_path=("next_page", "offset"))
    paginator.first_params()
    assert paginator.next_params({"next_page": {"offset": "x1"}}, **WHERE) == {
        "maxResults": 10,
        "offset": "x1",
    }
    assert paginator.next_params({"next_page": None}, **WHERE) is None


def test_token_paginator_rejects_a_repeated_token() -> None:
    paginator = TokenPaginator(page_size=10, next_param="t", next_path=("t",))
    paginator.first_params()
    paginator.next_params({"t": "same"}, **WHERE)
    with pytest.raises(ContractBroken, match="repeated a page token"):
        paginator.next_params({"t": "same"}, **WHERE)


def test_offset_paginator_advances_by_items_received() -> None:
    paginator = OffsetPaginator(page_size=2)
    assert paginator.first_params() == {"startAt": 0, "maxResults": 2}
    assert paginator.next_params({"values": [1, 2], "isLast": False}, **WHERE) == {
        "startAt": 2,
        "maxResults": 2,
    }
    assert paginator.next_params({"values": [3], "isLast": True}, **WHERE) is None


def test_offset_paginator_without_flag_stops_on_a_short_page() -> None:
    paginator = OffsetPaginator(page_size=2, last_flag=None)
    paginator.first_params()
    assert paginator.next_params({"values": [1, 2]}, **WHERE) is not None
    assert paginator.next_params({"values": [3]}, **WHERE) is None


def test_page_number_paginator_ends_on_has_more_false() -> None:
    paginator = PageNumberPaginator(
        page_size=2, items_keys=("items", "value"), more_flag="has_more"
    )
    assert paginator.first_params() == {"page_index": 0, "page_size": 2}
    assert paginator.next_params({"value": [1, 2], "has_more": True}, **WHERE) == {
        "page_index": 1,
        "page_size": 2,
    }
    assert paginator.next_params({"value": [3, 4], "has_more": False}, **WHERE) is None


def test_page_number_paginator_ends_when_total_is_reached() -> None:
    paginator = PageNumberPaginator(page_size=2, total_key="total")
    paginator.first_params()
    assert paginator.next_params({"values": [1, 2], "total": 3}, **WHERE) is not None
    assert paginator.next_params({"values": [3], "total": 3}, **WHERE) is None


def test_page_number_paginator_rejects_a_page_that_repeats() -> None:
    paginator = PageNumberPaginator(page_size=2, more_flag="has_more")
    paginator.first_params()
    paginator.next_params({"values": [1, 2], "has_more": True}, **WHERE)
    with pytest.raises(ContractBroken, match="same page twice"):
        paginator.next_params({"values": [1, 2], "has_more": True}, **WHERE)


def test_a_page_that_is_not_an_object_breaks_the_contract() -> None:
    with pytest.raises(ContractBroken, match="not a JSON object"):
        OffsetPaginator(page_size=2).next_params([1, 2], **WHERE)


def test_before_id_paginator_steps_back_from_the_last_item() -> None:
    paginator = BeforeIdPaginator(page_size=2)
    assert paginator.first_params() == {"limit": 2}
    assert paginator.next_params([{"id": "a9"}, {"id": "a8"}], **WHERE) == {
        "limit": 2,
        "before": "a8",
    }
    assert paginator.next_params([{"id": "a7"}], **WHERE) is None


def test_before_id_paginator_rejects_a_page_that_repeats() -> None:
    paginator = BeforeIdPaginator(page_size=1)
    paginator.first_params()
    paginator.next_params([{"id": "a9"}], **WHERE)
    with pytest.raises(ContractBroken, match="repeated a page"):
        paginator.next_params([{"id": "a9"}], **WHERE)
