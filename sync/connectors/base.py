"""The contract every connector implements, and the small types it trades in.

A connector declares facts (tool, base URL, resources, rate budget) and translates between a
vendor's REST API and typed payload models. It does no retries, sleeps, commits, and never
builds an HTTP client: the :class:`~sync.http.client.VendorClient` it is given does all that.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from sync.errors import ContractBroken
from sync.http.rate_limit import RateLimit
from sync.model import Resource, Tool

#: An opaque, JSON-serialisable checkpoint a connector understands (stored per resource).
Cursor = dict[str, Any]


class Payload(BaseModel):
    """Base of every vendor payload model: validated at the edge.

    Unknown fields are ignored here (validation is on the hot path, and ``extra="allow"``
    costs about a fifth more): the vendor's JSON travels untouched in ``Page.raw``. A model
    that must read fields it cannot name in advance (Jira custom fields) allows extras itself.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    def __eq__(self, other: object) -> bool:
        # Where a payload came from is provenance, not content: equal fields, equal payloads.
        if not isinstance(other, BaseModel):
            return NotImplemented
        return (
            type(self) is type(other)
            and self.__dict__ == other.__dict__
            and self.__pydantic_extra__ == other.__pydantic_extra__
        )

    __hash__ = BaseModel.__hash__


@dataclass(frozen=True, slots=True)
class Page:
    """One vendor page of validated payloads and the cursor to store once they are saved."""

    items: list[Any]
    #: The vendor's JSON for each item, as received (same order as ``items``).
    raw: list[dict[str, Any]]
    cursor: Cursor | None
    #: Project-level scope the page belongs to, where the vendor pages per project.
    project_vendor_id: str | None = None
    #: Vendor ids the vendor says were deleted (a tombstone feed: Trello ``deleteCard``
    #: actions, PingCode ``is_deleted``); applied in the same transaction as the page.
    deleted_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CensusPage:
    """Vendor ids of one resource inside one scope (a project, a board).

    ``access_lost`` says the scope itself became invisible: its items are not deleted, we
    merely cannot see them any more.
    """

    project_vendor_id: str | None
    ids: list[str]
    access_lost: bool = False
    #: The configured scope entry (key or id) when the project itself could not be seen.
    scope_key: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeNotice:
    """A webhook's claim that something changed; refreshed through the normal path."""

    resource: Resource
    vendor_id: str
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What a receiver hands to a connector: exact raw bytes, headers, and the callback URL."""

    body: bytes
    headers: Mapping[str, str]
    url: str = ""
    #: When the receiver got it, by its injected clock: a signed token's expiry is checked
    #: against this (Jira's dynamic-webhook JWT), never against the wall clock.
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    """What a connector needs to know about its connection; secrets already decrypted."""

    base_url: str
    credentials: Mapping[str, str]
    #: Project keys/ids in scope; empty means every project the credentials can see.
    scope: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Connector(Protocol):
    tool: ClassVar[Tool]
    default_base_url: ClassVar[str]
    resources: ClassVar[frozenset[Resource]]
    rate_limit: ClassVar[RateLimit]
    #: Response headers carrying the wait before retrying, in order of preference.
    retry_after_headers: ClassVar[tuple[str, ...]]

    def __init__(self, client: Any, config: ConnectionConfig) -> None: ...

    @classmethod
    def auth(cls, config: ConnectionConfig) -> httpx.Auth: ...

    @classmethod
    def check_credentials(cls, credentials: Mapping[str, str]) -> None:
        """Raise ``InvalidRequest`` naming what is missing, before anything is stored."""
        ...

    async def check(self) -> None: ...

    async def discover(self) -> dict[str, Any]:
        """Vendor facts the mapping needs (estimate field, site URL, time zone)."""
        ...

    def fetch(self, resource: Resource, cursor: Cursor | None) -> AsyncIterator[Page]: ...

    async def fetch_one(self, resource: Resource, vendor_id: str) -> Any | None: ...

    def census(self, resource: Resource) -> AsyncIterator[CensusPage]: ...

    def verify_webhook(self, request: WebhookRequest, secret: str) -> None: ...

    def parse_webhook(self, request: WebhookRequest) -> list[ChangeNotice]: ...


@runtime_checkable
class ReportsCount(Protocol):
    """Optional: a connector whose vendor says how many work items are in scope."""

    def reported_count(self) -> int | None:
        """Live work items the vendor reported during the last complete listing, if any."""
        ...


@runtime_checkable
class IdentifiesDeliveries(Protocol):
    """Optional: a connector that knows the vendor's own id for a webhook delivery."""

    def delivery_id(self, request: WebhookRequest) -> str | None: ...


@dataclass(frozen=True, slots=True)
class RegisteredWebhook:
    """A tool's answer to a webhook registration, in our words: its id for the webhook, and
    the secret it signs deliveries with when the answer carries one."""

    vendor_id: str | None
    secret: str | None = None


@runtime_checkable
class RegistersWebhooks(Protocol):
    """Optional: a tool whose API registers one webhook per project (Trello board, Asana
    project). A tool that also sends a handshake first implements ``handshake_secret``."""

    async def register_webhook(
        self, project_id: str, callback_url: str, *, description: str
    ) -> RegisteredWebhook: ...


class ListedWebhook(Protocol):
    """One of the app's registered webhooks, as a tool lists them."""

    @property
    def id(self) -> int: ...

    @property
    def expirationDate(self) -> datetime | None: ...  # the vendor's field name


@runtime_checkable
class ExpiringWebhooks(Protocol):
    """Optional: a tool whose API registers one webhook for the whole connection, filtered to
    its projects, that expires unless refreshed (Jira's dynamic webhooks: OAuth 2.0 apps only,
    30 days). The class says whether a connection's credentials may register at all."""

    #: How long a webhook lives unless refreshed, where the tool's list gives no expiry.
    webhook_lifetime: ClassVar[timedelta]

    @classmethod
    def registers_webhooks(cls, credentials: Mapping[str, str]) -> bool: ...

    def webhook_events(self) -> list[str]: ...

    async def webhook_filter(self) -> str: ...

    async def register_dynamic_webhook(
        self, url: str, jql_filter: str, events: Sequence[str] | None = None
    ) -> int: ...

    async def refresh_dynamic_webhooks(self, webhook_ids: Sequence[int]) -> datetime: ...

    async def dynamic_webhooks(self) -> Sequence[ListedWebhook]: ...

    async def delete_dynamic_webhooks(self, webhook_ids: Sequence[int]) -> None: ...


M = TypeVar("M", bound=BaseModel)


#: Where ``validate_items`` leaves the vendor JSON a payload was validated from, so a record
#: refreshed one at a time (``fetch_one``) is stored with its whole raw payload, exactly as a
#: page would store it. It is pydantic's per-instance slot for private attributes, set by
#: hand: declaring a ``PrivateAttr`` instead makes pydantic initialise private state for
#: every nested model of every item, which measured 40% of a Jira page's validation time.
_SOURCE_SLOT = "__pydantic_private__"
_SOURCE_KEY = "source"


def _remember_source(record: Payload, item: dict[str, Any]) -> None:
    object.__setattr__(record, _SOURCE_SLOT, {_SOURCE_KEY: item})


def source_of(payload: Payload) -> dict[str, Any] | None:
    """The vendor JSON ``validate_items`` validated ``payload`` from, if it did."""
    private = getattr(payload, _SOURCE_SLOT, None)
    source = private.get(_SOURCE_KEY) if isinstance(private, dict) else None
    return source if isinstance(source, dict) else None


def raw_of(payload: Any) -> dict[str, Any]:
    """The raw JSON to store for a payload: as received where we have it."""
    if isinstance(payload, Payload) and (source := source_of(payload)) is not None:
        return source
    if isinstance(payload, BaseModel):
        return payload.model_dump(mode="json", by_alias=True)
    if isinstance(payload, dict):
        return payload
    raise TypeError(f"not a vendor payload: {type(payload).__name__}")


def secrets_match(expected: str, received: str) -> bool:
    """Constant-time comparison of a signature or token a vendor sent with the one expected.
    Bytes, not text: ``hmac.compare_digest`` raises on non-ASCII text, which a forger
    controls, and a forgery must be a counted rejection, never a crash."""
    return hmac.compare_digest(expected.encode(), received.encode())


def vendor_id_of(item: Any) -> str | None:
    """A raw record's id for error reports: ``id`` in most APIs, ``gid`` in Asana's,
    ``_id`` in Worktile's."""
    if not isinstance(item, Mapping):
        return None
    value = next((item[k] for k in ("id", "gid", "_id") if item.get(k) is not None), None)
    return None if value is None else str(value)


def validate_items(model: type[M], items: Any, *, tool: str, endpoint: str) -> list[M]:
    """Validate a page's items all-or-nothing: one bad record breaks the page's contract."""
    if not isinstance(items, list):
        raise ContractBroken(
            f"{tool} page at {endpoint} has no item list",
            tool=tool,
            endpoint=endpoint,
            reason=f"expected a list, got {type(items).__name__}",
        )
    validated: list[M] = []
    for index, item in enumerate(items):
        try:
            record = model.model_validate(item)
            if isinstance(record, Payload) and isinstance(item, dict):
                _remember_source(record, item)
            validated.append(record)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            vendor_id = vendor_id_of(item)
            raise ContractBroken(
                f"{tool} page at {endpoint} failed validation: item {index} "
                f"(id {vendor_id}): {where}: {first['msg']}",
                tool=tool,
                endpoint=endpoint,
                reason=f"{where}: {first['msg']}",
                item_index=index,
                vendor_id=vendor_id,
            ) from None
    return validated
