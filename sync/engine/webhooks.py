"""Webhooks end to end: receive (verify the raw bytes, de-duplicate, store), apply (parse,
refresh through ``fetch_one`` and the normal mapping and upsert path, tombstone deletions),
and register receivers with the tools.

Receiving does no sync work: it verifies, computes the de-duplication key and inserts one row,
so the vendor gets its 2xx within milliseconds. A worker applies deliveries later. The payload
is only a hint: every item it names is fetched again, so duplicates and out-of-order
deliveries end in the vendor's current state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

import httpx
from sqlalchemy import Connection as SqlConnection
from sqlalchemy.orm import Session, sessionmaker

from sync.connectors import CONNECTORS
from sync.connectors.base import (
    ConnectionConfig,
    Connector,
    ExpiringWebhooks,
    RegisteredWebhook,
    RegistersWebhooks,
    WebhookRequest,
    raw_of,
)
from sync.engine.runner import (
    RESOURCE_ORDER,
    SyncEnvironment,
    mapping_fingerprint,
    open_client,
)
from sync.errors import (
    ConfigurationError,
    CredentialsRejected,
    InvalidRequest,
    NotFound,
    PmbridgeError,
    RateLimited,
    WebhookRejected,
)
from sync.http.client import VendorClient, VendorNotFound
from sync.mapping.registry import MAPPINGS, ToolMapping
from sync.mapping.vocabulary import Vocabulary
from sync.model import ConnectionState, Resource, Tool
from sync.store import connections as connection_store
from sync.store import inbox, records
from sync.store.crypto import SecretBox
from sync.store.database import Busy, engine_of, unit_of_work, write_now
from sync.store.inbox import Claimed, RegistrationState
from sync.store.inbox_tables import WebhookRegistration
from sync.store.leases import LeaseLost
from sync.store.tables import Connection

logger = logging.getLogger("pmbridge.webhooks")

#: Credential fields holding the key a tool signs deliveries with, in order of preference.
#: Trello signs with the application secret (FACTS.md §2.5); the rest use a webhook secret.
SECRET_CREDENTIALS: dict[Tool, tuple[str, ...]] = {Tool.TRELLO: ("secret", "webhook_secret")}
DEFAULT_SECRET_CREDENTIALS = ("webhook_secret",)

#: Credential fields holding the key for deliveries authenticated by a bearer token (a JWT in
#: ``Authorization: Bearer``) rather than a body signature: a Jira OAuth 2.0 app's dynamic
#: webhooks carry a JWT signed with the app's client secret (FACTS.md §1.5). These keys are
#: tried only on bearer deliveries and the body-signing secrets only on the others, so the
#: client secret never verifies an ``X-Hub-Signature`` and a webhook secret never a JWT.
TOKEN_CREDENTIALS: dict[Tool, tuple[str, ...]] = {Tool.JIRA: ("client_secret",)}

#: Tools whose signature covers the callback URL: verify against the URL as registered.
URL_SIGNING_TOOLS = frozenset({Tool.TRELLO})

#: Jira's own delivery id, "the same across retries" (FACTS.md §1.5).
JIRA_DELIVERY_HEADER = "x-atlassian-webhook-identifier"

#: Records fetched at once while applying a batch.
FETCHES_IN_FLIGHT = 8

#: Longest de-duplication key stored as is; longer ones are stored as their digest.
MAX_KEY = 128


# -- receiving --------------------------------------------------------------------------------
class ReceiptStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    HANDSHAKE = "handshake"


@dataclass(frozen=True, slots=True)
class Receipt:
    status: ReceiptStatus
    delivery_id: int | None = None
    #: The handshake secret to echo (Asana's ``X-Hook-Secret``).
    hook_secret: str | None = None


@dataclass(frozen=True, slots=True)
class _Receiver:
    """What receiving needs to know about one connection, cached for a few seconds."""

    connection_id: int
    tool: Tool
    connector: Connector
    secrets: tuple[str, ...]
    #: Keys for bearer-token deliveries (:data:`TOKEN_CREDENTIALS`).
    token_secrets: tuple[str, ...]
    callback_url: str | None
    #: A handshake may set a secret: a registration awaits one, or none is known at all.
    handshake_open: bool
    loaded_at: float


def dedup_key(tool: Tool, connector: Any, request: WebhookRequest) -> str:
    """The delivery's identity: Jira's delivery id, else the connector's own ``delivery_id``
    (Trello: action id; Asana: digest of the events), else a digest of the raw body."""
    key: str | None = None
    if tool is Tool.JIRA:
        key = _header(request.headers, JIRA_DELIVERY_HEADER)
    if not key:
        own = getattr(connector, "delivery_id", None)
        if callable(own):
            value = own(request)
            key = value if isinstance(value, str) and value else None
    if not key:
        key = hashlib.sha256(request.body).hexdigest()
    if len(key) > MAX_KEY:
        key = hashlib.sha256(key.encode()).hexdigest()
    return key


class WebhookReceiver:
    """Verifies and stores deliveries; one per process, shared by its request threads.

    Connection facts (tool, secrets, registered URL) are cached for ``cache_seconds`` so a
    delivery costs one insert; rejected deliveries only increment :attr:`rejected`.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        box: SecretBox,
        *,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        cache_seconds: float = 5.0,
    ) -> None:
        self.sessions = sessions
        self._engine = engine_of(sessions)
        self.box = box
        self.clock = clock
        self.monotonic = monotonic
        self.cache_seconds = cache_seconds
        #: Forged, wrongly signed or unverifiable deliveries, by connection (this process).
        self.rejected: Counter[int] = Counter()
        self._cache: dict[int, _Receiver] = {}
        self._lock = threading.Lock()

    def forget(self, connection_id: int | None = None) -> None:
        with self._lock:
            if connection_id is None:
                self._cache.clear()
            else:
                self._cache.pop(connection_id, None)

    def known(self, connection_id: int) -> bool:
        """For Trello's ``HEAD`` probe: the connection exists (no signature to check)."""
        try:
            self._receiver(connection_id)
        except NotFound:
            return False
        return True

    def receive(self, connection_id: int, request: WebhookRequest) -> Receipt:
        """Verify, then store unless already stored. Raises ``NotFound`` for an unknown
        connection and ``WebhookRejected`` (counted) for anything that fails verification."""
        receiver = self._receiver(connection_id)
        handshake = getattr(receiver.connector, "handshake_secret", None)
        if callable(handshake):
            offered = handshake(request)
            if isinstance(offered, str) and offered:
                return self._handshake(receiver, offered)
        request, key = self._checked(receiver, request)
        with self._engine.begin() as connection:
            return self._store(connection, connection_id, key, request)

    def receive_now(self, connection_id: int, request: WebhookRequest) -> Receipt | None:
        """:meth:`receive` without waiting, for the event loop: None when it would have to
        wait (the connection's facts are not cached, a handshake writes more than the inbox,
        or the database is busy with another writer); call :meth:`receive` in a thread then.

        On SQLite a delivery stored here costs a third of one handed to a thread: with the
        worker busy in the same process, each thread switch waits its turn for the GIL."""
        now = self.monotonic()
        with self._lock:
            receiver = self._cache.get(connection_id)
        if receiver is None or now - receiver.loaded_at >= self.cache_seconds:
            return None
        handshake = getattr(receiver.connector, "handshake_secret", None)
        if callable(handshake) and handshake(request):
            return None
        request, key = self._checked(receiver, request)
        try:
            return write_now(
                self._engine,
                lambda connection: self._store(connection, connection_id, key, request),
            )
        except Busy:
            return None

    def _checked(self, receiver: _Receiver, request: WebhookRequest) -> tuple[WebhookRequest, str]:
        """The verified request (as the tool signed it) and its de-duplication key."""
        connection_id = receiver.connection_id
        bearer = receiver.tool in TOKEN_CREDENTIALS and _is_bearer(request.headers)
        keys = receiver.token_secrets if bearer else receiver.secrets
        if not keys and bearer:
            names = " or ".join(TOKEN_CREDENTIALS[receiver.tool])
            self._reject(
                connection_id,
                f"connection {connection_id} has no {names} credential to verify the "
                "delivery's bearer token: add the OAuth app's client secret to its credentials",
                receiver.tool,
            )
        if not keys:
            self._reject(
                connection_id,
                f"connection {connection_id} has no webhook secret: register the webhook "
                "(POST /admin/connections/{id}/webhooks) or set the webhook_secret credential",
                receiver.tool,
            )
        if receiver.tool in URL_SIGNING_TOOLS and receiver.callback_url:
            request = dataclasses.replace(request, url=receiver.callback_url)
        if request.received_at is None:
            request = dataclasses.replace(request, received_at=self.clock())
        self._verify(receiver, request, keys)
        return request, dedup_key(receiver.tool, receiver.connector, request)

    def _store(
        self, connection: SqlConnection, connection_id: int, key: str, request: WebhookRequest
    ) -> Receipt:
        delivery_id, new = inbox.insert_if_new(
            connection,
            connection_id=connection_id,
            dedup_key=key,
            body=request.body,
            headers=request.headers,
            now=self.clock(),
        )
        return Receipt(ReceiptStatus.ACCEPTED if new else ReceiptStatus.DUPLICATE, delivery_id)

    def _verify(self, receiver: _Receiver, request: WebhookRequest, keys: Sequence[str]) -> None:
        """Any of the keys may have signed it (one per Asana webhook)."""
        last: PmbridgeError | None = None
        for secret in keys:
            try:
                receiver.connector.verify_webhook(request, secret)
                return
            except WebhookRejected as error:
                last = error
            except (InvalidRequest, ConfigurationError) as error:  # a connection option
                last = error
        self.rejected[receiver.connection_id] += 1
        message = last.message if last is not None else "the delivery could not be verified"
        raise WebhookRejected(message, tool=receiver.tool.value)

    def _reject(self, connection_id: int, message: str, tool: Tool) -> None:
        self.rejected[connection_id] += 1
        raise WebhookRejected(message, tool=tool.value)

    def _handshake(self, receiver: _Receiver, secret: str) -> Receipt:
        if not receiver.handshake_open:
            # Another process may have just started a registration: ask the database.
            receiver = self._load(receiver.connection_id, self.monotonic())
            with self._lock:
                self._cache[receiver.connection_id] = receiver
        if not receiver.handshake_open:
            self._reject(
                receiver.connection_id,
                "unexpected webhook handshake: no registration is waiting for one",
                receiver.tool,
            )
        sealed = self.box.seal({"secret": secret})
        now = self.clock()
        with unit_of_work(self.sessions) as session:
            pending = [
                r
                for r in inbox.live_registrations(session, receiver.connection_id)
                if r.state == RegistrationState.PENDING.value
            ]
            if pending:
                inbox.update_registration(
                    session,
                    pending[-1].id,
                    now=now,
                    secret=sealed,
                    state=RegistrationState.ACTIVE.value,
                )
            else:
                inbox.add_registration(
                    session,
                    connection_id=receiver.connection_id,
                    mode="manual",
                    callback_url="",
                    now=now,
                    sealed_secret=sealed,
                    state_reason="secret set by the tool's handshake",
                )
        self.forget(receiver.connection_id)
        return Receipt(ReceiptStatus.HANDSHAKE, hook_secret=secret)

    def _receiver(self, connection_id: int) -> _Receiver:
        now = self.monotonic()
        with self._lock:
            cached = self._cache.get(connection_id)
        if cached is not None and now - cached.loaded_at < self.cache_seconds:
            return cached
        receiver = self._load(connection_id, now)
        with self._lock:
            self._cache[connection_id] = receiver
        return receiver

    def _load(self, connection_id: int, loaded_at: float) -> _Receiver:
        with self.sessions() as session:
            connection = session.get(Connection, connection_id)
            if connection is None:
                raise NotFound(f"no connection {connection_id}", connection=str(connection_id))
            tool = Tool(connection.tool)
            connector_class = CONNECTORS.get(tool)
            if connector_class is None:
                raise NotFound(f"no connector for {tool.value}", connection=str(connection_id))
            config = connection_store.connection_config(connection, self.box)
            registrations = inbox.live_registrations(session, connection_id)
        found: list[str] = []
        for name in SECRET_CREDENTIALS.get(tool, DEFAULT_SECRET_CREDENTIALS):
            value = config.credentials.get(name)
            if value:
                found.append(value)
                break
        for registration in registrations:
            if registration.secret is not None:
                found.append(self.box.open(registration.secret)["secret"])
        tokens = [config.credentials.get(n) for n in TOKEN_CREDENTIALS.get(tool, ())]
        urls = [r.callback_url for r in registrations if r.callback_url]
        waiting = any(r.state == RegistrationState.PENDING.value for r in registrations)
        return _Receiver(
            connection_id=connection_id,
            tool=tool,
            # Verifying and parsing are pure: the connector needs no HTTP client for them.
            connector=connector_class(cast(Any, None), config),
            secrets=tuple(dict.fromkeys(found)),
            token_secrets=tuple(dict.fromkeys(t for t in tokens if t)),
            callback_url=urls[-1] if urls else None,
            handshake_open=waiting or not found,
            loaded_at=loaded_at,
        )


# -- applying ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Backoff:
    """When a failed delivery is tried again: doubling waits, then a dead letter."""

    max_attempts: int = 8
    base: timedelta = timedelta(seconds=10)
    ceiling: timedelta = timedelta(hours=1)

    def retry_at(self, attempts: int, now: datetime) -> datetime | None:
        if attempts >= self.max_attempts:
            return None
        wait: timedelta = min(self.base * (2 ** max(attempts - 1, 0)), self.ceiling)
        return now + wait


@dataclass(slots=True)
class BatchOutcome:
    applied: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    notices: int = 0
    fetched: int = 0
    upserted: int = 0
    deleted: int = 0
    lease_lost: bool = False


#: Extra writes a caller wants in the transaction that marks deliveries applied.
InTransaction = Callable[[Session, Sequence[int]], None]


@dataclass(slots=True)
class _Failure:
    reason: str
    retryable: bool
    retry_at: datetime | None = None


async def apply_deliveries(
    env: SyncEnvironment,
    connection_id: int,
    deliveries: Sequence[Claimed],
    *,
    owner: str,
    backoff: Backoff,
    in_transaction: InTransaction | None = None,
    pool: ConnectorPool | None = None,
) -> BatchOutcome:
    """Apply claimed deliveries of one connection: parse each, refresh every record they name
    (once, however many deliveries name it), write the results and mark the deliveries done
    in one transaction. Nothing escapes: failures become retries or dead letters."""
    outcome = BatchOutcome()
    if not deliveries:
        return outcome
    with env.sessions() as session:
        connection = session.get(Connection, connection_id)
        if connection is None:  # deleted meanwhile: its deliveries went with it (cascade)
            return outcome
        config = connection_store.connection_config(connection, env.box)
        tool = Tool(connection.tool)
        options = dict(connection.options or {})
        transport = env.transport_for(connection)
        identity = _identity(connection)
    connector_class = CONNECTORS.get(tool)
    mapping = MAPPINGS.get(tool)
    failures: dict[int, _Failure] = {}
    if connector_class is None or mapping is None:
        missing = _Failure(f"pmbridge has no connector or mapping for {tool.value}", False)
        failures = dict.fromkeys((d.id for d in deliveries), missing)
        _settle(env, connection_id, deliveries, {}, failures, owner, backoff, outcome)
        return outcome

    # Parse: a body the connector cannot read never will be, so it is a dead letter at once.
    parser = connector_class(cast(Any, None), config)
    applied: dict[int, int] = {}
    wanted: dict[tuple[Resource, str], list[int]] = {}
    for delivery in deliveries:
        try:
            notices = parser.parse_webhook(WebhookRequest(delivery.body, delivery.headers))
        except Exception as error:
            failures[delivery.id] = _Failure(_describe(error), retryable=False)
            continue
        kept = [n for n in notices if n.resource in connector_class.resources]
        applied[delivery.id] = len(kept)
        for notice in kept:
            wanted.setdefault((notice.resource, notice.vendor_id), []).append(delivery.id)
    outcome.notices = sum(applied.values())

    # Refresh: the payload is a hint; the vendor's current record is the truth.
    results: dict[tuple[Resource, str], Any] = {}
    vocabulary: Vocabulary | None = None
    if wanted:
        try:
            results, vocabulary = await _refresh(
                env,
                connector_class,
                config,
                options,
                tool,
                transport,
                list(wanted),
                pool,
                connection_id,
                identity,
            )
        except CredentialsRejected as error:
            # Nothing can be applied until a person reconnects: hand the deliveries back.
            _on_vendor_error(env, connection_id, error)
            _release(env, list(applied), owner, outcome)
            _settle(env, connection_id, deliveries, {}, failures, owner, backoff, outcome)
            return outcome
        except Exception as error:
            if isinstance(error, PmbridgeError):
                _on_vendor_error(env, connection_id, error)
            else:
                logger.exception("connection %s: refreshing webhook notices crashed", connection_id)
            failures.update(dict.fromkeys(applied, _failure_for(error)))
            applied = {}
            wanted = {}

    # Map: a record that fails fails only the deliveries that named it.
    mapped: dict[Resource, list[tuple[Any, dict[str, Any]]]] = {r: [] for r in RESOURCE_ORDER}
    gone: list[str] = []
    for key, result in results.items():
        resource, vendor_id = key
        problem: _Failure | None = None
        if isinstance(result, _Failure):
            problem = result
        elif result is None:
            outcome.fetched += 1
            if resource is Resource.WORK_ITEMS:
                gone.append(vendor_id)
            # A vanished project or milestone is left to the census, which sees the whole.
        else:
            outcome.fetched += 1
            try:
                assert vocabulary is not None
                record = _map(mapping, vocabulary, resource, result)
                mapped[resource].append((record, raw_of(result)))
            except Exception as error:  # a mapping bug: this record, not the batch
                problem = _Failure(
                    f"could not map {resource} {vendor_id}: {_describe(error)}", False
                )
        if problem is not None:
            for delivery_id in wanted[key]:
                if applied.pop(delivery_id, None) is not None:
                    failures[delivery_id] = problem
    fingerprint = mapping_fingerprint(vocabulary) if vocabulary is not None else ""
    writes = _Writes(
        records.Scope(connection_id, tool.value, env.clock(), None, fingerprint=fingerprint),
        mapped,
        gone,
    )
    _settle(
        env,
        connection_id,
        deliveries,
        applied,
        failures,
        owner,
        backoff,
        outcome,
        writes,
        in_transaction,
    )
    return outcome


@dataclass(slots=True)
class _Live:
    identity: str
    client: VendorClient
    connector: Connector
    vocabulary: Vocabulary
    opened_at: float


class ConnectorPool:
    """Discovered connectors kept between batches, one per connection, so a batch costs only
    its fetches (not a new client and the connector's ``discover`` requests every time).

    An entry is replaced after ``ttl`` seconds, when the connection's configuration changes,
    or after a batch fails. Use it from one event loop (a worker's); ``aclose`` at the end.
    """

    def __init__(self, *, ttl: float = 300.0, monotonic: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.monotonic = monotonic
        self._live: dict[int, _Live] = {}

    async def get(
        self,
        env: SyncEnvironment,
        connection_id: int,
        identity: str,
        opener: Callable[[], VendorClient],
        connector_class: type[Connector],
        config: ConnectionConfig,
        tool: Tool,
        options: dict[str, Any],
    ) -> tuple[Connector, Vocabulary]:
        live = self._live.get(connection_id)
        now = self.monotonic()
        if live is not None and live.identity == identity and now - live.opened_at < self.ttl:
            return live.connector, live.vocabulary
        await self.drop(connection_id)
        client = opener()
        try:
            connector = connector_class(client, config)
            facts = await connector.discover()
        except BaseException:
            await client.aclose()
            raise
        vocabulary = Vocabulary.build(tool, discovered=facts, overrides=options)
        self._live[connection_id] = _Live(identity, client, connector, vocabulary, now)
        return connector, vocabulary

    async def drop(self, connection_id: int) -> None:
        live = self._live.pop(connection_id, None)
        if live is not None:
            await live.client.aclose()

    async def aclose(self) -> None:
        for connection_id in list(self._live):
            await self.drop(connection_id)


async def _refresh(
    env: SyncEnvironment,
    connector_class: type[Connector],
    config: ConnectionConfig,
    options: dict[str, Any],
    tool: Tool,
    transport: httpx.AsyncBaseTransport | None,
    keys: list[tuple[Resource, str]],
    pool: ConnectorPool | None,
    connection_id: int,
    identity: str,
) -> tuple[dict[tuple[Resource, str], Any], Vocabulary]:
    """Fetch every named record again, concurrently (the client paces the requests). A vendor
    error about one record is that record's failure; throttling and rejected credentials
    stop the batch."""

    def opener() -> VendorClient:
        return open_client(env, connector_class, config, options, transport)

    async def fetch_all(connector: Connector) -> list[Any]:
        # A few requests in flight at once: the client's pool slows down quadratically with
        # the requests queued in it, and the rate limiter paces them anyway.
        gate = asyncio.Semaphore(FETCHES_IN_FLIGHT)

        async def one(key: tuple[Resource, str]) -> Any:
            try:
                async with gate:
                    return await connector.fetch_one(*key)
            except (RateLimited, CredentialsRejected):
                raise
            except PmbridgeError as error:
                return _failure_for(error)

        # Where the connector reads a resource in bulk (Jira: 100 issues a request), one call
        # per resource; every other record is fetched on its own.
        many: Any = getattr(connector, "fetch_many", None)
        bulk: frozenset[Resource] = (
            getattr(connector, "bulk_resources", frozenset()) if callable(many) else frozenset()
        )
        singles = [k for k in keys if k[0] not in bulk]
        found: dict[tuple[Resource, str], Any] = dict(
            zip(singles, await asyncio.gather(*(one(k) for k in singles)), strict=True)
        )
        for resource in dict.fromkeys(r for r, _ in keys if r in bulk):
            ids = [v for r, v in keys if r is resource]
            try:
                answers = await many(resource, ids)
            except (RateLimited, CredentialsRejected):
                raise
            except PmbridgeError as error:
                answers = dict.fromkeys(ids, error)
            for vendor_id in ids:
                answer = answers.get(vendor_id)
                found[(resource, vendor_id)] = (
                    _failure_for(answer) if isinstance(answer, PmbridgeError) else answer
                )
        return [found[k] for k in keys]

    if pool is None:
        async with opener() as client:
            connector = connector_class(client, config)
            facts = await connector.discover()
            vocabulary = Vocabulary.build(tool, discovered=facts, overrides=options)
            found = await fetch_all(connector)
        return dict(zip(keys, found, strict=True)), vocabulary
    connector, vocabulary = await pool.get(
        env, connection_id, identity, opener, connector_class, config, tool, options
    )
    try:
        found = await fetch_all(connector)
    except BaseException:
        await pool.drop(connection_id)  # a fresh client and discovery next time
        raise
    return dict(zip(keys, found, strict=True)), vocabulary


def _identity(connection: Connection) -> str:
    """What a cached connector depends on: credentials, URL, scope and options."""
    text = repr((connection.tool, connection.base_url, connection.scope, connection.options))
    return hashlib.blake2b(
        bytes(connection.credentials) + text.encode(), digest_size=16
    ).hexdigest()


def _map(mapping: ToolMapping, vocabulary: Vocabulary, resource: Resource, payload: Any) -> Any:
    if resource is Resource.PROJECTS:
        return mapping.project(payload, vocabulary)
    if resource is Resource.MILESTONES:
        return mapping.milestone(payload, vocabulary)
    return mapping.work_item(payload, vocabulary)


def _failure_for(error: BaseException) -> _Failure:
    if isinstance(error, RateLimited):
        return _Failure(error.message, retryable=True, retry_at=error.retry_at)
    return _Failure(_describe(error), retryable=True)


def _describe(error: BaseException) -> str:
    if isinstance(error, PmbridgeError):
        reason = error.details.get("reason")
        return f"{error.message}: {reason}" if reason else error.message
    return f"{type(error).__name__}: {error}"


def _on_vendor_error(env: SyncEnvironment, connection_id: int, error: PmbridgeError) -> None:
    """A throttled vendor or rejected credentials change the connection's state, as a sync
    run records them, so the worker backs off (throttled) or stops (needs reauth)."""
    if not isinstance(error, RateLimited | CredentialsRejected):
        return
    now = env.clock()
    with unit_of_work(env.sessions) as session:
        connection = session.get(Connection, connection_id)
        if connection is None:
            return
        if isinstance(error, RateLimited):
            connection_store.set_state(
                session,
                connection,
                ConnectionState.THROTTLED,
                now=now,
                reason=error.message,
                throttled_until=error.retry_at,
            )
        else:
            connection_store.set_state(
                session, connection, ConnectionState.NEEDS_REAUTH, now=now, reason=error.message
            )


def _release(env: SyncEnvironment, ids: list[int], owner: str, outcome: BatchOutcome) -> None:
    if not ids:
        return
    with unit_of_work(env.sessions) as session:
        inbox.release(session, ids, owner=owner, now=env.clock())
    outcome.released.extend(ids)


def _retry_at(failure: _Failure, attempts: int, now: datetime, backoff: Backoff) -> datetime | None:
    if not failure.retryable:
        return None
    at = backoff.retry_at(attempts, now)
    if at is not None and failure.retry_at is not None:
        at = max(at, failure.retry_at)
    return at


@dataclass(frozen=True, slots=True)
class _Writes:
    scope: records.Scope
    mapped: dict[Resource, list[tuple[Any, dict[str, Any]]]]
    gone: list[str]


def _settle(
    env: SyncEnvironment,
    connection_id: int,
    deliveries: Sequence[Claimed],
    applied: Mapping[int, int],
    failures: Mapping[int, _Failure],
    owner: str,
    backoff: Backoff,
    outcome: BatchOutcome,
    writes: _Writes | None = None,
    in_transaction: InTransaction | None = None,
) -> None:
    """One transaction: the refreshed records, the tombstones, the deliveries marked done
    (only while still held) and the failures recorded. A lost lease rolls all of it back."""
    now = env.clock()
    attempts = {d.id: d.attempts for d in deliveries}
    retry: list[tuple[int, str, datetime]] = []
    dead: dict[str, list[int]] = {}
    for delivery_id, failure in sorted(failures.items()):
        at = _retry_at(failure, attempts[delivery_id], now, backoff)
        if at is None:
            dead.setdefault(failure.reason, []).append(delivery_id)
        else:
            retry.append((delivery_id, failure.reason, at))
    upserted = deleted = 0
    try:
        with unit_of_work(env.sessions) as session:
            if writes is not None and applied:
                scope = dataclasses.replace(writes.scope, now=now)
                mapped = writes.mapped
                for counts in (
                    records.upsert_projects(session, scope, mapped[Resource.PROJECTS]),
                    records.upsert_milestones(session, scope, mapped[Resource.MILESTONES]),
                    records.upsert_work_items(session, scope, mapped[Resource.WORK_ITEMS]),
                ):
                    upserted += counts.upserted
                for vendor_id in writes.gone:
                    deleted += records.tombstone(session, scope, vendor_id)
            inbox.complete(session, applied, owner=owner, now=now)
            for delivery_id, reason, at in retry:
                inbox.fail(session, [delivery_id], owner=owner, error=reason, retry_at=at)
            for reason, ids in dead.items():
                inbox.fail(session, ids, owner=owner, error=reason, retry_at=None)
            if in_transaction is not None and applied:
                in_transaction(session, sorted(applied))
    except LeaseLost:
        logger.warning("connection %s: deliveries were taken over; rolled back", connection_id)
        outcome.lease_lost = True
        return
    except Exception as error:
        if not applied or writes is None:
            raise
        # The store refused the records (a race on a person's e-mail, a lost connection):
        # record every delivery as a failed attempt instead, to be tried again.
        logger.exception("connection %s: writing a webhook batch failed", connection_id)
        problem = _Failure(f"writing the refreshed records failed: {_describe(error)}", True)
        everything = {**dict.fromkeys(applied, problem), **failures}
        _settle(env, connection_id, deliveries, {}, everything, owner, backoff, outcome)
        return
    outcome.applied.extend(sorted(applied))
    outcome.retried.extend(delivery_id for delivery_id, _reason, _at in retry)
    outcome.dead.extend(sorted(i for ids in dead.values() for i in ids))
    outcome.upserted += upserted
    outcome.deleted += deleted


# -- registration -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Instructions:
    """What a person pastes into the tool's admin page when pmbridge cannot register."""

    url: str
    secret: str | None
    header: str | None
    steps: list[str]


@dataclass(frozen=True, slots=True)
class RegistrationResult:
    registration_ids: list[int]
    #: For tools registered by hand; the secret is shown here once and never again.
    instructions: Instructions | None = None


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


#: Token header the Worktile and PingCode connectors accept (their default).
TOKEN_HEADER = "X-Pmbridge-Token"  # noqa: S105 - a header name


@dataclass(frozen=True, slots=True)
class _Vendor:
    """A connection as registration and refreshing talk to its tool: read once."""

    connection_id: int
    tool: Tool
    connector_class: type[Connector]
    config: ConnectionConfig
    options: dict[str, Any]
    transport: httpx.AsyncBaseTransport | None

    def client(self, env: SyncEnvironment) -> VendorClient:
        return open_client(env, self.connector_class, self.config, self.options, self.transport)

    @property
    def registers_expiring(self) -> bool:
        """The tool registers one expiring webhook, and these credentials may (Jira: OAuth)."""
        allowed = getattr(self.connector_class, "registers_webhooks", None)
        return callable(allowed) and bool(allowed(self.config.credentials))


def _vendor_of(env: SyncEnvironment, session: Session, connection_id: int) -> _Vendor:
    connection = connection_store.get_connection(session, connection_id)
    tool = Tool(connection.tool)
    connector_class = CONNECTORS.get(tool)
    if connector_class is None:
        raise InvalidRequest(f"no connector for {tool.value}", field="tool")
    return _Vendor(
        connection_id,
        tool,
        connector_class,
        connection_store.connection_config(connection, env.box),
        dict(connection.options or {}),
        env.transport_for(connection),
    )


def _fail_registration(env: SyncEnvironment, registration_id: int, error: PmbridgeError) -> None:
    """The tool refused the webhook: the row says why, for ``GET .../webhooks``."""
    with unit_of_work(env.sessions) as session:
        inbox.update_registration(
            session,
            registration_id,
            now=env.clock(),
            state=RegistrationState.FAILED.value,
            state_reason=_describe(error),
        )


async def register_webhooks(
    env: SyncEnvironment,
    connection_id: int,
    *,
    callback_url: str,
    receiver: WebhookReceiver | None = None,
) -> RegistrationResult:
    """Register the receiver with the tool where its API allows (Trello, Asana, Jira with
    OAuth credentials), else record a manual registration with a fresh secret and return the
    steps to paste it."""
    with env.sessions() as session:
        vendor = _vendor_of(env, session, connection_id)
    tool, credentials = vendor.tool, vendor.config.credentials
    try:
        if callable(getattr(vendor.connector_class, "register_webhook", None)):
            if tool is Tool.TRELLO and not any(
                credentials.get(n) for n in SECRET_CREDENTIALS[Tool.TRELLO]
            ):
                raise InvalidRequest(
                    "Trello signs deliveries with the application secret: add it to the "
                    "connection's credentials as `secret` before registering",
                    field="credentials.secret",
                )
            return RegistrationResult(
                await _register_by_api(env, vendor, callback_url, receiver=receiver)
            )
        if vendor.registers_expiring:
            names = TOKEN_CREDENTIALS.get(tool, ())
            if names and not any(credentials.get(n) for n in names):
                raise InvalidRequest(
                    f"{tool_name(tool)} signs these webhooks' deliveries with a token keyed by "
                    f"the app's `{names[0]}` (Jira: the OAuth app's client secret): add it to "
                    "the connection's credentials before registering",
                    field=f"credentials.{names[0]}",
                )
            return RegistrationResult([await _register_expiring(env, vendor, callback_url)])
        return _register_by_hand(env, connection_id, tool, callback_url)
    finally:
        if receiver is not None:
            receiver.forget(connection_id)


async def _register_by_api(
    env: SyncEnvironment,
    vendor: _Vendor,
    callback_url: str,
    *,
    receiver: WebhookReceiver | None = None,
) -> list[int]:
    """One webhook per project (Trello board, Asana project) the connection syncs."""
    created: list[int] = []
    connection_id, tool = vendor.connection_id, vendor.tool
    async with vendor.client(env) as client:
        connector = vendor.connector_class(client, vendor.config)
        if not isinstance(connector, RegistersWebhooks):
            raise InvalidRequest(f"{tool.value} webhooks are not registered per project")
        # A tool that sends a handshake first has answered only once the receiver stored it.
        handshake = callable(getattr(connector, "handshake_secret", None))
        projects = await _project_ids(connector, tool, vendor.options)
        for project_id in projects:
            now = env.clock()
            with unit_of_work(env.sessions) as session:
                row = inbox.add_registration(
                    session,
                    connection_id=connection_id,
                    mode="api",
                    callback_url=callback_url,
                    target=project_id,
                    now=now,
                    state=RegistrationState.PENDING,
                )
                registration_id = row.id
            if receiver is not None:
                receiver.forget(connection_id)  # the handshake may arrive during the call
            try:
                answer = await connector.register_webhook(
                    project_id, callback_url, description=f"pmbridge connection {connection_id}"
                )
            except PmbridgeError as error:
                _fail_registration(env, registration_id, error)
                created.append(registration_id)
                continue
            _record_answer(env, registration_id, answer, handshake=handshake, tool=tool)
            created.append(registration_id)
    return created


async def _project_ids(connector: Connector, tool: Tool, options: dict[str, Any]) -> list[str]:
    """Vendor ids of the projects (boards) in the connection's scope, through the mapping."""
    mapping = MAPPINGS.get(tool)
    if mapping is None:
        raise InvalidRequest(f"no mapping for {tool.value}", field="tool")
    facts = await connector.discover()
    vocabulary = Vocabulary.build(tool, discovered=facts, overrides=options)
    found: list[str] = []
    async for page in connector.fetch(Resource.PROJECTS, None):
        found.extend(mapping.project(item, vocabulary).vendor_id for item in page.items)
    return list(dict.fromkeys(found))


def _record_answer(
    env: SyncEnvironment,
    registration_id: int,
    answer: RegisteredWebhook,
    *,
    handshake: bool,
    tool: Tool,
) -> None:
    """The registration is active with the tool's webhook id, and its secret if the answer
    carried one the handshake had not already stored; a handshake that never came is a
    failed registration (no secret: nothing it sends could be verified)."""
    with unit_of_work(env.sessions) as session:
        row = session.get(WebhookRegistration, registration_id)
        if row is None:  # pragma: no cover - the connection was deleted meanwhile
            return
        values: dict[str, Any] = {
            "vendor_webhook_id": answer.vendor_id,
            "state": RegistrationState.ACTIVE.value,
            "state_reason": None,
        }
        if row.secret is None and answer.secret:
            values["secret"] = env.box.seal({"secret": answer.secret})
        if handshake and row.secret is None and "secret" not in values:
            values["state"] = RegistrationState.FAILED.value
            values["state_reason"] = f"{tool_name(tool)}'s handshake never reached the receiver URL"
        inbox.update_registration(session, registration_id, now=env.clock(), **values)


async def _register_expiring(env: SyncEnvironment, vendor: _Vendor, callback_url: str) -> int:
    """One webhook for the connection (Jira: a dynamic webhook whose JQL filter names the
    connection's projects): a row in mode ``api`` with the webhook's id, the filter as its
    target and the vendor's expiry.

    Finding the projects happens first, so a configuration problem (no project in scope) or
    an unreachable tool is the request's error, as for per-project registrations; a refusal
    of the registration itself is a ``failed`` row with the tool's reason. Once the tool
    accepted the new webhook, it replaces the connection's earlier ones
    (:func:`_replace_webhooks`)."""
    connection_id, tool = vendor.connection_id, vendor.tool
    async with vendor.client(env) as client:
        connector = _expiring(vendor.connector_class(client, vendor.config), tool)
        events = connector.webhook_events()
        jql = await connector.webhook_filter()
        with unit_of_work(env.sessions) as session:
            # Read with the new row's insert, not after the call: two registrations at once
            # then never delete each other's webhook.
            earlier = {
                r.id: int(r.vendor_webhook_id)
                for r in inbox.live_registrations(session, connection_id)
                if r.mode == "api" and r.vendor_webhook_id is not None
            }
            registration_id = inbox.add_registration(
                session,
                connection_id=connection_id,
                mode="api",
                callback_url=callback_url,
                target=jql,
                now=env.clock(),
                state=RegistrationState.PENDING,
            ).id
        try:
            webhook_id = await connector.register_dynamic_webhook(callback_url, jql, events)
        except PmbridgeError as error:
            _fail_registration(env, registration_id, error)
            return registration_id
        expires_at = await _expiry(connector, tool, webhook_id, env.clock())
        replaced = await _replace_webhooks(connector, tool, connection_id, registration_id, earlier)
    now = env.clock()
    with unit_of_work(env.sessions) as session:
        inbox.update_registration(
            session,
            registration_id,
            now=now,
            vendor_webhook_id=str(webhook_id),
            state=RegistrationState.ACTIVE.value,
            state_reason=None,
            expires_at=expires_at,
        )
        for earlier_id, reason in replaced.items():
            inbox.update_registration(
                session,
                earlier_id,
                now=now,
                state=RegistrationState.EXPIRED.value,
                state_reason=reason,
            )
    return registration_id


def _expiring(connector: Connector, tool: Tool) -> ExpiringWebhooks:
    if not isinstance(connector, ExpiringWebhooks):
        raise InvalidRequest(f"{tool_name(tool)} webhooks do not expire", field="tool")
    return connector


async def _replace_webhooks(
    connector: ExpiringWebhooks,
    tool: Tool,
    connection_id: int,
    registration_id: int,
    earlier: Mapping[int, int],
) -> dict[int, str]:
    """Delete the webhooks of ``earlier`` registrations (id: webhook id), else the tool
    delivers every change once per webhook; the reason each registration is ``expired`` with.

    A failed delete does not fail the registration: the reason names the webhook, which
    delivers until it expires (it is no longer refreshed) unless deleted."""
    if not earlier:
        return {}
    replaced = f"replaced by registration {registration_id}"
    hooks = sorted(set(earlier.values()))
    try:
        await connector.delete_dynamic_webhooks(hooks)
    except PmbridgeError as error:
        logger.warning(
            "connection %s: deleting replaced %s webhooks %s failed: %s",
            connection_id,
            tool_name(tool),
            hooks,
            error,
        )
        return {
            i: f"{replaced}; {tool_name(tool)} could not be told to delete webhook {hook} "
            f"({_describe(error)}): delete it, or it delivers until it expires"
            for i, hook in earlier.items()
        }
    return dict.fromkeys(earlier, replaced)


async def _expiry(
    connector: ExpiringWebhooks, tool: Tool, webhook_id: int, now: datetime
) -> datetime:
    """When a new webhook expires. Registering answers only its id, so the webhook is looked
    up in the tool's list (the vendor's own date); if the list lacks it or cannot be read,
    ``now`` plus the lifetime the connector declares (Jira's spec: 30 days)."""
    try:
        listed = {w.id: w for w in await connector.dynamic_webhooks()}
    except PmbridgeError as error:
        logger.warning(
            "%s webhook %s: listing it for its expiry failed: %s",
            tool_name(tool),
            webhook_id,
            error,
        )
        listed = {}
    found = listed.get(webhook_id)
    if found is not None and found.expirationDate is not None:
        return found.expirationDate
    return now + connector.webhook_lifetime


def tool_name(tool: Tool) -> str:
    """A tool as people write it, for messages."""
    return {Tool.PINGCODE: "PingCode"}.get(tool, tool.value.capitalize())


# -- refreshing expiring registrations ----------------------------------------------------------
#: Refresh a registration once it has this little left. A week means one refresh about every
#: 23 days, yet leaves seven days of hourly retries for an outage of Jira or of every worker
#: before deliveries stop; it is a worker setting (``webhook_refresh_margin_days``).
DEFAULT_REFRESH_MARGIN = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """Registration ids refreshed (their ``expires_at`` moved) and newly ``expired``."""

    refreshed: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)


async def refresh_webhook_registrations(
    env: SyncEnvironment,
    connection_id: int,
    *,
    now: datetime,
    margin: timedelta | None = DEFAULT_REFRESH_MARGIN,
) -> RefreshOutcome:
    """Extend the connection's Jira dynamic webhooks that expire within ``margin`` of ``now``
    (``None``: every live one), each ``expires_at`` taken from the vendor.

    Only the database is read unless something is due, so calling it often is cheap. A
    registration already past its expiry is ``expired`` without asking Jira (it stopped
    delivering); one Jira no longer knows (a 404, or missing from its list after the refresh,
    since the refresh ignores unknown ids) is ``expired`` with the reason. Other vendor errors
    are raised, with the connection throttled or marked for reauth as a sync would be.
    Other tools' webhooks do not expire: nothing to do for them."""
    with env.sessions() as session:
        vendor = _vendor_of(env, session, connection_id)
        rows = [
            (r.id, r.vendor_webhook_id, r.expires_at)
            for r in inbox.live_registrations(session, connection_id)
            if r.mode == "api"
            and r.state == RegistrationState.ACTIVE.value
            and r.vendor_webhook_id is not None
        ]
    if not vendor.registers_expiring or not rows:
        return RefreshOutcome()
    tool = vendor.tool
    lapsed = [(i, at) for i, _hook, at in rows if at is not None and at <= now]
    due = {
        i: int(hook)
        for i, hook, at in rows
        if hook is not None
        and (at is None or at > now)
        and (margin is None or at is None or at - now <= margin)
    }
    outcome = RefreshOutcome()
    with unit_of_work(env.sessions) as session:
        for registration_id, at in lapsed:
            inbox.update_registration(
                session,
                registration_id,
                now=now,
                state=RegistrationState.EXPIRED.value,
                state_reason=f"expired at {at.isoformat()} before it was refreshed; "
                "register again (POST /admin/connections/{id}/webhooks)",
            )
            outcome.expired.append(registration_id)
    if not due:
        return outcome

    name = tool_name(tool)
    async with vendor.client(env) as client:
        connector = _expiring(vendor.connector_class(client, vendor.config), tool)
        try:
            expiration = await connector.refresh_dynamic_webhooks(sorted(set(due.values())))
        except VendorNotFound as error:
            gone = {i: f"{name} no longer knows webhook {due[i]} ({error.message})" for i in due}
            _expire(env, gone, now, outcome)
            return outcome
        except PmbridgeError as error:
            _on_vendor_error(env, connection_id, error)
            raise
        try:
            listed: dict[int, datetime | None] | None = {
                w.id: w.expirationDate for w in await connector.dynamic_webhooks()
            }
        except PmbridgeError as error:  # refreshed all the same: the answer says until when
            logger.warning(
                "connection %s: listing %s webhooks failed: %s", connection_id, name, error
            )
            listed = None
    gone = {
        i: f"{name} no longer knows webhook {hook} (not among the app's webhooks after a refresh)"
        for i, hook in due.items()
        if listed is not None and hook not in listed
    }
    _expire(env, gone, now, outcome)
    with unit_of_work(env.sessions) as session:
        for registration_id, hook in due.items():
            if registration_id in gone:
                continue
            own = listed.get(hook) if listed is not None else None
            inbox.update_registration(
                session,
                registration_id,
                now=now,
                expires_at=own or expiration,
                state_reason=None,
            )
            outcome.refreshed.append(registration_id)
    return outcome


def _expire(
    env: SyncEnvironment, reasons: Mapping[int, str], now: datetime, outcome: RefreshOutcome
) -> None:
    if not reasons:
        return
    with unit_of_work(env.sessions) as session:
        for registration_id, reason in reasons.items():
            inbox.update_registration(
                session,
                registration_id,
                now=now,
                state=RegistrationState.EXPIRED.value,
                state_reason=f"{reason}; register again (POST /admin/connections/{{id}}/webhooks)",
            )
            outcome.expired.append(registration_id)


def _register_by_hand(
    env: SyncEnvironment, connection_id: int, tool: Tool, callback_url: str
) -> RegistrationResult:
    secret = new_webhook_secret()
    now = env.clock()
    with unit_of_work(env.sessions) as session:
        row = inbox.add_registration(
            session,
            connection_id=connection_id,
            mode="manual",
            callback_url=callback_url,
            now=now,
            sealed_secret=env.box.seal({"secret": secret}),
            state_reason="waiting for a person to paste the URL and secret into the tool",
        )
        registration_id = row.id
    return RegistrationResult([registration_id], _instructions(tool, callback_url, secret))


def _instructions(tool: Tool, url: str, secret: str) -> Instructions:
    if tool is Tool.JIRA:
        return Instructions(
            url=url,
            secret=secret,
            header=None,
            steps=[
                "In Jira, open Settings > System > WebHooks and choose Create a WebHook "
                "(needs a Jira administrator).",
                f"URL: {url}",
                "Secret: the secret above (Jira then signs each delivery with X-Hub-Signature).",
                "Events: Issue created, updated and deleted; Version created, updated, released "
                "and deleted; Project created, updated and deleted.",
                "Optionally narrow the issues with a JQL filter such as project in (KEY1, KEY2).",
                "Save. Deliveries appear in GET /admin/inbox as they arrive.",
            ],
        )
    if tool is Tool.WORKTILE:
        return Instructions(
            url=url,
            secret=secret,
            header=TOKEN_HEADER,
            steps=[
                "In Worktile, add a webhook for the projects this connection syncs "
                "(Worktile documents no signature, FACTS.md §4).",
                f"URL: {url}",
                f"Send the header {TOKEN_HEADER}: <the secret above>; where headers cannot be "
                f"set, use {url}?token=<the secret above> as the URL instead.",
                "Choose the task events (created, state, assignee, due date, title changes).",
            ],
        )
    if tool is Tool.PINGCODE:
        return Instructions(
            url=url,
            secret=secret,
            header=TOKEN_HEADER,
            steps=[
                "In PingCode Flow, create a rule triggered when a work item is created, "
                "updated or deleted, with the action Send Webhook (PingCode has no webhook "
                "API, FACTS.md §5.5).",
                f"URL: {url}",
                f"Header {TOKEN_HEADER}: <the secret above> (or {url}?token=<the secret>).",
                'Body: {"event": "work_item.updated", "work_item": {"id": "<work item id>"}} '
                '(use "work_item.deleted" for deletions).',
            ],
        )
    return Instructions(
        url=url,
        secret=secret,
        header=None,
        steps=[f"Configure {tool.value} to POST changes to {url}, signed with the secret above."],
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _is_bearer(headers: Mapping[str, str]) -> bool:
    """``Authorization: Bearer ...`` (read as the Jira connector reads it)."""
    value = _header(headers, "authorization")
    return value is not None and value.strip().partition(" ")[0].lower() == "bearer"
