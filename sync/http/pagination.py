"""Paginators: what to ask for first and next, given the page just received.

Pure objects over request parameters and decoded bodies, so each is tested without HTTP.
Every paginator guards against a vendor that hands back the same token or page again, which
would otherwise loop forever.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sync.errors import ContractBroken


class Paginator(Protocol):
    def first_params(self) -> dict[str, Any]: ...

    def next_params(self, body: Any, *, endpoint: str, tool: str) -> dict[str, Any] | None: ...


def _as_mapping(body: Any, *, endpoint: str, tool: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ContractBroken(
            f"{tool} page at {endpoint} is not a JSON object",
            tool=tool,
            endpoint=endpoint,
            reason=f"expected an object, got {type(body).__name__}",
        )
    return body


@dataclass
class TokenPaginator:
    """Opaque next-page tokens (Jira ``nextPageToken``, Asana ``next_page.offset``)."""

    page_size: int
    next_param: str
    next_path: tuple[str, ...]
    size_param: str = "maxResults"
    last_flag: str | None = None
    start_token: str | None = None
    _seen: set[str] = field(default_factory=set, init=False, repr=False)

    def first_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {self.size_param: self.page_size}
        if self.start_token:
            params[self.next_param] = self.start_token
            self._seen.add(self.start_token)
        return params

    def next_params(self, body: Any, *, endpoint: str, tool: str) -> dict[str, Any] | None:
        page = _as_mapping(body, endpoint=endpoint, tool=tool)
        if self.last_flag is not None and page.get(self.last_flag) is True:
            return None
        token: Any = page
        for key in self.next_path:
            token = token.get(key) if isinstance(token, Mapping) else None
        if token is None or token == "":
            return None
        token = str(token)
        if token in self._seen:
            raise ContractBroken(
                f"{tool} repeated a page token at {endpoint}",
                tool=tool,
                endpoint=endpoint,
                reason="pagination token seen before; stopping to avoid an endless loop",
            )
        self._seen.add(token)
        return {self.size_param: self.page_size, self.next_param: token}


@dataclass
class OffsetPaginator:
    """``startAt``/``maxResults`` pages (Jira's PageBean), ending on ``isLast`` or a short page."""

    page_size: int
    items_key: str = "values"
    start_param: str = "startAt"
    size_param: str = "maxResults"
    last_flag: str | None = "isLast"
    _start: int = field(default=0, init=False)

    def first_params(self) -> dict[str, Any]:
        self._start = 0
        return {self.start_param: 0, self.size_param: self.page_size}

    def next_params(self, body: Any, *, endpoint: str, tool: str) -> dict[str, Any] | None:
        page = _as_mapping(body, endpoint=endpoint, tool=tool)
        items = page.get(self.items_key)
        count = len(items) if isinstance(items, list) else 0
        if count == 0:
            return None
        if self.last_flag is not None and page.get(self.last_flag) is not None:
            if page.get(self.last_flag) is True:
                return None
        elif count < self.page_size:
            return None
        self._start += count
        return {self.start_param: self._start, self.size_param: self.page_size}


@dataclass
class PageNumberPaginator:
    """``page_index``/``page_size`` pages (Worktile, PingCode), ending on a flag, total or
    empty page; a page identical to the one before is a vendor bug, not more data."""

    page_size: int
    items_keys: tuple[str, ...] = ("values",)
    index_param: str = "page_index"
    size_param: str = "page_size"
    first_index: int = 0
    more_flag: str | None = None
    total_key: str | None = None
    _index: int = field(default=0, init=False)
    _previous: list[Any] | None = field(default=None, init=False, repr=False)
    _received: int = field(default=0, init=False)

    def first_params(self) -> dict[str, Any]:
        self._index = self.first_index
        self._previous = None
        self._received = 0
        return {self.index_param: self._index, self.size_param: self.page_size}

    def items_of(self, page: Mapping[str, Any]) -> list[Any]:
        for key in self.items_keys:
            value = page.get(key)
            if isinstance(value, list):
                return value
        return []

    def next_params(self, body: Any, *, endpoint: str, tool: str) -> dict[str, Any] | None:
        page = _as_mapping(body, endpoint=endpoint, tool=tool)
        items = self.items_of(page)
        if not items:
            return None
        if self._previous is not None and items == self._previous:
            raise ContractBroken(
                f"{tool} returned the same page twice at {endpoint}",
                tool=tool,
                endpoint=endpoint,
                reason=f"page {self._index} repeats page {self._index - 1}",
            )
        self._previous = items
        self._received += len(items)
        if self.more_flag is not None and page.get(self.more_flag) is False:
            return None
        total = page.get(self.total_key) if self.total_key else None
        if isinstance(total, int) and self._received >= total:
            return None
        if self.more_flag is None and total is None and len(items) < self.page_size:
            return None
        self._index += 1
        return {self.index_param: self._index, self.size_param: self.page_size}


@dataclass
class BeforeIdPaginator:
    """Pages that step back from the last item's id (Trello actions: ``before=<id>``,
    ``limit`` <= 1000), ending on a short page. The body may be a bare list."""

    page_size: int
    next_param: str = "before"
    size_param: str = "limit"
    id_field: str = "id"
    items_key: str | None = None
    _seen: set[str] = field(default_factory=set, init=False, repr=False)

    def first_params(self) -> dict[str, Any]:
        self._seen.clear()
        return {self.size_param: self.page_size}

    def next_params(self, body: Any, *, endpoint: str, tool: str) -> dict[str, Any] | None:
        items = (
            body
            if self.items_key is None
            else _as_mapping(body, endpoint=endpoint, tool=tool).get(self.items_key)
        )
        if not isinstance(items, list):
            raise ContractBroken(
                f"{tool} page at {endpoint} has no item list",
                tool=tool,
                endpoint=endpoint,
                reason=f"expected a list, got {type(items).__name__}",
            )
        if len(items) < self.page_size:
            return None
        last = items[-1].get(self.id_field) if isinstance(items[-1], Mapping) else None
        if not last:
            raise ContractBroken(
                f"{tool} page at {endpoint} ends with an item without {self.id_field!r}",
                tool=tool,
                endpoint=endpoint,
                reason="cannot ask for the next page",
            )
        marker = str(last)
        if marker in self._seen:
            raise ContractBroken(
                f"{tool} repeated a page at {endpoint}",
                tool=tool,
                endpoint=endpoint,
                reason=f"{self.next_param}={marker} seen before",
            )
        self._seen.add(marker)
        return {self.size_param: self.page_size, self.next_param: marker}
