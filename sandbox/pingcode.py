"""A PingCode Open API simulator, as an ASGI app.

It serves the slice of the API a sync client uses, as ``shared/vendor-api/FACTS.md`` §5
documents it:

- ``GET /v1/auth/token?grant_type=client_credentials&client_id=…&client_secret=…`` answers
  ``{"access_token", "token_type": "Bearer", "expires_in"}``; the token lives 30 days on the
  simulator's clock, then answers 401. Resetting the app secret invalidates issued tokens.
- Every other request needs ``authorization: Bearer <token>``.
- Lists answer ``{"page_index", "page_size", "total", "values"}``, ``page_index`` 0-based,
  ``page_size`` 30 by default and at most 100.
- Times are 10-digit epoch seconds; ``*_between`` filters take ``<from>,<to>`` with either
  side open (``<from>`` alone means "from").
- Work items: ``project_ids`` (at most 20), ``type_ids``, ``state_ids``, ``updated_between``,
  ``created_between``, ``identifier``, ``keywords``, ``include_deleted``, ``include_archived``.
  Deleted items are soft-deleted (``is_deleted: 1``) and only listed with ``include_deleted``.
- Single resources answer HTTP **201** (sic); errors ``{"code": "100000", "message": …}``.
- Over budget (``fail_next(429)`` or ``rate_limit=``): HTTP 429, ``x-pc-retry-after``, body
  ``{"code": "100038", "message": "请求频率过高"}``.

Choices where FACTS.md is silent (each a constructor argument): list order is by id (creation
order); ``page_size`` above 100 is capped rather than refused; a soft delete moves
``updated_at`` (``delete_touches_updated_at``); a deleted item's single GET answers 404
(``deleted_single="not_found"``, or ``"flagged"``: 201 with ``is_deleted: 1``); error codes
other than ``100038`` are the generic ``100000``. Webhooks are not an API: :meth:`delivery`
builds what a Flow "send webhook" action configured from pmbridge's template would send.

Endpoints::

    GET /v1/auth/token
    GET /v1/project/projects                       (list)
    GET /v1/project/projects/{project_id}          (201)
    GET /v1/project/projects/{project_id}/versions (list)
    GET /v1/project/work_items                     (list)
    GET /v1/project/work_items/{work_item_id}      (201)
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import math
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.contract import Delivery
from sandbox.pingcode_data import (
    PRIORITIES,
    STATES,
    TAGS,
    Phase,
    Project,
    User,
    Version,
    WorkItem,
    epoch_seconds,
    generate_dataset,
)
from sandbox.server import AsgiEntry, Failure, FailureQueue, run_on_loopback

__all__ = ["PingCodeHandle", "PingCodeSimulator", "serve"]

#: The simulator's default "now": fixed, so every run sees the same data and the same clock.
DEFAULT_NOW: Final = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
#: FACTS.md §5.1: an enterprise token is valid for 30 days.
TOKEN_LIFETIME: Final = timedelta(days=30)
DEFAULT_PAGE_SIZE: Final = 30
MAX_PAGE_SIZE: Final = 100
MAX_PROJECT_IDS: Final = 20
RATE_LIMIT_CODE: Final = "100038"
RATE_LIMIT_MESSAGE: Final = "请求频率过高"
GENERIC_CODE: Final = "100000"
_CACHE_SIZE: Final = 32
_JSON: Final = "application/json; charset=utf-8"

Json = dict[str, Any]


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str = GENERIC_CODE) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text.encode(), status_code=status, headers=headers, media_type=_JSON)


def _error(status: int, message: str, code: str = GENERIC_CODE) -> Response:
    return _json({"code": code, "message": message}, status)


@dataclass(frozen=True, slots=True)
class _Token:
    client_id: str
    secret_generation: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    path: str
    params: tuple[tuple[str, str], ...]

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None


class PingCodeSimulator:
    """An in-memory PingCode enterprise with a seeded quotation-tool release plan.

    ``app`` is the ASGI application. State is readable: ``projects`` (by identifier, hidden
    ones included), ``versions`` and ``items`` (by id; soft-deleted items stay, flagged),
    ``users``, ``phases``. Mutations move ``updated_at`` to :meth:`clock`.
    """

    def __init__(
        self,
        *,
        items: int = 300,
        seed: int = 7,
        client_id: str = "pmbridge-demo",
        client_secret: str = "demo-secret",  # noqa: S107 - the public demo credential
        now: datetime | None = None,
        expires_in: str = "seconds",
        delete_touches_updated_at: bool = True,
        deleted_single: str = "not_found",
        retry_after_header: str = "x-pc-retry-after",
        rate_limit: tuple[int, float] | None = None,
    ) -> None:
        if now is not None and now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if expires_in not in ("seconds", "epoch"):
            raise ValueError("expires_in is 'seconds' or 'epoch'")
        if deleted_single not in ("not_found", "flagged"):
            raise ValueError("deleted_single is 'not_found' or 'flagged'")
        self._now = (now or DEFAULT_NOW).astimezone(UTC)
        self.client_id = client_id
        self._secret = client_secret
        self._secret_generation = 0
        self.expires_in = expires_in
        self.delete_touches_updated_at = delete_touches_updated_at
        self.deleted_single = deleted_single
        self.retry_after_header = retry_after_header
        self.rate_limit = rate_limit
        data = generate_dataset(items=items, seed=seed, now=self._now)
        self._seed = seed
        self.users: list[User] = data.users
        #: Projects by identifier (``QT``), hidden ones included.
        self.projects: dict[str, Project] = {p.identifier: p for p in data.projects}
        self._projects_by_id: dict[str, Project] = {p.id: p for p in data.projects}
        self.phases: dict[str, Phase] = {p.id: p for p in data.phases}
        self.versions: dict[str, Version] = {v.id: v for v in data.versions}
        #: Work items by id, in id order; soft-deleted ones stay with ``is_deleted`` set.
        self.items: dict[str, WorkItem] = {i.id: i for i in data.items}
        self._tokens: dict[str, _Token] = {}
        self._failures = FailureQueue()
        self._corrupt_next = False
        self._generation = 0
        self._cache: OrderedDict[tuple[Any, ...], tuple[int, list[WorkItem]]] = OrderedDict()
        self._windows: dict[str, deque[datetime]] = {}
        self._requests = 0
        self.token_requests = 0
        #: The latest API requests (token requests excluded): path and query, for assertions.
        self.request_log: deque[LoggedRequest] = deque(maxlen=10_000)

        v1 = "/v1"
        router = Starlette(
            routes=[
                Route(f"{v1}/auth/token", self._token, methods=["GET"]),
                Route(f"{v1}/project/projects", self._project_list, methods=["GET"]),
                Route(f"{v1}/project/projects/{{project_id}}", self._project_get, methods=["GET"]),
                Route(
                    f"{v1}/project/projects/{{project_id}}/versions",
                    self._version_list,
                    methods=["GET"],
                ),
                Route(f"{v1}/project/work_items", self._item_list, methods=["GET"]),
                Route(f"{v1}/project/work_items/{{item_id}}", self._item_get, methods=["GET"]),
            ],
            exception_handlers={ApiError: self._on_error, HTTPException: self._on_error},
        )
        router.router.redirect_slashes = False
        self._router: ASGIApp = router
        self.app: ASGIApp = AsgiEntry(self._handle)

    # -- clock ---------------------------------------------------------------------------

    def clock(self) -> datetime:
        return self._now

    def set_clock(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._now = now.astimezone(UTC)

    def advance(self, seconds: float) -> None:
        self.set_clock(self._now + timedelta(seconds=seconds))

    def _now_s(self) -> int:
        return epoch_seconds(self._now)

    # -- mutations -----------------------------------------------------------------------

    def update_item(
        self,
        item_id: str,
        *,
        title: str | None = None,
        state: str | None = None,
        assignee: str | None = None,
        story_points: float | None = None,
        end_at: date | None = None,
    ) -> None:
        """Change an item as a user would; None leaves a field alone. ``state`` is a state
        name; ``assignee`` a login name, ``""`` unassigns. Entering a completed state sets
        ``completed_at``; leaving it clears it."""
        item = self._live_item(item_id)
        now = self._now_s()
        if title is not None:
            item.title = title
        if state is not None:
            new_state = STATES[state]
            if new_state.type == "completed" and item.state.type != "completed":
                item.completed_at = now
            elif new_state.type != "completed":
                item.completed_at = None
            item.state = new_state
        if assignee is not None:
            item.assignee = self._user(assignee) if assignee else None
        if story_points is not None:
            item.story_points = float(story_points)
        if end_at is not None:
            item.end_at = epoch_seconds(datetime.combine(end_at, time(16, 0), UTC))
        item.updated_at = now
        self._touch()

    def add_item(
        self,
        project: str,
        *,
        title: str,
        type: str = "task",
        state: str = "新建",
    ) -> str:
        """Create a work item in a project (by identifier); returns its id."""
        owner = self.projects[project]
        now = self._now_s()
        counter = len(self.items) + 1
        item_id = f"{now & 0xFFFFFFFF:08x}{counter:016x}"
        item = WorkItem(
            id=item_id,
            project_id=owner.id,
            number=owner.next_number,
            identifier=f"{owner.identifier}-{owner.next_number}",
            type=type,
            title=title,
            state=STATES[state],
            priority=None,
            assignee=None,
            parent_id=None,
            version_id=None,
            phase_id=None,
            start_at=None,
            end_at=None,
            completed_at=now if STATES[state].type == "completed" else None,
            created_at=now,
            updated_at=now,
            story_points=None,
            tags=(),
        )
        owner.next_number += 1
        self.items[item_id] = item
        self._touch()
        return item_id

    def archive_item(self, item_id: str) -> None:
        item = self._live_item(item_id)
        item.is_archived = True
        item.updated_at = self._now_s()
        self._touch()

    def delete_item(self, item_id: str) -> None:
        """Soft delete: listed again only with ``include_deleted=true``, as ``is_deleted: 1``.
        Whether PingCode moves ``updated_at`` then is UNVERIFIED (FACTS.md §5.3): see
        ``delete_touches_updated_at``."""
        item = self._live_item(item_id)
        item.is_deleted = True
        if self.delete_touches_updated_at:
            item.updated_at = self._now_s()
        self._touch()

    def hide_project(self, identifier: str) -> None:
        """Take a project out of the app's data scope: gone from every answer."""
        self.projects[identifier].hidden = True
        self._touch()

    def archive_project(self, identifier: str) -> None:
        project = self.projects[identifier]
        project.is_archived = True
        project.updated_at = self._now_s()
        self._touch()

    def publish_version(self, version_id: str) -> None:
        version = self.versions[version_id]
        version.status = "published"
        version.updated_at = self._now_s()
        self._touch()

    def reset_secret(self, new_secret: str) -> None:
        """Reset the app's secret: every token issued so far stops working (FACTS.md §5.1)."""
        self._secret = new_secret
        self._secret_generation += 1

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        retry_after: str | None = None,
        body: str | dict[str, Any] | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status``, before auth.

        429s carry ``x-pc-retry-after`` (``retry_after``, default 60) and code ``100038``;
        a str ``body`` is sent as text/plain, a dict as JSON.
        """
        self._failures.add(
            status, count=count, retry_after=retry_after, body=body, path_contains=path_contains
        )

    def corrupt_next_page(self) -> None:
        """The next non-empty work-item page carries ``state`` as a bare string."""
        self._corrupt_next = True

    # -- observation -----------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        """HTTP requests served, token requests, failures and 401s included."""
        return self._requests

    def visible_items(self) -> list[WorkItem]:
        """Live (not deleted) items of visible projects, milestone items included."""
        hidden = self._hidden_ids()
        return [i for i in self.items.values() if not i.is_deleted and i.project_id not in hidden]

    def work_item_ids(self) -> list[str]:
        """Ids pmbridge stores as work items: visible, live, not of the milestone type."""
        return [i.id for i in self.visible_items() if i.type != "milestone"]

    def milestone_item_ids(self) -> list[str]:
        return [i.id for i in self.visible_items() if i.type == "milestone"]

    def project(self, identifier: str) -> Project:
        return self.projects[identifier]

    def delivery(
        self,
        item_id: str,
        *,
        secret: str,
        url: str = "",
        event: str = "work_item.updated",
        mode: str = "token",
        header: str = "X-Pmbridge-Token",
    ) -> Delivery:
        """What a Flow "send webhook" action built from pmbridge's default template sends.

        ``mode="token"``: the shared secret in ``header`` (PingCode signs nothing, FACTS.md
        §5.5); ``"query"``: nothing in the headers (the secret is in ``url``'s ``token``);
        ``"hmac-sha256"``: ``X-Pmbridge-Signature: sha256=<hex>`` over the body, as a signing
        relay in front of pmbridge would add.
        """
        item = self.items[item_id]
        body = json.dumps(
            {
                "event": event,
                "work_item": {"id": item.id, "identifier": item.identifier, "title": item.title},
                "triggered_at": self._now_s(),
            },
            ensure_ascii=False,
        ).encode()
        headers = {"Content-Type": "application/json"}
        if mode == "token":
            headers[header] = secret
        elif mode == "hmac-sha256":
            digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Pmbridge-Signature"] = f"sha256={digest}"
        elif mode != "query":
            raise ValueError("mode is 'token', 'query' or 'hmac-sha256'")
        return Delivery(body=body, headers=headers)

    # -- lookups -------------------------------------------------------------------------

    def _touch(self) -> None:
        self._generation += 1

    def _hidden_ids(self) -> frozenset[str]:
        return frozenset(p.id for p in self.projects.values() if p.hidden)

    def _live_item(self, item_id: str) -> WorkItem:
        item = self.items.get(item_id)
        if item is None or item.is_deleted:
            raise KeyError(f"no live work item {item_id!r}")
        return item

    def _user(self, login: str) -> User:
        for user in self.users:
            if user.name == login:
                return user
        raise ValueError(f"no user {login!r}; known: {sorted(u.name for u in self.users)}")

    def _visible_project(self, project_id: str) -> Project:
        project = self._projects_by_id.get(project_id)
        if project is None or project.hidden:
            raise ApiError(404, f"项目不存在 (project {project_id} not found)")
        return project

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
        if path == "/v1/auth/token":
            self.token_requests += 1
            await self._router(scope, receive, send)
            return
        token = self._bearer(scope)
        if token is None:
            await _error(401, "access_token 无效或已过期 (invalid or expired token)")(
                scope, receive, send
            )
            return
        limited = self._over_budget(token.client_id)
        if limited is not None:
            await limited(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode()
        self.request_log.append(LoggedRequest(path, tuple(parse_qsl(query))))
        await self._router(scope, receive, send)

    def _bearer(self, scope: Scope) -> _Token | None:
        header = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value
                break
        scheme, _, credentials = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = self._tokens.get(credentials.strip())
        if token is None or token.secret_generation != self._secret_generation:
            return None
        if self._now >= token.expires_at:
            return None
        return token

    def _over_budget(self, identity: str) -> Response | None:
        """FACTS.md §5.4: at most N requests per minute per identity (off unless configured)."""
        if self.rate_limit is None:
            return None
        limit, window = self.rate_limit
        starts = self._windows.setdefault(identity, deque())
        while starts and (self._now - starts[0]).total_seconds() >= window:
            starts.popleft()
        if len(starts) >= limit:
            wait = window - (self._now - starts[0]).total_seconds()
            return self._rate_limited(str(max(1, math.ceil(wait))))
        starts.append(self._now)
        return None

    def _rate_limited(self, retry_after: str) -> Response:
        return _json(
            {"code": RATE_LIMIT_CODE, "message": RATE_LIMIT_MESSAGE},
            429,
            {self.retry_after_header: retry_after},
        )

    def _failure_response(self, failure: Failure) -> Response:
        if failure.status == 429 and failure.body is None:
            return self._rate_limited(failure.retry_after or "60")
        headers: dict[str, str] = {}
        if failure.retry_after is not None:
            headers[self.retry_after_header if failure.status == 429 else "Retry-After"] = (
                failure.retry_after
            )
        if isinstance(failure.body, str):
            return Response(failure.body, failure.status, headers, media_type="text/plain")
        if isinstance(failure.body, dict):
            return _json(failure.body, failure.status, headers)
        return _json({"code": GENERIC_CODE, "message": "服务暂不可用"}, failure.status, headers)

    async def _on_error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, ApiError):
            return _error(exc.status, exc.message, exc.code)
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")

    # -- endpoints: auth -------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        params = request.query_params
        if params.get("grant_type") != "client_credentials":
            raise ApiError(400, "unsupported grant_type")
        client_id = params.get("client_id") or ""
        secret = params.get("client_secret") or ""
        if not (
            hmac.compare_digest(client_id.encode(), self.client_id.encode())
            and hmac.compare_digest(secret.encode(), self._secret.encode())
        ):
            raise ApiError(401, "client_id 或 client_secret 无效 (invalid client credentials)")
        expires_at = self._now + TOKEN_LIFETIME
        serial = len(self._tokens) + 1
        material = f"{self._seed}:{serial}:{self._secret_generation}:{client_id}".encode()
        access_token = hashlib.sha256(material).hexdigest()
        self._tokens[access_token] = _Token(client_id, self._secret_generation, expires_at)
        expires_in = (
            int(TOKEN_LIFETIME.total_seconds())
            if self.expires_in == "seconds"
            else epoch_seconds(expires_at)
        )
        return _json(
            {"access_token": access_token, "token_type": "Bearer", "expires_in": expires_in}
        )

    # -- endpoints: projects and versions --------------------------------------------------

    async def _project_list(self, request: Request) -> Response:
        index, size = _paging(request)
        projects = [p for p in self.projects.values() if not p.hidden]
        projects.sort(key=lambda p: p.id)
        return _json(_envelope(index, size, [self._project(p) for p in projects]))

    async def _project_get(self, request: Request) -> Response:
        project = self._visible_project(request.path_params["project_id"])
        return _json(self._project(project), 201)

    async def _version_list(self, request: Request) -> Response:
        project = self._visible_project(request.path_params["project_id"])
        index, size = _paging(request)
        params = request.query_params
        versions = [v for v in self.versions.values() if v.project_id == project.id]
        statuses = _csv(params.get("status"))
        if statuses:
            versions = [v for v in versions if v.status in statuses]
        name = params.get("name")
        if name:
            versions = [v for v in versions if name.lower() in v.name.lower()]
        updated = _between(params.get("updated_between"), "updated_between")
        if updated is not None:
            versions = [v for v in versions if _within(v.updated_at, updated)]
        versions.sort(key=lambda v: v.id)
        return _json(_envelope(index, size, [self._version(v) for v in versions]))

    # -- endpoints: work items -------------------------------------------------------------

    async def _item_list(self, request: Request) -> Response:
        index, size = _paging(request)
        matches = self._matching(request)
        page = matches[index * size : (index + 1) * size]
        base = str(request.base_url).rstrip("/")
        values = [self._item(i, base) for i in page]
        if self._corrupt_next and values:
            self._corrupt_next = False
            values[0]["state"] = page[0].state.name
        return _json(
            {"page_index": index, "page_size": size, "total": len(matches), "values": values}
        )

    async def _item_get(self, request: Request) -> Response:
        item = self.items.get(request.path_params["item_id"])
        hidden = self._hidden_ids()
        if (
            item is None
            or item.project_id in hidden
            or (item.is_deleted and self.deleted_single == "not_found")
        ):
            raise ApiError(404, "工作项不存在 (work item not found)")
        return _json(self._item(item, str(request.base_url).rstrip("/")), 201)

    def _matching(self, request: Request) -> list[WorkItem]:
        params = request.query_params
        project_ids = _csv(params.get("project_ids"))
        if len(project_ids) > MAX_PROJECT_IDS:
            raise ApiError(400, f"project_ids 最多 {MAX_PROJECT_IDS} 个 (at most 20 project ids)")
        key = (
            frozenset(project_ids),
            frozenset(_csv(params.get("type_ids"))),
            frozenset(_csv(params.get("state_ids"))),
            _between(params.get("updated_between"), "updated_between"),
            _between(params.get("created_between"), "created_between"),
            params.get("identifier") or None,
            (params.get("keywords") or "").lower() or None,
            _flag(params.get("include_deleted")),
            _flag(params.get("include_archived")),
        )
        cached = self._cache.get(key)
        if cached is not None and cached[0] == self._generation:
            self._cache.move_to_end(key)
            return cached[1]
        types, states, updated, created = key[1], key[2], key[3], key[4]
        identifier, keywords, with_deleted, with_archived = key[5], key[6], key[7], key[8]
        hidden = self._hidden_ids()
        matches: list[WorkItem] = []
        for item in self.items.values():
            if item.project_id in hidden or (project_ids and item.project_id not in project_ids):
                continue
            if (item.is_deleted and not with_deleted) or (item.is_archived and not with_archived):
                continue
            if (types and item.type not in types) or (states and item.state.id not in states):
                continue
            if updated is not None and not _within(item.updated_at, updated):
                continue
            if created is not None and not _within(item.created_at, created):
                continue
            if identifier is not None and item.identifier != identifier:
                continue
            if keywords is not None and keywords not in item.title.lower():
                continue
            matches.append(item)
        self._cache[key] = (self._generation, matches)
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return matches

    # -- rendering -------------------------------------------------------------------------

    def _project(self, project: Project) -> Json:
        return {
            "id": project.id,
            "identifier": project.identifier,
            "name": project.name,
            "type": project.type,
            "description": project.description,
            "visibility": "private",
            "created_at": project.created_at,
            "updated_at": project.updated_at,
            "is_archived": int(project.is_archived),
            "is_deleted": 0,
        }

    def _version(self, version: Version) -> Json:
        return {
            "id": version.id,
            "name": version.name,
            "status": version.status,
            "description": version.description,
            "start_at": version.start_at,
            "end_at": version.end_at,
            "created_at": version.created_at,
            "updated_at": version.updated_at,
        }

    def _item(self, item: WorkItem, base: str) -> Json:
        project = self._projects_by_id[item.project_id]
        parent = self.items.get(item.parent_id) if item.parent_id else None
        version = self.versions.get(item.version_id) if item.version_id else None
        phase = self.phases.get(item.phase_id) if item.phase_id else None
        user = item.assignee
        return {
            "id": item.id,
            "url": f"{base}/v1/project/work_items/{item.id}",
            "project": {
                "id": project.id,
                "identifier": project.identifier,
                "name": project.name,
                "type": project.type,
            },
            "identifier": item.identifier,
            "title": item.title,
            "type": item.type,
            "start_at": item.start_at,
            "end_at": item.end_at,
            "parent_id": item.parent_id,
            "parent": None
            if parent is None
            else {"id": parent.id, "identifier": parent.identifier, "title": parent.title},
            "assignee": None
            if user is None
            else {"id": user.id, "name": user.name, "display_name": user.display_name},
            "state": {
                "id": item.state.id,
                "name": item.state.name,
                "type": item.state.type,
                "color": item.state.color,
            },
            "priority": None
            if item.priority is None
            else {"id": item.priority, "name": PRIORITIES[item.priority]},
            "version": None if version is None else {"id": version.id, "name": version.name},
            "sprint": None,
            "phase": None if phase is None else {"id": phase.id, "name": phase.name},
            "story_points": item.story_points,
            "tags": [{"id": t, "name": TAGS[t]} for t in item.tags],
            "properties": {},
            "created_at": item.created_at,
            "updated_at": item.updated_at,
            "completed_at": item.completed_at,
            "is_archived": int(item.is_archived),
            "is_deleted": int(item.is_deleted),
        }


# --------------------------------------------------------------------------------------------
# Request helpers
# --------------------------------------------------------------------------------------------


def _paging(request: Request) -> tuple[int, int]:
    params = request.query_params
    index = _int(params.get("page_index"), "page_index", 0)
    size = _int(params.get("page_size"), "page_size", DEFAULT_PAGE_SIZE)
    if size < 1:
        raise ApiError(400, "page_size 必须大于 0 (page_size must be positive)")
    return index, min(size, MAX_PAGE_SIZE)


def _int(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"{name} 必须是整数 ({name} must be an integer)") from None
    if number < 0:
        raise ApiError(400, f"{name} 不能为负数 ({name} must not be negative)")
    return number


def _csv(value: str | None) -> set[str]:
    return {v.strip() for v in (value or "").split(",") if v.strip()}


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1")


def _between(value: str | None, name: str) -> tuple[int | None, int | None] | None:
    """``a,b`` / ``a,`` / ``,b`` / ``a`` (FACTS.md §5.3): inclusive epoch-second bounds."""
    if value is None or value.strip() in ("", ","):
        return None
    low, comma, high = value.partition(",")
    try:
        start = int(low) if low.strip() else None
        end = int(high) if comma and high.strip() else None
    except ValueError:
        raise ApiError(400, f"{name} 格式错误 ({name} takes <from>,<to> epoch seconds)") from None
    return start, end


def _within(moment: int, bounds: tuple[int | None, int | None]) -> bool:
    start, end = bounds
    return (start is None or moment >= start) and (end is None or moment <= end)


def _envelope(index: int, size: int, values: list[Json]) -> Json:
    return {
        "page_index": index,
        "page_size": size,
        "total": len(values),
        "values": values[index * size : (index + 1) * size],
    }


# --------------------------------------------------------------------------------------------
# The vendor-neutral handle (sandbox.contract.Simulator)
# --------------------------------------------------------------------------------------------


class PingCodeHandle:
    """The simulator behind :class:`sandbox.contract.Simulator`.

    PingCode signs no webhook (FACTS.md §5.5): deliveries carry the connection's shared
    token, so ``signs_body`` is false and the contract suite checks the sender, not the body.
    """

    def __init__(self, *, items: int = 120, seed: int = 7) -> None:
        self.vendor = PingCodeSimulator(items=items, seed=seed)
        self.app: Any = self.vendor.app
        self.credentials: Mapping[str, str] = {
            "client_id": self.vendor.client_id,
            "client_secret": "demo-secret",
        }
        self.scope: tuple[str, ...] = ()
        self.options: Mapping[str, Any] = {}
        self.signs_body = False

    def work_item_ids(self) -> list[str]:
        return self.vendor.work_item_ids()

    def touch_item(self, vendor_id: str, *, title: str) -> None:
        self.vendor.advance(timedelta(minutes=5).total_seconds())
        self.vendor.update_item(vendor_id, title=title)

    def delete_item(self, vendor_id: str) -> None:
        self.vendor.delete_item(vendor_id)

    def delivery(self, vendor_id: str, *, secret: str, url: str) -> Delivery:
        return self.vendor.delivery(vendor_id, secret=secret, url=url, mode="token")


# --------------------------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------------------------


def serve(host: str = "127.0.0.1", port: int = 8105, items: int = 5000, seed: int = 7) -> None:
    run_on_loopback("PingCode", lambda: PingCodeSimulator(items=items, seed=seed).app, host, port)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the PingCode simulator on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8105)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(
        f"PingCode simulator on http://{args.host}:{args.port} "
        "(client_id pmbridge-demo, client_secret demo-secret)"
    )
    serve(args.host, args.port, args.items, args.seed)


if __name__ == "__main__":
    main()
