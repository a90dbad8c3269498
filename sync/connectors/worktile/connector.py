"""Worktile connector: the current Open API with team auth, facts from
``shared/vendor-api/WORKTILE.md`` (which supersedes FACTS.md §4).

What it reads (paths under ``{base_url}{api_prefix}``, WORKTILE.md §4 and §14):

- projects: ``GET /mission/get-projects-by-page``;
- tasks: ``GET /mission/get-project-tasks-by-page?project_id=``, one project at a time;
- one task again: ``GET /mission/get-tasks-by-ids?task_ids=&fields=`` (a bare JSON array);
- members: ``GET /contact/get-members-by-page`` (display names for assignees).

Pages are ``page_index`` (0-based) / ``page_size``, ending on ``has_more: false`` or an empty
page, items under ``items`` or ``value`` (§8); a page that repeats the one before is refused.

Milestones: the Open API shows no milestone object (§7, UNVERIFIED), so **tasks whose task
type is named in the ``milestone_task_types`` option** (default ``里程碑`` and ``Milestone``)
are synced as milestones, and only as milestones: they are left out of work items and of the
work-item census. No source shows how an ordinary task points at a milestone, so work items
carry no milestone link.

Webhooks: Worktile documents no signature (§12). A delivery is authenticated by the
connection's shared secret in the ``X-Pmbridge-Token`` header or the receiver URL's ``token``
parameter (default ``webhook_auth: "token"``): that proves the sender, not the body, which is
only a hint to re-fetch. Where a relay in front of pmbridge signs the raw body,
``webhook_auth: "hmac-sha256"`` checks ``X-Pmbridge-Signature: sha256=<hex HMAC>`` instead.

Incremental sync: no updated-since filter is known (§9), so every run pages through each
project's tasks and yields only those whose ``updated_at`` reached the project's stored
watermark minus the overlap window; the watermark of a project moves only once all its pages
were read, so every page's cursor is a safe resume point. The milestone pass reads every task
too, so it keeps the work-item pages it read (bounded by ``scan_reuse_bytes``) and the
work-item pass of the same run replays them: one listing per run, not two.

Deletions are found by the census (ids per project, §10). It assumes archived tasks stay in
the task lists with ``is_archived: 1`` (UNVERIFIED, §10): were they left out, the census
would take them for deleted, and only a re-fetch by id (``get-tasks-by-ids``) could tell.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from sync.connectors.base import (
    CensusPage,
    ChangeNotice,
    ConnectionConfig,
    Cursor,
    Page,
    WebhookRequest,
    secrets_match,
    validate_items,
)
from sync.connectors.worktile import auth
from sync.connectors.worktile.payloads import (
    WorktileError,
    WorktileMember,
    WorktileProject,
    WorktileTask,
    WorktileWebhook,
)
from sync.errors import (
    AccessLost,
    ContractBroken,
    CredentialsRejected,
    InvalidRequest,
    WebhookRejected,
)
from sync.http.client import VendorClient, VendorNotFound, VendorRejected
from sync.http.pagination import PageNumberPaginator
from sync.http.rate_limit import RateLimit
from sync.model import Resource, Tool

PROJECTS = "/mission/get-projects-by-page"
TASKS = "/mission/get-project-tasks-by-page"
TASKS_BY_IDS = "/mission/get-tasks-by-ids"
MEMBERS = "/contact/get-members-by-page"

#: §7 recommendation (UNVERIFIED): task types with these names are milestones.
DEFAULT_MILESTONE_TASK_TYPES: tuple[str, ...] = ("里程碑", "Milestone")
#: Dates without a time are a day in the tenant's zone; Worktile is a Chinese SaaS and its
#: tenants' zone is not exposed by any endpoint seen (WORKTILE.md §5, UNVERIFIED).
DEFAULT_TIME_ZONE = "Asia/Shanghai"

Kind = Literal["work_item", "milestone"]
M = TypeVar("M", bound=BaseModel)


class WorktileConnector:
    tool: ClassVar[Tool] = Tool.WORKTILE
    #: §2 [doc W1, code C1/C2]: one public-cloud host for every tenant; private deployments
    #: set their own base URL per connection.
    default_base_url: ClassVar[str] = "https://dev.worktile.com"
    resources: ClassVar[frozenset[Resource]] = frozenset(
        {Resource.PROJECTS, Resource.MILESTONES, Resource.WORK_ITEMS}
    )
    # §11: no limits are documented (UNVERIFIED); C2 saw 429s at 8 concurrent requests and
    # runs 3. The per-second pace is our own conservative choice; a connection may set its own
    # with the ``rate_limit`` option.
    rate_limit: ClassVar[RateLimit] = RateLimit(
        requests=10,
        per_seconds=1.0,
        max_in_flight=3,
        source="WORKTILE.md §11: no published numbers (UNVERIFIED); C2 keeps 3 in flight",
    )
    #: §11: C2 honours Retry-After if present (nothing shows Worktile sends it); PingCode's
    #: x-pc-retry-after is the recommended second choice (UNVERIFIED for Worktile).
    retry_after_headers: ClassVar[tuple[str, ...]] = ("Retry-After", "x-pc-retry-after")
    #: §2: every path is under ``/open-api``; the same for private deployments is UNVERIFIED
    #: (option ``api_prefix``).
    api_prefix: ClassVar[str] = "/open-api"
    #: §3.1 [code C1/C2]; private-deployment variant UNVERIFIED (option ``token_path``).
    token_path: ClassVar[str] = "/tenant-access-token"  # noqa: S105 - a path
    #: §3.1 [code C2]: token refusals in an HTTP 200 body.
    token_error_codes: ClassVar[frozenset[int]] = auth.TOKEN_ERROR_CODES
    #: §8: maximum page size UNVERIFIED; 100 recommended, ``has_more`` always followed
    #: (option ``page_size``).
    page_size: ClassVar[int] = 100
    #: §8: items under ``items``, falling back to ``value`` (which one: UNVERIFIED).
    items_keys: ClassVar[tuple[str, ...]] = ("items", "value")
    #: §8 [code C2]: the "more pages" flag of the ``*-by-page`` envelope.
    more_flag: ClassVar[str] = "has_more"
    #: §4 ``fields`` of ``get-tasks-by-ids``: C1's default minus ``desc`` and ``attachment``,
    #: which list pages do not carry (§5), so a refreshed task reads like a listed one.
    task_fields: ClassVar[tuple[str, ...]] = (
        "assignee",
        "participant",
        "start",
        "due",
        "tag",
        "priority",
    )
    #: §12: Worktile documents no signature; a per-connection shared secret authenticates a
    #: delivery, sent in this header or as the receiver URL's ``token`` query parameter.
    webhook_token_header: ClassVar[str] = "X-Pmbridge-Token"  # noqa: S105 - a name
    webhook_token_param: ClassVar[str] = "token"  # noqa: S105 - a name
    #: Option ``webhook_auth: "hmac-sha256"``, for a relay in front of pmbridge that signs
    #: the raw body (Worktile itself cannot): ``X-Pmbridge-Signature: sha256=<hex>``.
    webhook_signature_header: ClassVar[str] = "X-Pmbridge-Signature"
    webhook_auth_modes: ClassVar[tuple[str, ...]] = ("token", "hmac-sha256")

    #: The milestone pass reads every task (no type filter is known, §4); it keeps the
    #: work-item pages it read, as compact JSON up to this many bytes, for the work-item pass
    #: of the same run, so a run lists each project's tasks once. Beyond it (about 80,000
    #: tasks) the work-item pass lists them again. Option ``scan_reuse_bytes`` (0: never).
    scan_reuse_bytes: ClassVar[int] = 64 * 2**20

    def __init__(self, client: VendorClient, config: ConnectionConfig) -> None:
        self.client = client
        self.config = config
        options = config.options
        self._prefix = _prefix(options.get("api_prefix", self.api_prefix))
        self._page_size = int(options.get("page_size", self.page_size))
        self._overlap = int(options.get("overlap_seconds", 300))
        self._reuse_budget = int(options.get("scan_reuse_bytes", self.scan_reuse_bytes))
        names = options.get("milestone_task_types", DEFAULT_MILESTONE_TASK_TYPES)
        self._milestone_types = frozenset(str(n).casefold() for n in names)
        self._projects: list[tuple[WorktileProject, dict[str, Any]]] | None = None
        #: Work-item pages the last milestone pass read, by project (see scan_reuse_bytes).
        self._reused: dict[str, list[bytes]] | None = None

    # -- facts and set-up ---------------------------------------------------------------
    @classmethod
    def token_settings(cls, config: ConnectionConfig) -> auth.TokenSettings:
        options = config.options
        prefix = _prefix(options.get("api_prefix", cls.api_prefix))
        path = str(options.get("token_path", cls.token_path))
        return auth.TokenSettings(
            token_url=config.base_url.rstrip("/") + prefix + path,
            error_codes=cls.token_error_codes,
        )

    @classmethod
    def auth(cls, config: ConnectionConfig) -> httpx.Auth:
        return auth.auth_for(config.credentials, cls.token_settings(config))

    @classmethod
    def check_credentials(cls, credentials: Mapping[str, str]) -> None:
        auth.check_credentials(credentials)

    async def check(self) -> None:
        await self._get(PROJECTS, {"page_index": 0, "page_size": 1})

    async def discover(self) -> dict[str, Any]:
        """Members' display names (for assignees), the tenant's zone and milestone types."""
        members: dict[str, str] = {}
        async for items in self._pages(MEMBERS, {}):
            for member in validate_items(
                WorktileMember, items, tool=self.tool, endpoint=self._endpoint(MEMBERS)
            ):
                if member.member_id and (member.display_name or member.name):
                    members[member.member_id] = member.display_name or member.name or ""
        options = self.config.options
        return {
            # Links need the tenant's web host (https://<team>.worktile.com), not the API host.
            "site_url": options.get("site_url"),
            "time_zone": options.get("time_zone", DEFAULT_TIME_ZONE),
            "milestone_task_types": list(
                options.get("milestone_task_types", DEFAULT_MILESTONE_TASK_TYPES)
            ),
            "members": members,
        }

    # -- reading --------------------------------------------------------------------------
    async def fetch(self, resource: Resource, cursor: Cursor | None) -> AsyncIterator[Page]:
        if resource is Resource.PROJECTS:
            projects = await self._scoped_projects(refresh=True)
            yield Page(items=[p for p, _ in projects], raw=[r for _, r in projects], cursor=None)
        elif resource is Resource.MILESTONES:
            async for page in self._tasks("milestone", cursor):
                yield page
        elif resource is Resource.WORK_ITEMS:
            async for page in self._tasks("work_item", cursor):
                yield page
        else:
            raise InvalidRequest(f"Worktile connector does not sync {resource}", resource=resource)

    async def _scoped_projects(
        self, *, refresh: bool = False
    ) -> list[tuple[WorktileProject, dict[str, Any]]]:
        """Projects in scope that the credentials can see: hidden ones are simply absent."""
        if self._projects is not None and not refresh:
            return self._projects
        found: list[tuple[WorktileProject, dict[str, Any]]] = []
        async for items in self._pages(PROJECTS, {}):
            projects = validate_items(
                WorktileProject, items, tool=self.tool, endpoint=self._endpoint(PROJECTS)
            )
            found.extend(zip(projects, items, strict=True))
        if self.config.scope:
            found = [(p, r) for p, r in found if _project_keys(p) & self._wanted()]
        self._projects = found
        return found

    def _wanted(self) -> set[str]:
        return {s.casefold() for s in self.config.scope}

    def kind_of(self, task: WorktileTask) -> Kind:
        name = task.task_type.name.casefold() if task.task_type else None
        return "milestone" if name in self._milestone_types else "work_item"

    async def _tasks(self, kind: Kind, cursor: Cursor | None) -> AsyncIterator[Page]:
        if kind == "milestone" and not self._milestone_types:
            return
        previous = _watermarks(cursor)
        marks = dict(previous)
        pending: Page | None = None
        endpoint = self._endpoint(TASKS)
        # The milestone pass lists every task anyway; it keeps the work-item pages for the
        # work-item pass that follows it in the same run, which then sends no request.
        reuse, self._reused = (self._reused, None) if kind == "work_item" else (None, None)
        keep = _Keep(self._reuse_budget) if kind == "milestone" and self._reuse_budget else None
        for project, _ in await self._scoped_projects():
            since = previous.get(project.id)
            threshold = None if since is None else since - self._overlap
            newest: int | None = None
            kept: list[bytes] = []
            if reuse is not None and project.id in reuse:
                pages = _replay(reuse.pop(project.id))
            else:
                pages = self._pages(TASKS, {"project_id": project.id})
            try:
                async for items in pages:
                    tasks = validate_items(WorktileTask, items, tool=self.tool, endpoint=endpoint)
                    chosen: list[WorktileTask] = []
                    raw: list[dict[str, Any]] = []
                    others: list[Any] = []
                    for task, item in zip(tasks, items, strict=True):
                        if self.kind_of(task) != kind:
                            others.append(item)
                            continue
                        if newest is None or task.updated_at > newest:
                            newest = task.updated_at
                        if threshold is None or task.updated_at >= threshold:
                            chosen.append(_in_project(task, project.id))
                            raw.append(item)
                    if keep is not None and others:
                        keep.add(kept, others)
                    if not chosen:
                        continue
                    if pending is not None:
                        yield dataclasses.replace(pending, cursor=_cursor(marks))
                    pending = Page(items=chosen, raw=raw, cursor=None, project_vendor_id=project.id)
            except (VendorNotFound, AccessLost):
                # The project vanished between listing and reading; census records it.
                continue
            if keep is not None:
                keep.finish(project.id, kept)
            # Only a project read to its end moves its watermark: a safe resume point.
            if newest is not None and (since is None or newest > since):
                marks[project.id] = newest
        if keep is not None:
            self._reused = keep.pages()
        if pending is not None:
            yield dataclasses.replace(pending, cursor=_cursor(marks))
        elif marks != previous:
            yield Page(items=[], raw=[], cursor=_cursor(marks))

    async def fetch_one(self, resource: Resource, vendor_id: str) -> Any | None:
        if resource is Resource.PROJECTS:
            for project, _ in await self._scoped_projects(refresh=True):
                if project.id == vendor_id:
                    return project
            return None
        if resource not in (Resource.WORK_ITEMS, Resource.MILESTONES):
            raise InvalidRequest(f"Worktile connector does not fetch {resource}", resource=resource)
        params = {"task_ids": vendor_id, "fields": ",".join(self.task_fields)}
        try:
            body = await self._get(TASKS_BY_IDS, params)
        except VendorNotFound:
            return None
        items = body if isinstance(body, list) else self._items(body, TASKS_BY_IDS)
        tasks = validate_items(
            WorktileTask, items, tool=self.tool, endpoint=self._endpoint(TASKS_BY_IDS)
        )
        wanted: Kind = "milestone" if resource is Resource.MILESTONES else "work_item"
        for task in tasks:
            if task.id != vendor_id or self.kind_of(task) != wanted:
                continue
            if self.config.scope and task.project_id is not None:
                visible = {p.id for p, _ in await self._scoped_projects()}
                if task.project_id not in visible:
                    return None
            return task
        return None

    async def census(self, resource: Resource) -> AsyncIterator[CensusPage]:
        if resource is not Resource.WORK_ITEMS:
            raise InvalidRequest("Worktile census covers work items", resource=resource)
        visible = await self._scoped_projects(refresh=True)
        keys: set[str] = set()
        for project, _ in visible:
            keys |= _project_keys(project)
        for wanted in self.config.scope:
            if wanted.casefold() not in keys:
                # Configured but invisible: a revoked permission must not look like deletion.
                yield CensusPage(project_vendor_id=None, ids=[], access_lost=True, scope_key=wanted)
        endpoint = self._endpoint(TASKS)
        for project, _ in visible:
            ids: list[str] = []
            try:
                async for items in self._pages(TASKS, {"project_id": project.id}):
                    tasks = validate_items(WorktileTask, items, tool=self.tool, endpoint=endpoint)
                    ids.extend(t.id for t in tasks if self.kind_of(t) == "work_item")
            except (VendorNotFound, AccessLost):
                yield CensusPage(project_vendor_id=project.id, ids=[], access_lost=True)
                continue
            # One page per project, once all of it was read: a half-read project would
            # look like deletions.
            yield CensusPage(project_vendor_id=project.id, ids=ids)

    # -- HTTP helpers ---------------------------------------------------------------------
    def _endpoint(self, path: str) -> str:
        return f"GET {self._prefix}{path}"

    async def _get(self, path: str, params: Mapping[str, Any]) -> Any:
        body = await self.client.get_json(self._prefix + path, params=params)
        self._check_envelope(body, path)
        return body

    async def _pages(self, path: str, params: Mapping[str, Any]) -> AsyncIterator[list[Any]]:
        """Each page's items; the paginator guards against a page that repeats (§8)."""
        paginator = PageNumberPaginator(
            page_size=self._page_size, items_keys=self.items_keys, more_flag=self.more_flag
        )
        async for body in self.client.paginate(self._prefix + path, paginator, params=params):
            self._check_envelope(body, path)
            yield self._items(body, path)

    def _items(self, body: Any, path: str) -> list[Any]:
        if isinstance(body, dict):
            for key in self.items_keys:
                value = body.get(key)
                if isinstance(value, list):
                    return value
        raise ContractBroken(
            f"worktile page at {self._endpoint(path)} has no item list",
            tool=self.tool,
            endpoint=self._endpoint(path),
            reason=f"expected a list under one of {', '.join(self.items_keys)}",
        )

    def _check_envelope(self, body: Any, path: str) -> None:
        """An HTTP 200 can still be a refusal: ``{"ok": false, "error_code": ...}`` (§11)."""
        if not isinstance(body, dict) or body.get("ok") is not False:
            return
        endpoint = self._endpoint(path)
        error = _model(WorktileError, body)
        code = error.error_code if error else None
        message = (error.error if error else None) or "ok: false"
        if code in self.token_error_codes:
            # The auth flow already fetched a fresh token once and was refused again.
            raise CredentialsRejected(
                f"Worktile refused a fresh access token at {endpoint}: {message}",
                tool=self.tool,
                endpoint=endpoint,
                error_code=code,
            )
        raise VendorRejected(
            f"Worktile refused the request at {endpoint}: {message} (error_code {code})",
            tool=self.tool,
            endpoint=endpoint,
            error_code=code,
        )

    # -- webhooks ----------------------------------------------------------------------------
    def verify_webhook(self, request: WebhookRequest, secret: str) -> None:
        """By default (``webhook_auth: "token"``) the connection's shared secret, from the
        ``X-Pmbridge-Token`` header or the receiver URL's ``token`` parameter: Worktile signs
        nothing (§12), so this authenticates the sender, not the body, which is only ever a
        hint to re-fetch. ``webhook_auth: "hmac-sha256"`` checks a relay's body signature."""
        mode = self.config.options.get("webhook_auth", "token")
        if mode not in self.webhook_auth_modes:
            raise InvalidRequest(
                f"option webhook_auth must be one of {', '.join(self.webhook_auth_modes)}",
                field="options.webhook_auth",
            )
        if not secret:
            raise WebhookRejected("no webhook secret is configured", tool=self.tool)
        if mode == "hmac-sha256":
            self._verify_signature(request, secret)
            return
        offered = _header(request.headers, self.webhook_token_header)
        if offered is None:
            values = parse_qs(urlsplit(request.url).query).get(self.webhook_token_param, [])
            offered = values[0] if values else None
        if not offered:
            raise WebhookRejected(
                f"missing {self.webhook_token_header} header or {self.webhook_token_param} "
                "parameter",
                tool=self.tool,
            )
        if not secrets_match(secret, offered):
            raise WebhookRejected("the webhook token does not match", tool=self.tool)

    def _verify_signature(self, request: WebhookRequest, secret: str) -> None:
        header = _header(request.headers, self.webhook_signature_header) or ""
        method, _, received = header.partition("=")
        if method.strip().lower() != "sha256" or not received:
            raise WebhookRejected(
                f"missing {self.webhook_signature_header}: sha256=<hex> header", tool=self.tool
            )
        expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        if not secrets_match(expected, received.strip().lower()):
            raise WebhookRejected(
                f"{self.webhook_signature_header} does not match the body", tool=self.tool
            )

    def delivery_id(self, request: WebhookRequest) -> str:
        """Worktile gives deliveries no id (§12): the body's digest de-duplicates them."""
        return hashlib.sha256(request.body).hexdigest()

    def parse_webhook(self, request: WebhookRequest) -> list[ChangeNotice]:
        """A hint naming a task, to be re-fetched; event names are UNVERIFIED (§12), so any
        event naming a task counts and none is read as a deletion (the re-fetch tells)."""
        try:
            hook = WorktileWebhook.model_validate(json.loads(request.body))
        except (ValueError, ValidationError) as error:
            raise ContractBroken(
                "Worktile webhook body is not an {event, payload} delivery",
                tool=self.tool,
                endpoint="webhook",
                reason=str(error).splitlines()[0],
            ) from None
        payload = hook.payload
        task_id = payload.task.id if payload.task is not None else payload.id
        if not task_id:
            return []
        task_type = payload.task.type if payload.task is not None else payload.type
        name = (task_type.name or "").casefold() if task_type is not None else ""
        resource = Resource.MILESTONES if name in self._milestone_types else Resource.WORK_ITEMS
        return [ChangeNotice(resource, task_id)]


class _Keep:
    """Work-item pages a milestone pass read, as compact JSON, while they fit the budget."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._size = 0
        self._pages: dict[str, list[bytes]] | None = {}

    def add(self, kept: list[bytes], items: list[Any]) -> None:
        if self._pages is None:
            return
        blob = orjson.dumps(items)
        self._size += len(blob)
        if self._size > self._budget:
            self._pages = None  # too big to keep: the work-item pass lists them again
            kept.clear()
            return
        kept.append(blob)

    def finish(self, project_id: str, kept: list[bytes]) -> None:
        """A project read to its end; a project that failed is listed again, not kept."""
        if self._pages is not None:
            self._pages[project_id] = kept

    def pages(self) -> dict[str, list[bytes]] | None:
        return self._pages


async def _replay(blobs: list[bytes]) -> AsyncIterator[list[Any]]:
    for blob in blobs:
        items: list[Any] = orjson.loads(blob)
        yield items


def _prefix(value: Any) -> str:
    text = str(value).strip().rstrip("/")
    return "" if not text else "/" + text.lstrip("/")


def _project_keys(project: WorktileProject) -> set[str]:
    keys = {project.id.casefold()}
    if project.identifier:
        keys.add(project.identifier.casefold())
    return keys


def _in_project(task: WorktileTask, project_id: str) -> WorktileTask:
    """A listed task always belongs to the project it was listed under."""
    if task.project_id is not None:
        return task
    return task.model_copy(update={"project_id": project_id})


def _watermarks(cursor: Cursor | None) -> dict[str, int]:
    """``{"updated_at": {project_id: epoch seconds}}``: each project's newest task seen."""
    if not cursor:
        return {}
    marks = cursor.get("updated_at")
    if not isinstance(marks, dict):
        return {}
    return {str(k): int(v) for k, v in marks.items() if isinstance(v, int | float)}


def _cursor(marks: Mapping[str, int]) -> Cursor:
    return {"updated_at": dict(sorted(marks.items()))}


def _model(model: type[M], body: Any) -> M | None:
    try:
        return model.model_validate(body)
    except ValidationError:
        return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None
