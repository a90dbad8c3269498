"""Asana connector: REST API 1.0, facts from ``shared/vendor-api/FACTS.md`` §3.

Scope is a workspace (option ``workspace``: gid or name; needed when the connection names no
projects and the token sees several workspaces) and project gids (empty: every project of the
workspace, archived ones included so that archiving is not mistaken for lost access).

Reading, per project, in a stable project order:

- Tasks come from ``GET /projects/{gid}/tasks`` on a full sync and from
  ``GET /tasks?project=&modified_since=`` (the previous listing's start minus the overlap
  window) on an incremental one, 100 a page with ``offset`` tokens, with an explicit
  ``opt_fields`` list of fields the spec enumerates for those endpoints.
- Subtasks usually belong to no project and their changes do not touch the parent's
  ``modified_at`` (§3.3), so they are read through ``GET /tasks/{gid}/subtasks`` for every
  parent whose ``num_subtasks`` is positive: all of them on a full sync; on an incremental one,
  the parents that changed plus a rotating batch of the parents remembered in the cursor
  (option ``subtask_sweep_limit``, default 25 a project a run).
- Milestones are tasks whose ``resource_subtype`` is ``milestone``. They are **not** work
  items: the work-item pages skip them (and name them in ``deleted_ids``, so a task turned into
  a milestone stops counting as work); the milestone resource lists them on its own pass (the
  free API has no filter on ``resource_subtype``, so that pass reads the task list again with a
  lean ``opt_fields``).
- A task in several projects is synced once, under its first in-scope membership; subtasks
  under their parent's project. That project, and the assignee's e-mail (which only the user
  endpoints enumerate), are added to each task under the key ``pmbridge``.

The cursor is per project: ``{"projects": {gid: {"since": iso, "parents": [[gid, home]]}}}``.
A project's entry moves only once the project has been read to the end, because a task list is
in the project's own order, not by time: a page in the middle is no safe point to resume.

The Events API (sync tokens, 412 to re-crawl) is not used: polling with ``modified_since`` plus
the census covers changes and deletions, and webhooks are at-most-once anyway (§3.3, §3.5).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from sync.connectors.asana import auth
from sync.connectors.asana.payloads import (
    AsanaMe,
    AsanaProject,
    AsanaTask,
    AsanaTaskContext,
    AsanaTaskId,
    AsanaUser,
    AsanaWebhookBody,
)
from sync.connectors.base import (
    CensusPage,
    ChangeNotice,
    ConnectionConfig,
    Cursor,
    Page,
    RegisteredWebhook,
    WebhookRequest,
    secrets_match,
    validate_items,
)
from sync.errors import AccessLost, ContractBroken, InvalidRequest, WebhookRejected
from sync.http.client import VendorClient, VendorNotFound
from sync.http.pagination import TokenPaginator
from sync.http.rate_limit import RateLimit
from sync.model import Resource, Tool

M = TypeVar("M", bound=BaseModel)

#: Where webhooks are registered, under the base URL (FACTS.md §3.5).
WEBHOOKS = "/webhooks"

#: Task fields we ask for; every one is in the spec's ``opt_fields`` enum for
#: ``/tasks``, ``/projects/{gid}/tasks``, ``/tasks/{gid}`` and ``/tasks/{gid}/subtasks``
#: (gids of nested objects always come back). ``assignee.email`` is not in that enum, so
#: e-mails come from ``GET /users/{gid}``.
TASK_OPT_FIELDS = (
    "name",
    "resource_subtype",
    "completed",
    "completed_at",
    "created_at",
    "modified_at",
    "due_on",
    "due_at",
    "start_on",
    "assignee",
    "assignee.name",
    "memberships.project",
    "memberships.section.name",
    "parent",
    "num_subtasks",
    "tags.name",
    "custom_fields.name",
    "custom_fields.type",
    "custom_fields.number_value",
    "custom_fields.display_value",
    "custom_fields.enum_value.name",
    "permalink_url",
)
#: What the milestone pass needs of every task it reads.
MILESTONE_OPT_FIELDS = (
    "name",
    "resource_subtype",
    "completed",
    "completed_at",
    "modified_at",
    "due_on",
    "due_at",
    "memberships.project",
    "permalink_url",
)
CENSUS_OPT_FIELDS = ("resource_subtype", "num_subtasks")
#: Enough of a parent to find the project a subtask belongs to.
PARENT_OPT_FIELDS = ("name", "modified_at", "memberships.project", "parent")
PROJECT_OPT_FIELDS = ("name", "archived", "permalink_url", "workspace")
ME_OPT_FIELDS = ("name", "email", "workspaces.name")
USER_OPT_FIELDS = ("name", "email")

SITE_URL = "https://app.asana.com"
MILESTONE = "milestone"


@dataclass(slots=True)
class _Listing:
    """One project's task list being read: its pages, and what the cursor learns from them."""

    #: The server's ``Date`` on the first page: everything changed since then is caught by the
    #: next ``modified_since``. None when the vendor sent no ``Date``.
    started: datetime | None = None
    #: The newest ``modified_at`` seen (the fallback watermark).
    newest: datetime | None = None


@dataclass(slots=True)
class _Chunk:
    items: list[AsanaTask] = field(default_factory=list)
    raw: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


#: A per-project reader: yields chunks and leaves the project's next cursor entry in the dict.
ProjectReader = Callable[
    [AsanaProject, dict[str, Any] | None, dict[str, Any]], AsyncIterator[_Chunk]
]


class AsanaConnector:
    tool: ClassVar[Tool] = Tool.ASANA
    default_base_url: ClassVar[str] = "https://app.asana.com/api/1.0"
    resources: ClassVar[frozenset[Resource]] = frozenset(
        {Resource.PROJECTS, Resource.MILESTONES, Resource.WORK_ITEMS}
    )
    # The free plan's quota; a paid account sets the connection option
    # rate_limit = {"requests": 1500, "per_seconds": 60}. GETs in flight are capped at 50.
    rate_limit: ClassVar[RateLimit] = RateLimit(
        requests=150,
        per_seconds=60.0,
        max_in_flight=50,
        source="FACTS.md §3.4 (150/min per token on free plans, 1,500 on paid; 50 GETs in flight)",
    )
    retry_after_headers: ClassVar[tuple[str, ...]] = ("Retry-After",)
    #: ``limit`` must be 1-100 (FACTS.md §3.2).
    page_size: ClassVar[int] = 100
    #: Remembered parents whose subtasks an incremental run re-reads, per project.
    subtask_sweep_limit: ClassVar[int] = 25
    census_chunk: ClassVar[int] = 1000

    def __init__(self, client: VendorClient, config: ConnectionConfig) -> None:
        self.client = client
        self.config = config
        self._me: AsanaMe | None = None
        self._projects: list[AsanaProject] | None = None
        self._emails: dict[str, str | None] = {}

    # -- facts and set-up ---------------------------------------------------------------
    @classmethod
    def auth(cls, config: ConnectionConfig) -> httpx.Auth:
        return auth.auth_for(config.credentials)

    @classmethod
    def check_credentials(cls, credentials: Mapping[str, str]) -> None:
        auth.check_credentials(credentials)

    async def check(self) -> None:
        await self._myself()

    async def discover(self) -> dict[str, Any]:
        me = await self._myself()
        workspace = self._workspace(me, required=False)
        return {
            "site_url": SITE_URL,
            "workspace_gid": workspace,
            "workspaces": [{"gid": w.gid, "name": w.name} for w in me.workspaces],
        }

    async def _myself(self) -> AsanaMe:
        body = await self.client.get_json("/users/me", params={"opt_fields": _csv(ME_OPT_FIELDS)})
        self._me = self._one(AsanaMe, body, "GET /users/me")
        return self._me

    def _workspace(self, me: AsanaMe, *, required: bool) -> str | None:
        wanted = self.config.options.get("workspace")
        visible = ", ".join(f"{w.gid} ({w.name})" for w in me.workspaces) or "none"
        if wanted:
            for workspace in me.workspaces:
                if str(wanted) == workspace.gid or (
                    workspace.name and str(wanted).casefold() == workspace.name.casefold()
                ):
                    return workspace.gid
            raise InvalidRequest(
                f"Asana workspace {wanted!r} is not visible to these credentials; "
                f"visible: {visible}",
                field="options.workspace",
            )
        if len(me.workspaces) == 1:
            return me.workspaces[0].gid
        if required:
            raise InvalidRequest(
                "set the connection option workspace (gid or name), or list project gids in "
                f"the scope; these credentials see several workspaces: {visible}",
                field="options.workspace",
            )
        return None

    def _one(self, model: type[M], body: Any, endpoint: str) -> M:
        data = body.get("data") if isinstance(body, dict) else None
        return validate_items(model, [data], tool=self.tool, endpoint=endpoint)[0]

    # -- reading --------------------------------------------------------------------------
    async def fetch(self, resource: Resource, cursor: Cursor | None) -> AsyncIterator[Page]:
        if resource is Resource.PROJECTS:
            projects = await self._scoped_projects(refresh=True)
            yield Page(
                items=projects,
                raw=[p.model_dump(mode="json", by_alias=True) for p in projects],
                cursor=None,
            )
        elif resource is Resource.MILESTONES:
            async for page in self._per_project(cursor, self._project_milestones):
                yield page
        elif resource is Resource.WORK_ITEMS:
            async for page in self._per_project(cursor, self._project_tasks):
                yield page
        else:
            raise InvalidRequest(f"Asana connector does not sync {resource}", resource=resource)

    async def _scoped_projects(self, *, refresh: bool = False) -> list[AsanaProject]:
        """Projects in scope that the credentials can see: hidden ones are simply absent."""
        if self._projects is not None and not refresh:
            return self._projects
        fields = {"opt_fields": _csv(PROJECT_OPT_FIELDS)}
        projects: list[AsanaProject] = []
        if self.config.scope:
            for gid in self.config.scope:
                path = f"/projects/{gid}"
                try:
                    body = await self.client.get_json(path, params=fields)
                except (VendorNotFound, AccessLost):
                    continue  # census reports it as lost access
                projects.append(self._one(AsanaProject, body, f"GET {path}"))
        else:
            me = self._me or await self._myself()
            workspace = self._workspace(me, required=True)
            assert workspace is not None
            params = {**fields, "workspace": workspace}
            async for data, _date in self._pages("/projects", params):
                projects.extend(
                    validate_items(AsanaProject, data, tool=self.tool, endpoint="GET /projects")
                )
        self._projects = projects
        return projects

    async def _pages(
        self, path: str, params: Mapping[str, str]
    ) -> AsyncIterator[tuple[Any, datetime | None]]:
        """Each page's ``data`` and the server's ``Date``, following ``next_page.offset``."""
        paginator = TokenPaginator(
            page_size=self.page_size,
            next_param="offset",
            next_path=("next_page", "offset"),
            size_param="limit",
        )
        endpoint = f"GET {path}"
        page_params: dict[str, Any] | None = paginator.first_params()
        while page_params is not None:
            response = await self.client.request("GET", path, params={**params, **page_params})
            body = self.client.decode(response, endpoint)
            yield (body.get("data") if isinstance(body, dict) else None), _server_date(response)
            page_params = paginator.next_params(body, endpoint=endpoint, tool=self.tool)

    async def _per_project(self, cursor: Cursor | None, read: ProjectReader) -> AsyncIterator[Page]:
        """Run ``read`` over each project. Within a project one page is held back, so that the
        project's last page carries its new cursor entry (earlier pages carry the old one)."""
        projects = await self._scoped_projects()
        previous = _entries(cursor)
        state = {p.gid: previous[p.gid] for p in projects if p.gid in previous}
        seen: set[str] = set()
        for project in projects:
            entry = state.get(project.gid)
            after: dict[str, Any] = {}
            pending: Page | None = None
            try:
                async for chunk in read(project, entry, {"seen": seen, "after": after}):
                    if pending is not None:
                        yield pending
                    pending = Page(
                        items=chunk.items,
                        raw=chunk.raw,
                        cursor=_cursor(state),
                        project_vendor_id=project.gid,
                        deleted_ids=tuple(chunk.deleted),
                    )
            except (VendorNotFound, AccessLost):
                # The project vanished while we read it; census records it. What was read
                # stays, under the project's old cursor entry.
                if pending is not None:
                    yield pending
                continue
            changed = bool(after) and after != entry
            if changed:
                state[project.gid] = after
            if pending is not None:
                yield replace(pending, cursor=_cursor(state))
            elif changed:
                yield Page(items=[], raw=[], cursor=_cursor(state), project_vendor_id=project.gid)

    def _overlap(self) -> timedelta:
        return timedelta(seconds=int(self.config.options.get("overlap_seconds", 300)))

    async def _task_pages(
        self,
        project: AsanaProject,
        since: datetime | None,
        fields: tuple[str, ...],
        listing: _Listing,
    ) -> AsyncIterator[tuple[list[AsanaTask], list[dict[str, Any]]]]:
        params = {"opt_fields": _csv(fields)}
        if since is None:
            path = f"/projects/{project.gid}/tasks"
        else:
            # FACTS.md §3.3: whether modified_since lists deleted tasks is UNVERIFIED; assume
            # not: deletions come from the census (and webhook "deleted" events) instead.
            path = "/tasks"
            params.update(project=project.gid, modified_since=_iso(since - self._overlap()))
        async for data, date in self._pages(path, params):
            tasks = validate_items(AsanaTask, data, tool=self.tool, endpoint=f"GET {path}")
            if listing.started is None:
                listing.started = date
            for task in tasks:
                moment = task.modified_at.astimezone(UTC)
                if listing.newest is None or moment > listing.newest:
                    listing.newest = moment
            yield tasks, data

    def _next_since(self, since: datetime | None, listing: _Listing) -> str | None:
        candidates = [t for t in (since, listing.started or listing.newest) if t is not None]
        return max(candidates).isoformat() if candidates else None

    async def _project_milestones(
        self, project: AsanaProject, entry: dict[str, Any] | None, run: dict[str, Any]
    ) -> AsyncIterator[_Chunk]:
        since = _since(entry)
        listing = _Listing()
        seen: set[str] = run["seen"]
        scoped = {p.gid for p in await self._scoped_projects()}
        async for tasks, data in self._task_pages(project, since, MILESTONE_OPT_FIELDS, listing):
            chunk = _Chunk()
            for task, raw in zip(tasks, data, strict=True):
                if task.resource_subtype != MILESTONE or task.gid in seen:
                    continue
                seen.add(task.gid)
                context = AsanaTaskContext(project_gid=_home(task, scoped) or project.gid)
                _add(chunk, task, raw, context)
            if chunk.items:
                yield chunk
        run["after"].update(since=self._next_since(since, listing))

    async def _project_tasks(
        self, project: AsanaProject, entry: dict[str, Any] | None, run: dict[str, Any]
    ) -> AsyncIterator[_Chunk]:
        since = _since(entry)
        listing = _Listing()
        seen: set[str] = run["seen"]
        scoped = {p.gid for p in await self._scoped_projects()}
        parents: list[tuple[str, str]] = []
        async for tasks, data in self._task_pages(project, since, TASK_OPT_FIELDS, listing):
            chunk = _Chunk()
            for task, raw in zip(tasks, data, strict=True):
                if task.gid in seen:
                    continue  # a task in several projects: synced under the first listing it
                seen.add(task.gid)
                home = _home(task, scoped) or project.gid
                if task.num_subtasks > 0:
                    parents.append((task.gid, home))
                if task.resource_subtype == MILESTONE:
                    chunk.deleted.append(task.gid)
                else:
                    _add(chunk, task, raw, AsanaTaskContext(project_gid=home))
            if chunk.items or chunk.deleted:
                yield await self._with_emails(chunk)
        remembered = [(str(g), str(h)) for g, h in (entry or {}).get("parents", [])]
        fresh = {gid for gid, _ in parents}
        swept: list[tuple[str, str]] = []
        rest: list[tuple[str, str]] = []
        if since is not None:
            candidates = [p for p in remembered if p[0] not in fresh and p[0] not in seen]
            limit = int(self.config.options.get("subtask_sweep_limit", self.subtask_sweep_limit))
            swept, rest = candidates[:limit], candidates[limit:]
        alive: set[str] = set()
        async for chunk in self._subtasks([*parents, *swept], scoped, seen, alive):
            yield await self._with_emails(chunk)
        # Rotate: parents swept this time go to the back of the queue.
        kept = [*rest, *(p for p in swept if p[0] in alive), *(p for p in parents if p[0] in alive)]
        run["after"].update(
            since=self._next_since(since, listing), parents=[[g, h] for g, h in kept]
        )

    async def _subtasks(
        self,
        parents: list[tuple[str, str]],
        scoped: set[str],
        seen: set[str],
        alive: set[str],
    ) -> AsyncIterator[_Chunk]:
        """Subtasks of ``parents``, breadth first (subtasks may have subtasks), in chunks of at
        most a page; ``alive`` collects the parents that still have some."""
        queue = deque(parents)
        expanded: set[str] = set()
        chunk = _Chunk()
        fields = {"opt_fields": _csv(TASK_OPT_FIELDS)}
        while queue:
            parent, home = queue.popleft()
            if parent in expanded:
                continue
            expanded.add(parent)
            path = f"/tasks/{parent}/subtasks"
            try:
                async for data, _date in self._pages(path, fields):
                    tasks = validate_items(AsanaTask, data, tool=self.tool, endpoint=f"GET {path}")
                    for task, raw in zip(tasks, data, strict=True):
                        alive.add(parent)
                        if task.gid in seen:
                            continue
                        seen.add(task.gid)
                        own_home = _home(task, scoped) or home
                        if task.num_subtasks > 0:
                            queue.append((task.gid, own_home))
                        if task.resource_subtype == MILESTONE:
                            chunk.deleted.append(task.gid)
                        else:
                            _add(chunk, task, raw, AsanaTaskContext(project_gid=own_home))
                        if len(chunk.items) >= self.page_size:
                            yield chunk
                            chunk = _Chunk()
            except (VendorNotFound, AccessLost):
                continue  # the parent went away since we listed it
        if chunk.items or chunk.deleted:
            yield chunk

    async def _with_emails(self, chunk: _Chunk) -> _Chunk:
        """Add each assignee's e-mail (option ``resolve_assignee_emails``, default on)."""
        if not self.config.options.get("resolve_assignee_emails", True):
            return chunk
        for task in chunk.items:
            if task.assignee is not None:
                await self._email(task.assignee)
        for index, (task, raw) in enumerate(zip(chunk.items, chunk.raw, strict=True)):
            if task.assignee is None:
                continue
            context = task.pmbridge.model_copy(
                update={"assignee_email": self._emails.get(task.assignee.gid)}
            )
            chunk.items[index] = task.model_copy(update={"pmbridge": context})
            chunk.raw[index] = {**raw, "pmbridge": context.model_dump(mode="json")}
        return chunk

    async def _email(self, user: AsanaUser) -> str | None:
        if user.email:
            return user.email
        if user.gid not in self._emails:
            path = f"/users/{user.gid}"
            try:
                body = await self.client.get_json(
                    path, params={"opt_fields": _csv(USER_OPT_FIELDS)}
                )
                self._emails[user.gid] = self._one(AsanaUser, body, f"GET {path}").email
            except (VendorNotFound, AccessLost):
                self._emails[user.gid] = None  # a deactivated user, a guest's hidden profile
        return self._emails[user.gid]

    async def fetch_one(self, resource: Resource, vendor_id: str) -> Any | None:
        if resource is Resource.PROJECTS:
            path = f"/projects/{vendor_id}"
            try:
                body = await self.client.get_json(
                    path, params={"opt_fields": _csv(PROJECT_OPT_FIELDS)}
                )
            except (VendorNotFound, AccessLost):
                return None
            return self._one(AsanaProject, body, f"GET {path}")
        if resource not in (Resource.WORK_ITEMS, Resource.MILESTONES):
            raise InvalidRequest(f"Asana connector does not fetch {resource}", resource=resource)
        task = await self._task(vendor_id, TASK_OPT_FIELDS)
        if task is None or (task.resource_subtype == MILESTONE) != (
            resource is Resource.MILESTONES
        ):
            return None
        home = await self._home_of(task)
        if home is None:
            return None  # outside this connection's scope
        chunk = _Chunk()
        _add(chunk, task, task.model_dump(mode="json"), AsanaTaskContext(project_gid=home))
        await self._with_emails(chunk)
        return chunk.items[0]

    async def _task(self, gid: str, fields: tuple[str, ...]) -> AsanaTask | None:
        path = f"/tasks/{gid}"
        try:
            body = await self.client.get_json(path, params={"opt_fields": _csv(fields)})
        except (VendorNotFound, AccessLost):
            return None
        return self._one(AsanaTask, body, f"GET {path}")

    async def _home_of(self, task: AsanaTask) -> str | None:
        """The in-scope project a task is synced under, walking up from a subtask."""
        scoped = {p.gid for p in await self._scoped_projects()}
        current: AsanaTask | None = task
        for _depth in range(10):
            if current is None:
                return None
            home = _home(current, scoped)
            if home is not None:
                return home
            if current.parent is None:
                return None
            current = await self._task(current.parent.gid, PARENT_OPT_FIELDS)
        return None

    async def census(self, resource: Resource) -> AsyncIterator[CensusPage]:
        if resource is not Resource.WORK_ITEMS:
            raise InvalidRequest("Asana census covers work items", resource=resource)
        visible = await self._scoped_projects(refresh=True)
        gids = {p.gid for p in visible}
        for wanted in self.config.scope:
            if wanted not in gids:
                # Configured but invisible: a revoked permission must not look like deletion.
                yield CensusPage(project_vendor_id=None, ids=[], access_lost=True, scope_key=wanted)
        for project in visible:
            try:
                ids = await self._census_ids(project)
            except (VendorNotFound, AccessLost):
                yield CensusPage(None, [], access_lost=True, scope_key=project.gid)
                continue
            # Yielded only once the project is fully enumerated: a half-read project must
            # never count as complete.
            for start in range(0, max(len(ids), 1), self.census_chunk):
                yield CensusPage(project.gid, ids[start : start + self.census_chunk])

    async def _census_ids(self, project: AsanaProject) -> list[str]:
        fields = {"opt_fields": _csv(CENSUS_OPT_FIELDS)}
        ids: list[str] = []
        queue: deque[str] = deque()
        path = f"/projects/{project.gid}/tasks"
        async for data, _date in self._pages(path, fields):
            for task in validate_items(AsanaTaskId, data, tool=self.tool, endpoint=f"GET {path}"):
                if task.resource_subtype != MILESTONE:
                    ids.append(task.gid)
                if task.num_subtasks > 0:
                    queue.append(task.gid)
        expanded: set[str] = set()
        while queue:
            parent = queue.popleft()
            if parent in expanded:
                continue
            expanded.add(parent)
            sub_path = f"/tasks/{parent}/subtasks"
            try:
                async for data, _date in self._pages(sub_path, fields):
                    for task in validate_items(
                        AsanaTaskId, data, tool=self.tool, endpoint=f"GET {sub_path}"
                    ):
                        if task.resource_subtype != MILESTONE:
                            ids.append(task.gid)
                        if task.num_subtasks > 0:
                            queue.append(task.gid)
            except VendorNotFound:
                continue  # deleted since it was listed: its subtasks went with it
        return ids

    # -- webhooks ----------------------------------------------------------------------------
    async def register_webhook(
        self, project_id: str, callback_url: str, *, description: str
    ) -> RegisteredWebhook:
        """``POST /webhooks`` for one project, filtered to the events we apply: its tasks
        and the project itself (renamed, archived, deleted); comments and other stories are
        left out (FACTS.md §3.5; ``WebhookFilter.resource_type`` in asana_oas.yaml).

        Asana answers only after its handshake reached the callback URL, whose receiver
        stored the ``X-Hook-Secret`` already; where the answer repeats it, it is returned
        too. (``description`` is ours: Asana's webhook has no such field.)"""
        answer = await self.client.request_json(
            "POST",
            WEBHOOKS,
            json_body={
                "data": {
                    "resource": project_id,
                    "target": callback_url,
                    "filters": [{"resource_type": "task"}, {"resource_type": "project"}],
                }
            },
            creates=True,
        )
        body: dict[str, Any] = answer if isinstance(answer, dict) else {}
        data = body.get("data")
        webhook = data.get("gid") if isinstance(data, dict) else None
        secret = body.get("X-Hook-Secret")
        return RegisteredWebhook(
            str(webhook) if webhook else None,
            secret if isinstance(secret, str) and secret else None,
        )

    def handshake_secret(self, request: WebhookRequest) -> str | None:
        """The ``X-Hook-Secret`` of a webhook handshake (FACTS.md §3.5), else None.

        The receiver echoes it in its 200/204 answer and stores it as the webhook's secret;
        a handshake carries no signature and no events.
        """
        secret = _header(request.headers, "x-hook-secret")
        return secret.strip() if secret and secret.strip() else None

    def delivery_id(self, request: WebhookRequest) -> str:
        """A stable id for a delivery: Asana events carry none, so a digest of the events.

        Re-sent deliveries (Asana retries for up to 24 h) get the same id. Heartbeats (empty
        ``events``) all share one id: record them without de-duplicating.
        """
        try:
            body = json.loads(request.body)
            canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        except (ValueError, RecursionError):  # not JSON, or nested beyond the parser's depth
            canonical = request.body
        return hashlib.sha256(canonical).hexdigest()

    def verify_webhook(self, request: WebhookRequest, secret: str) -> None:
        """``X-Hook-Signature``: lowercase hex HMAC-SHA256 of the raw body, keyed by the secret
        from the handshake (§3.5)."""
        received = _header(request.headers, "x-hook-signature")
        if not received:
            raise WebhookRejected("missing X-Hook-Signature header", tool=self.tool)
        expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        if not secrets_match(expected, received.strip().lower()):
            raise WebhookRejected("X-Hook-Signature does not match the body", tool=self.tool)

    def parse_webhook(self, request: WebhookRequest) -> list[ChangeNotice]:
        """``{"events": [...]}`` -> one notice per task or project named, in order of first
        mention, deleted if its last event says so;
        a story event names its task. Heartbeats (no events) give none."""
        try:
            body = AsanaWebhookBody.model_validate(json.loads(request.body))
        except (ValueError, ValidationError) as error:
            raise ContractBroken(
                "Asana webhook body is not an events delivery",
                tool=self.tool,
                endpoint="webhook",
                reason=str(error).splitlines()[0],
            ) from None
        notices: dict[tuple[Resource, str], bool] = {}
        for event in body.events:
            kind = event.resource.resource_type or event.type
            if kind == "task":
                notices[(Resource.WORK_ITEMS, event.resource.gid)] = event.action == "deleted"
            elif kind == "project":
                notices[(Resource.PROJECTS, event.resource.gid)] = event.action == "deleted"
            elif (
                kind == "story"
                and event.parent is not None
                and event.parent.resource_type == "task"
            ):
                notices.setdefault((Resource.WORK_ITEMS, event.parent.gid), False)
        return [
            ChangeNotice(resource, gid, deleted=gone) for (resource, gid), gone in notices.items()
        ]


def _add(chunk: _Chunk, task: AsanaTask, raw: Any, context: AsanaTaskContext) -> None:
    chunk.items.append(task.model_copy(update={"pmbridge": context}))
    chunk.raw.append({**raw, "pmbridge": context.model_dump(mode="json")})


def _home(task: AsanaTask, scoped: set[str]) -> str | None:
    for membership in task.memberships:
        if membership.project is not None and membership.project.gid in scoped:
            return membership.project.gid
    return None


def _entries(cursor: Cursor | None) -> dict[str, dict[str, Any]]:
    projects = (cursor or {}).get("projects")
    if not isinstance(projects, dict):
        return {}
    return {str(k): dict(v) for k, v in projects.items() if isinstance(v, dict)}


def _cursor(state: Mapping[str, dict[str, Any]]) -> Cursor:
    return {"projects": dict(state)}


def _since(entry: Mapping[str, Any] | None) -> datetime | None:
    value = (entry or {}).get("since")
    if not value:
        return None
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _csv(fields: tuple[str, ...]) -> str:
    return ",".join(fields)


def _server_date(response: httpx.Response) -> datetime | None:
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
