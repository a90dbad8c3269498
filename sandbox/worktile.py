"""A Worktile Open API (team auth) simulator, as an ASGI app.

It serves the slice of the API a sync client uses, shaped as ``shared/vendor-api/WORKTILE.md``
documents it: a tenant token from ``POST /open-api/tenant-access-token`` (§3.1) that must come
back as the ``access_token`` query parameter; an expired or unknown token answered with
**HTTP 200** and ``{"ok": false, "error_code": 1103, "error": "invalid access token"}`` (1102
for a missing or malformed one, §3.1/§11); ``page_index`` (0-based) / ``page_size`` pages with
``{items, total, has_more}`` (§8); epoch-second times and ``{date, with_time}`` dates (§5);
integer state types with 3 as every terminal state (§6); bare arrays from ``get-tasks-by-ids``
(§4); and 429/5xx answered with an nginx HTML page (§11).

Where WORKTILE.md says UNVERIFIED the simulator makes one choice and says so here:

- a wrong client id/secret gets HTTP 200 ``{"ok": false, "error": ...}`` without a code (§15);
- the item key is ``items`` (``items_key="value"`` switches it; §8), page sizes above
  ``max_page_size`` are silently capped and lists are in creation (``_id``) order (§15);
- archived tasks stay in the task lists with ``is_archived: 1`` and archiving moves
  ``updated_at``; deleted tasks vanish from lists and from ``get-tasks-by-ids`` (§10);
- a project the app cannot see is absent from the project list and its task list is a 404;
- milestones are tasks of the task type 里程碑 (or ``Milestone`` in English-speaking pods, §7);
- projects carry ``identifier`` and ``is_archived`` (only ``_id`` and ``name`` are documented);
- ``get-tasks-by-ids`` returns the properties named in ``fields`` (list pages carry
  assignee, participant, start, due, priority and tag; never ``desc``, §5);
- webhook event names are placeholders (``task_state_changed`` ...; §12).

Endpoints (under ``/open-api``)::

    POST  /tenant-access-token            (a trailing slash works too, as C1 uses it)
    GET   /mission/get-projects-by-page
    GET   /mission/get-project-tasks-by-page?project_id=
    GET   /mission/get-tasks-by-ids?task_ids=a,b&fields=...
    GET   /contact/get-members-by-page

State is in memory and readable: ``sim.projects`` (by ``_id``, hidden ones included),
``sim.tasks`` (live tasks by ``_id``), ``sim.members``; records are the dataclasses of
:mod:`sandbox.worktile_data`.
"""

from __future__ import annotations

import argparse
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from random import Random
from typing import Any, Final, Literal, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.contract import Delivery
from sandbox.server import AsgiEntry, Failure, FailureQueue, run_on_loopback
from sandbox.worktile_data import (
    Member,
    Project,
    Task,
    TaskType,
    day_epoch,
    generate_dataset,
    object_id,
)

__all__ = ["WorktileHandle", "WorktileSimulator", "serve"]

#: The simulator's default "now": fixed, so every run sees the same data and the same clock.
DEFAULT_NOW: Final = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
API: Final = "/open-api"
DEMO_CLIENT_ID: Final = "wt-demo-client"
DEMO_CLIENT_SECRET: Final = "wt-demo-secret"  # noqa: S105 - the public demo credential

Json = dict[str, Any]
T = TypeVar("T")
HookKind = Literal["created", "state_changed", "assignee_changed", "title_changed", "due_changed"]

_JSON_TYPE: Final = "application/json; charset=utf-8"
_TOKEN_RE: Final = re.compile(r"[0-9a-f]{40}")
#: What list pages carry in ``properties`` (§5: never ``desc``), in render order.
LIST_PROPERTIES: Final = ("assignee", "participant", "start", "due", "priority", "tag")
#: Every property ``get-tasks-by-ids`` knows, in render order; C1's default ``fields``.
ALL_PROPERTIES: Final = (*LIST_PROPERTIES, "desc", "attachment")
DEFAULT_FIELDS: Final = "assignee,participant,start,due,tag,priority,desc,attachment"
_NGINX_REASONS: Final = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


class ApiError(Exception):
    """A refusal, answered with Worktile's ``{"ok": false, ...}`` envelope."""

    def __init__(self, status: int, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def _text(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _json(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(_text(body), status_code=status, headers=headers, media_type=_JSON_TYPE)


def _refusal(status: int, message: str, code: int | None = None) -> Response:
    body: Json = {"ok": False}
    if code is not None:
        body["error_code"] = code
    body["error"] = message
    return _json(body, status)


def nginx_page(status: int) -> str:
    """The HTML error page nginx answers with (WORKTILE.md §11: 429 and 5xx come as HTML)."""
    title = f"{status} {_NGINX_REASONS.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )


class WorktileSimulator:
    """An in-memory Worktile tenant with seeded sales-enablement data and test controls."""

    def __init__(
        self,
        *,
        items: int = 300,
        projects: int = 3,
        seed: int = 7,
        client_id: str = DEMO_CLIENT_ID,
        client_secret: str = DEMO_CLIENT_SECRET,
        now: datetime | None = None,
        token_lifetime: int = 7200,
        items_key: Literal["items", "value"] = "items",
        max_page_size: int = 200,
    ) -> None:
        if now is not None and now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if max_page_size < 1:
            raise ValueError("max_page_size must be at least 1")
        self._now = (now or DEFAULT_NOW).astimezone(UTC)
        data = generate_dataset(items=items, projects=projects, seed=seed, now=self._now)
        self.members: list[Member] = data.members
        #: Projects by ``_id``, hidden ones included (see ``Project.hidden``).
        self.projects: dict[str, Project] = {p.id: p for p in data.projects}
        #: Live tasks by ``_id`` (deleted ones are removed).
        self.tasks: dict[str, Task] = {t.id: t for t in data.tasks}
        self.priorities = data.priorities
        self.tags = data.tags
        #: Task ids per project in list order (``_id``, i.e. creation, order).
        self._order: dict[str, list[str]] = {p.id: [] for p in data.projects}
        for task in sorted(data.tasks, key=lambda t: t.id):
            self._order[task.project_id].append(task.id)
        self._rng = Random(f"{seed}:mutations")
        self._client = (client_id, client_secret)
        self.token_lifetime = token_lifetime
        self.items_key = items_key
        self.max_page_size = max_page_size
        self._tokens: dict[str, int] = {}
        self._expired_status = 200
        self._requests = 0
        self.token_requests = 0
        self._failures = FailureQueue()
        self._corrupt_next = False
        self._repeat_next = False

        router = Starlette(
            routes=[
                Route(f"{API}/tenant-access-token", self._token, methods=["POST"]),
                Route(f"{API}/tenant-access-token/", self._token, methods=["POST"]),
                Route(f"{API}/mission/get-projects-by-page", self._projects, methods=["GET"]),
                Route(f"{API}/mission/get-project-tasks-by-page", self._tasks, methods=["GET"]),
                Route(f"{API}/mission/get-tasks-by-ids", self._tasks_by_ids, methods=["GET"]),
                Route(f"{API}/contact/get-members-by-page", self._members, methods=["GET"]),
            ],
            exception_handlers={ApiError: self._on_error, HTTPException: self._on_error},
        )
        router.router.redirect_slashes = False
        self._router: ASGIApp = router
        self.app: ASGIApp = AsgiEntry(self._handle)

    # -- clock ---------------------------------------------------------------------------
    def clock(self) -> datetime:
        """The simulator's "now" (UTC); fixed unless set or advanced."""
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def _now_s(self) -> int:
        return int(self._now.timestamp())

    # -- mutations -----------------------------------------------------------------------
    def update_task(
        self,
        task_id: str,
        *,
        title: str | None = None,
        state: str | None = None,
        assignee: str | None = None,
        due: date | None = None,
    ) -> None:
        """Change a task like a user would; None leaves a field alone, ``assignee=""``
        unassigns (else a member's uid or name). Entering a terminal state sets
        ``completed_at``; leaving one clears it. ``updated_at`` moves to :meth:`clock`."""
        task = self._live(task_id)
        project = self.projects[task.project_id]
        now = self._now_s()
        if title is not None:
            task.title = title
        if state is not None:
            new = project.state(state)
            if (new.type == 3) != (task.state.type == 3):
                task.completed_at = now if new.type == 3 else 0
            task.state = new
        if assignee is not None:
            task.assignee = self._member(assignee) if assignee else None
        if due is not None:
            task.due, task.with_time = day_epoch(due), 0
        task.updated_at = now

    def add_task(
        self, project: str, *, title: str, state: str | None = None, task_type: str | None = None
    ) -> str:
        """Create a task (a milestone when ``task_type`` is the milestone type); its id."""
        target = self._project(project)
        now = self._now_s()
        kind = target.task_type(task_type) if task_type else target.task_types[0]
        chosen = target.state(state) if state else target.states[0]
        task = Task(
            id=object_id(self._rng, now),
            identifier=f"{target.identifier}-{target.next_number}",
            project_id=target.id,
            title=title,
            task_type=kind,
            state=chosen,
            created_by=self.members[0],
            created_at=now,
            updated_at=now,
            completed_at=now if chosen.type == 3 else 0,
            is_archived=False,
            assignee=None,
            participants=(),
            start=None,
            due=None,
            with_time=0,
            priority=None,
            tags=(),
            parent_id=None,
        )
        target.next_number += 1
        self.tasks[task.id] = task
        self._order[target.id].append(task.id)
        return task.id

    def archive_task(self, task_id: str) -> None:
        """Archive (归档): still listed, ``is_archived: 1``, ``updated_at`` moves (§10)."""
        task = self._live(task_id)
        task.is_archived = True
        task.updated_at = self._now_s()

    def delete_task(self, task_id: str) -> None:
        """Delete a task: gone from lists and ``get-tasks-by-ids``; children lose the parent."""
        task = self._live(task_id)
        del self.tasks[task_id]
        self._order[task.project_id].remove(task_id)
        now = self._now_s()
        for child in self.tasks.values():
            if child.parent_id == task_id:
                child.parent_id = None
                child.updated_at = now

    def hide_project(self, project: str) -> None:
        """The app loses sight of a project: gone from the list, its tasks unreachable."""
        self._project(project).hidden = True

    def expire_tokens(self, *, status: int = 200) -> None:
        """Every issued token stops working: answered with ``error_code`` 1103 as HTTP 200
        (what C2 saw, §3.1) or, with ``status=401``, as HTTP 401."""
        if status not in (200, 401):
            raise ValueError("an expired token is answered with 200 or 401")
        for token in self._tokens:
            self._tokens[token] = 0
        self._expired_status = status

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        retry_after: str | None = None,
        body: str | dict[str, Any] | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status``, before auth and routing.

        The default body of a 429 or 5xx is nginx's HTML page (§11); a str ``body`` is sent as
        text/html, a dict as JSON. ``Retry-After`` only when given: nothing shows Worktile
        sends it (§11).
        """
        self._failures.add(
            status, count=count, retry_after=retry_after, body=body, path_contains=path_contains
        )

    def corrupt_next_page(self) -> None:
        """The next non-empty task page carries one ``updated_at`` as a string."""
        self._corrupt_next = True

    def repeat_next_page(self) -> None:
        """The next task page asked for with ``page_index`` > 0 repeats the page before it."""
        self._repeat_next = True

    # -- webhooks --------------------------------------------------------------------------
    def webhook_body(self, task_id: str, *, kind: HookKind = "state_changed") -> bytes:
        """A delivery body ``{event, payload}`` shaped as C1's structs (§12); the event name
        is a placeholder, since no source names one."""
        task = self._live(task_id)
        project = self.projects[task.project_id]
        ref = {
            "id": task.id,
            "title": task.title,
            "identifier": task.identifier,
            "type": {"id": task.task_type.id, "name": task.task_type.name},
            "project": {"id": project.id, "name": project.name},
        }
        by = _user_ref(self.members[0])
        payload: Json
        if kind == "created":
            payload = {
                **ref,
                "creator": _user_ref(task.created_by),
                "assignee": _user_ref(task.assignee) if task.assignee else None,
                "due": {"date": task.due, "with_time": task.with_time} if task.due else None,
            }
        elif kind == "state_changed":
            state = {"id": task.state.id, "name": task.state.name}
            first = project.states[0]
            payload = {
                "task": {**ref, "state": state},
                "update_by": by,
                "from": {"id": first.id, "name": first.name},
                "to": state,
            }
        elif kind == "assignee_changed":
            to = _user_ref(task.assignee) if task.assignee else None
            payload = {"task": ref, "update_by": by, "from": None, "to": to}
        elif kind == "title_changed":
            payload = {"task": ref, "update_by": by, "from": "", "to": task.title}
        else:
            when = {"date": task.due, "with_time": task.with_time} if task.due else None
            payload = {"task": ref, "update_by": by, "from": None, "to": when}
        return _text({"event": f"task_{kind}", "payload": payload})

    # -- observation -----------------------------------------------------------------------
    @property
    def request_count(self) -> int:
        """HTTP requests served, token requests and failures included."""
        return self._requests

    def visible_tasks(self) -> list[Task]:
        return [t for t in self.tasks.values() if not self.projects[t.project_id].hidden]

    def work_item_ids(self) -> list[str]:
        """Visible tasks that are not milestones (what the connector syncs as work items)."""
        return [t.id for t in self.visible_tasks() if not t.task_type.milestone]

    def milestone_ids(self) -> list[str]:
        return [t.id for t in self.visible_tasks() if t.task_type.milestone]

    def project_by_identifier(self, identifier: str) -> Project:
        return self._project(identifier)

    # -- lookups ---------------------------------------------------------------------------
    def _live(self, task_id: str) -> Task:
        task = self.tasks.get(task_id)
        if task is None:
            raise KeyError(f"no live task {task_id!r}")
        return task

    def _project(self, key: str) -> Project:
        found = self.projects.get(key)
        if found is not None:
            return found
        for project in self.projects.values():
            if project.identifier == key:
                return project
        raise KeyError(f"no project {key!r}")

    def _member(self, key: str) -> Member:
        for member in self.members:
            if key in (member.uid, member.name, member.display_name):
                return member
        raise ValueError(f"no member {key!r}; known: {[m.name for m in self.members]}")

    # -- ASGI ------------------------------------------------------------------------------
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
        if not path.startswith(f"{API}/tenant-access-token"):
            refusal = self._check_token(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self._router(scope, receive, send)

    def _failure_response(self, failure: Failure) -> Response:
        headers: dict[str, str] = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = failure.retry_after
        body = failure.body
        if body is None and (failure.status == 429 or failure.status >= 500):
            body = nginx_page(failure.status)
        if isinstance(body, str):
            return Response(body, failure.status, headers, media_type="text/html")
        if isinstance(body, dict):
            return _json(body, failure.status, headers)
        return _json({"ok": False, "error": "request failed"}, failure.status, headers)

    def _check_token(self, scope: Scope) -> Response | None:
        """The ``access_token`` query parameter, which the docs mark required (§3.1)."""
        query = scope.get("query_string", b"").decode("latin-1")
        token = ""
        for part in query.split("&"):
            name, _, value = part.partition("=")
            if name == "access_token":
                token = value
                break
        if not token or not _TOKEN_RE.fullmatch(token):
            return _refusal(200, "access_token is malformed", 1102)
        expires = self._tokens.get(token)
        if expires is None:
            return _refusal(200, "invalid access token", 1103)
        if expires <= self._now_s():
            return _refusal(self._expired_status, "invalid access token", 1103)
        return None

    async def _on_error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, ApiError):
            return _refusal(exc.status, exc.message, exc.code)
        assert isinstance(exc, HTTPException)
        return _refusal(exc.status_code, str(exc.detail))

    # -- endpoints -------------------------------------------------------------------------
    async def _token(self, request: Request) -> Response:
        self.token_requests += 1
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise ApiError(400, "request body must be JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object")
        client_id, client_secret = self._client
        offered = (str(body.get("client_id", "")), str(body.get("client_secret", "")))
        if not (
            hmac.compare_digest(offered[0].encode(), client_id.encode())
            and hmac.compare_digest(offered[1].encode(), client_secret.encode())
        ):
            return _json({"ok": False, "error": "invalid client_id or client_secret"})
        token = f"{self._rng.getrandbits(160):040x}"
        self._tokens[token] = self._now_s() + self.token_lifetime
        return _json({"tenant_access_token": token, "expires_in": self.token_lifetime})

    async def _projects(self, request: Request) -> Response:
        visible = [p for p in self.projects.values() if not p.hidden]
        return self._page(request, visible, _render_project)

    async def _members(self, request: Request) -> Response:
        return self._page(request, self.members, _render_member)

    async def _tasks(self, request: Request) -> Response:
        project_id = request.query_params.get("project_id", "")
        project = self.projects.get(project_id)
        if project is None or project.hidden:
            raise ApiError(404, "project not found")
        order = self._order[project.id]
        return self._page(
            request,
            order,
            lambda task_id: self._render_task(self.tasks[task_id], LIST_PROPERTIES),
            corruptible=True,
        )

    async def _tasks_by_ids(self, request: Request) -> Response:
        params = request.query_params
        wanted = [i for v in params.getlist("task_ids") for i in v.split(",") if i.strip()]
        fields = {f.strip() for f in (params.get("fields") or DEFAULT_FIELDS).split(",")}
        shown = tuple(p for p in ALL_PROPERTIES if p in fields)
        found = []
        for task_id in wanted:
            task = self.tasks.get(task_id.strip())
            if task is not None and not self.projects[task.project_id].hidden:
                found.append(self._render_task(task, shown))
        return _json(found)

    def _page(
        self,
        request: Request,
        rows: Sequence[T],
        render: Callable[[T], Json],
        *,
        corruptible: bool = False,
    ) -> Response:
        params = request.query_params
        index = _int_param(params.get("page_index"), "page_index", 0)
        size = _int_param(params.get("page_size"), "page_size", 20)
        if size < 1:
            raise ApiError(400, "page_size must be at least 1")
        size = min(size, self.max_page_size)
        if corruptible and self._repeat_next and index > 0:
            self._repeat_next = False
            index -= 1
        start = index * size
        chunk = [render(row) for row in rows[start : start + size]]
        if corruptible and self._corrupt_next and chunk:
            self._corrupt_next = False
            chunk[0]["updated_at"] = "昨天 18:00"
        body = {
            self.items_key: chunk,
            "total": len(rows),
            "has_more": start + len(chunk) < len(rows),
        }
        return _json(body)

    def _render_task(self, task: Task, properties: Sequence[str]) -> Json:
        state = task.state
        props: Json = {}
        for name in properties:
            if name == "assignee":
                props["assignee"] = task.assignee.uid if task.assignee else ""
            elif name == "participant":
                props["participant"] = [m.uid for m in task.participants]
            elif name == "start":
                props["start"] = _date(task.start, 0)
            elif name == "due":
                props["due"] = _date(task.due, task.with_time)
            elif name == "priority":
                p = task.priority
                props["priority"] = (
                    {"_id": p.id, "name": p.name, "color": p.color, "icon": "priority"}
                    if p
                    else None
                )
            elif name == "tag":
                props["tag"] = [
                    {"_id": t.id, "name": t.name, "color": t.color, "mode_id": ""}
                    for t in task.tags
                ]
            elif name == "desc":
                props["desc"] = task.desc
            elif name == "attachment":
                props["attachment"] = []
        return {
            "_id": task.id,
            "identifier": task.identifier,
            "title": task.title,
            "project_id": task.project_id,
            "created_by": task.created_by.uid,
            "created_at": task.created_at,
            "updated_at": task.updated_at,
            "completed_at": task.completed_at,
            "is_archived": 1 if task.is_archived else 0,
            "state_type": state.type,
            "task_state": {"_id": state.id, "name": state.name, "type": state.type},
            "task_type": _render_type(task.task_type),
            "parent_id": task.parent_id or "",
            "parent_ids": [task.parent_id] if task.parent_id else [],
            "derived_ids": [],
            "properties": props,
        }


def _date(epoch: int | None, with_time: int) -> Json | None:
    return None if epoch is None else {"date": epoch, "with_time": with_time}


def _render_type(task_type: TaskType) -> Json:
    return {"_id": task_type.id, "name": task_type.name, "description": ""}


def _render_project(project: Project) -> Json:
    return {
        "_id": project.id,
        "name": project.name,
        "identifier": project.identifier,
        "visibility": project.visibility,
        "is_archived": 1 if project.is_archived else 0,
        "created_at": project.created_at,
    }


def _render_member(member: Member) -> Json:
    return {
        "uid": member.uid,
        "name": member.name,
        "display_name": member.display_name,
        "avatar": "",
        "status": 1,
    }


def _user_ref(member: Member) -> Json:
    return {"uid": member.uid, "user_name": member.name, "display_name": member.display_name}


def _int_param(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    if number < 0:
        raise ApiError(400, f"{name} must not be negative")
    return number


# --------------------------------------------------------------------------------------------
# The vendor-neutral handle (sandbox.contract.Simulator)
# --------------------------------------------------------------------------------------------


class WorktileHandle:
    """:class:`sandbox.contract.Simulator` over a :class:`WorktileSimulator`.

    Worktile signs no webhook (§12): its delivery carries the connection's shared secret
    (``X-Pmbridge-Token``), so ``signs_body`` is false and the contract suite checks the
    sender, not the body.
    """

    def __init__(self, *, items: int = 120, seed: int = 7) -> None:
        self.vendor = WorktileSimulator(items=items, seed=seed)
        self.app: Any = self.vendor.app
        self.credentials: Mapping[str, str] = {
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
        }
        self.scope: tuple[str, ...] = ()
        self.options: Mapping[str, Any] = {}
        self.signs_body = False

    def work_item_ids(self) -> list[str]:
        return self.vendor.work_item_ids()

    def touch_item(self, vendor_id: str, *, title: str) -> None:
        self.vendor.advance(timedelta(minutes=5).total_seconds())
        self.vendor.update_task(vendor_id, title=title)

    def delete_item(self, vendor_id: str) -> None:
        self.vendor.delete_task(vendor_id)

    def delivery(self, vendor_id: str, *, secret: str, url: str) -> Delivery:
        return self.token_delivery(vendor_id, secret=secret)

    def token_delivery(self, vendor_id: str, *, secret: str) -> Delivery:
        """What Worktile itself sends when the receiver is configured with a shared secret."""
        body = self.vendor.webhook_body(vendor_id)
        return Delivery(
            body=body, headers={"Content-Type": "application/json", "X-Pmbridge-Token": secret}
        )


# --------------------------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------------------------


def serve(host: str = "127.0.0.1", port: int = 8104, items: int = 5000, seed: int = 7) -> None:
    run_on_loopback("Worktile", lambda: WorktileSimulator(items=items, seed=seed).app, host, port)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Worktile simulator on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8104)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(
        f"Worktile simulator on http://{args.host}:{args.port} "
        f"(client_id {DEMO_CLIENT_ID}, client_secret {DEMO_CLIENT_SECRET})"
    )
    serve(args.host, args.port, args.items, args.seed)


if __name__ == "__main__":
    main()
