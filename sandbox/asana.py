"""An Asana REST API 1.0 simulator, as an ASGI app.

It speaks the slice of the API a sync client uses, with the shapes of the official OpenAPI
spec (``shared/vendor-api/asana/asana_oas.yaml``) and the behaviours in
``shared/vendor-api/FACTS.md`` §3: ``Authorization: Bearer`` tokens, ``{"data": ...}``
envelopes, ``{"errors": [{"message": ...}]}`` errors, ``limit`` (1-100) with opaque ``offset``
tokens and ``next_page: {offset, path, uri}`` (null on the last page, absent when no ``limit``
was given, and unpaginated lists truncated at 1,000), compact records unless ``opt_fields``
names fields (refused when the spec does not enumerate them for the endpoint), sections as
board columns, milestones as ``resource_subtype: "milestone"``, subtasks outside projects,
``modified_since`` that sees association changes while ``modified_at`` does not (§3.3), the
Events API with sync tokens (412 with a fresh token when missing or older than 24 h), 429s
with ``Retry-After``, and signed webhook deliveries (``X-Hook-Signature``, §3.5).

Endpoints (also under the ``/api/1.0`` prefix)::

    GET /users/me, /users/{user_gid} (gid, "me" or e-mail), /users?workspace=
    GET /workspaces, /workspaces/{workspace_gid}, /workspaces/{workspace_gid}/projects
    GET /projects?workspace=&archived=, /projects/{project_gid}
    GET /projects/{project_gid}/sections, /projects/{project_gid}/tasks
    GET /tasks?project=|section=|tag=|assignee=&workspace=  (+ modified_since, completed_since)
    GET /tasks/{task_gid}, /tasks/{task_gid}/subtasks
    GET /events?resource=&sync=

State is in memory and readable: ``sim.tasks`` (live tasks by gid, hidden projects' included),
``sim.projects``, ``sim.users`` and ``sim.me``; the records are the dataclasses of
:mod:`sandbox.asana_data`. Tests mutate it through :meth:`AsanaSimulator.update_task`,
``move_task``, ``add_task``, ``add_subtask``, ``delete_task``, ``archive_project`` and
``hide_project``; every mutation is also recorded as an Asana event.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Final
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.asana_data import (
    EPOCH,
    SECTION_NAMES,
    WORKSPACE_NAME,
    CustomField,
    EnumOption,
    Project,
    Section,
    Tag,
    Task,
    User,
    generate_dataset,
)
from sandbox.contract import Delivery
from sandbox.server import AsgiEntry, Failure, FailureQueue, run_on_loopback

__all__ = ["AsanaHandle", "AsanaSimulator", "serve"]

#: The simulator's default "now": fixed, so every run sees the same data and the same clock.
DEFAULT_NOW: Final = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
#: The demo personal access token (a public, loopback-only credential).
DEMO_TOKEN: Final = "2/1208400000000001/1208400000000002:demo-asana-pat"  # noqa: S105
API_PREFIX: Final = "/api/1.0"
SITE: Final = "https://app.asana.com"

Json = dict[str, Any]
#: A parsed ``opt_fields`` list: ``{"memberships": {"section": {"name": {}}}}``.
Tree = dict[str, "Tree"]

_HELP: Final = (
    "For more information on API status codes and how to handle them, "
    "read the docs on errors: https://developers.asana.com/docs/errors"
)
_RATE_LIMITED: Final = (
    "You've made too many requests and hit a rate limit. "
    "Please retry after the given amount of time."
)
_SYNC_EXPIRED: Final = (
    "Sync token invalid or too old. If you are attempting to keep resources in sync, you must "
    "fetch the full dataset for this query now and use the new sync token for the next sync."
)
#: Unpaginated requests are cut off here (FACTS.md §3.2).
_UNPAGINATED_CAP: Final = 1000
_SYNC_TOKEN_TTL_MS: Final = 24 * 3_600_000
_EVENTS_PER_CALL: Final = 100
_PAGE_KEYS: Final = frozenset({"offset", "path", "uri"})


def _fields(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The ``opt_fields`` enums of the spec, per endpoint family (minus ``offset``/``path``/``uri``,
# which list endpoints also accept and which name the ``next_page`` parts).
TASK_FIELDS: Final = _fields(
    "actual_time_minutes approval_status assigned_by assigned_by.name assignee assignee.name "
    "assignee_section assignee_section.name assignee_status completed completed_at completed_by "
    "completed_by.name created_at created_by custom_fields custom_fields.asana_created_field "
    "custom_fields.created_by custom_fields.created_by.name custom_fields.currency_code "
    "custom_fields.custom_label custom_fields.custom_label_position custom_fields.date_value "
    "custom_fields.date_value.date custom_fields.date_value.date_time "
    "custom_fields.default_access_level custom_fields.description custom_fields.display_value "
    "custom_fields.enabled custom_fields.enum_options custom_fields.enum_options.color "
    "custom_fields.enum_options.enabled custom_fields.enum_options.name custom_fields.enum_value "
    "custom_fields.enum_value.color custom_fields.enum_value.enabled "
    "custom_fields.enum_value.name custom_fields.format custom_fields.has_notifications_enabled "
    "custom_fields.html_text_value custom_fields.id_prefix custom_fields.input_restrictions "
    "custom_fields.is_formula_field custom_fields.is_global_to_workspace "
    "custom_fields.is_value_read_only custom_fields.multi_enum_values "
    "custom_fields.multi_enum_values.color custom_fields.multi_enum_values.enabled "
    "custom_fields.multi_enum_values.name custom_fields.name custom_fields.number_value "
    "custom_fields.people_value custom_fields.people_value.name custom_fields.precision "
    "custom_fields.privacy_setting custom_fields.reference_value "
    "custom_fields.reference_value.name custom_fields.representation_type "
    "custom_fields.resource_subtype custom_fields.text_value custom_fields.type custom_type "
    "custom_type.name custom_type_status_option custom_type_status_option.name dependencies "
    "dependents due_at due_on external external.data followers followers.name hearted hearts "
    "hearts.user hearts.user.name html_notes is_rendered_as_separator liked likes likes.user "
    "likes.user.name memberships memberships.project memberships.project.name memberships.section "
    "memberships.section.name modified_at name notes num_hearts num_likes num_subtasks parent "
    "parent.created_by parent.name parent.resource_subtype permalink_url projects projects.name "
    "resource_subtype start_at start_on tags tags.name workspace workspace.name"
)
PROJECT_FIELDS: Final = _fields(
    "archived color completed completed_at completed_by completed_by.name created_at "
    "created_from_template created_from_template.name current_status current_status.author "
    "current_status.author.name current_status.color current_status.created_at "
    "current_status.created_by current_status.created_by.name current_status.html_text "
    "current_status.modified_at current_status.text current_status.title current_status_update "
    "current_status_update.resource_subtype current_status_update.title custom_field_settings "
    "custom_field_settings.custom_field custom_field_settings.custom_field.asana_created_field "
    "custom_field_settings.custom_field.created_by "
    "custom_field_settings.custom_field.created_by.name "
    "custom_field_settings.custom_field.currency_code "
    "custom_field_settings.custom_field.custom_label "
    "custom_field_settings.custom_field.custom_label_position "
    "custom_field_settings.custom_field.date_value "
    "custom_field_settings.custom_field.date_value.date "
    "custom_field_settings.custom_field.date_value.date_time "
    "custom_field_settings.custom_field.default_access_level "
    "custom_field_settings.custom_field.description "
    "custom_field_settings.custom_field.display_value custom_field_settings.custom_field.enabled "
    "custom_field_settings.custom_field.enum_options "
    "custom_field_settings.custom_field.enum_options.color "
    "custom_field_settings.custom_field.enum_options.enabled "
    "custom_field_settings.custom_field.enum_options.name "
    "custom_field_settings.custom_field.enum_value "
    "custom_field_settings.custom_field.enum_value.color "
    "custom_field_settings.custom_field.enum_value.enabled "
    "custom_field_settings.custom_field.enum_value.name custom_field_settings.custom_field.format "
    "custom_field_settings.custom_field.has_notifications_enabled "
    "custom_field_settings.custom_field.html_text_value "
    "custom_field_settings.custom_field.id_prefix "
    "custom_field_settings.custom_field.input_restrictions "
    "custom_field_settings.custom_field.is_formula_field "
    "custom_field_settings.custom_field.is_global_to_workspace "
    "custom_field_settings.custom_field.is_value_read_only "
    "custom_field_settings.custom_field.multi_enum_values "
    "custom_field_settings.custom_field.multi_enum_values.color "
    "custom_field_settings.custom_field.multi_enum_values.enabled "
    "custom_field_settings.custom_field.multi_enum_values.name "
    "custom_field_settings.custom_field.name custom_field_settings.custom_field.number_value "
    "custom_field_settings.custom_field.people_value "
    "custom_field_settings.custom_field.people_value.name "
    "custom_field_settings.custom_field.precision "
    "custom_field_settings.custom_field.privacy_setting "
    "custom_field_settings.custom_field.reference_value "
    "custom_field_settings.custom_field.reference_value.name "
    "custom_field_settings.custom_field.representation_type "
    "custom_field_settings.custom_field.resource_subtype "
    "custom_field_settings.custom_field.text_value custom_field_settings.custom_field.type "
    "custom_field_settings.is_important custom_field_settings.parent "
    "custom_field_settings.parent.name custom_field_settings.project "
    "custom_field_settings.project.name custom_fields custom_fields.date_value "
    "custom_fields.date_value.date custom_fields.date_value.date_time custom_fields.display_value "
    "custom_fields.enabled custom_fields.enum_options custom_fields.enum_options.color "
    "custom_fields.enum_options.enabled custom_fields.enum_options.name custom_fields.enum_value "
    "custom_fields.enum_value.color custom_fields.enum_value.enabled "
    "custom_fields.enum_value.name custom_fields.id_prefix custom_fields.input_restrictions "
    "custom_fields.is_formula_field custom_fields.multi_enum_values "
    "custom_fields.multi_enum_values.color custom_fields.multi_enum_values.enabled "
    "custom_fields.multi_enum_values.name custom_fields.name custom_fields.number_value "
    "custom_fields.representation_type custom_fields.text_value custom_fields.type "
    "default_access_level default_view due_date due_on followers followers.name html_notes icon "
    "members members.name minimum_access_level_for_customization minimum_access_level_for_sharing "
    "modified_at name notes owner permalink_url privacy_setting project_brief public start_on "
    "team team.name workspace workspace.name"
)
USER_FIELDS: Final = _fields(
    "custom_fields custom_fields.date_value custom_fields.date_value.date "
    "custom_fields.date_value.date_time custom_fields.display_value custom_fields.enabled "
    "custom_fields.enum_options custom_fields.enum_options.color "
    "custom_fields.enum_options.enabled custom_fields.enum_options.name custom_fields.enum_value "
    "custom_fields.enum_value.color custom_fields.enum_value.enabled "
    "custom_fields.enum_value.name custom_fields.id_prefix custom_fields.input_restrictions "
    "custom_fields.is_formula_field custom_fields.multi_enum_values "
    "custom_fields.multi_enum_values.color custom_fields.multi_enum_values.enabled "
    "custom_fields.multi_enum_values.name custom_fields.name custom_fields.number_value "
    "custom_fields.representation_type custom_fields.text_value custom_fields.type email name "
    "photo photo.image_1024x1024 photo.image_128x128 photo.image_21x21 photo.image_27x27 "
    "photo.image_36x36 photo.image_60x60 workspaces workspaces.name"
)
WORKSPACE_FIELDS: Final = _fields("email_domains is_organization name")
SECTION_FIELDS: Final = _fields("created_at name project project.name projects projects.name")


class ApiError(Exception):
    """A refusal, answered with Asana's envelope ``{"errors": [{"message", "help"}]}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        _text(body).encode(),
        status_code=status,
        headers=dict(headers or {}),
        media_type="application/json; charset=UTF-8",
    )


def _errors(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return _json({"errors": [{"message": message, "help": _HELP}]}, status, headers)


def _iso(ms: int | None) -> str | None:
    """Asana's timestamps: UTC, milliseconds, ``Z`` (``2012-02-22T02:06:58.147Z``)."""
    if ms is None:
        return None
    moment = EPOCH + timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(moment: datetime) -> int:
    return (moment.astimezone(UTC) - EPOCH) // timedelta(milliseconds=1)


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def parse_opt_fields(value: str | None, allowed: frozenset[str]) -> Tree | None:
    """``opt_fields`` as a tree of paths; None when absent (compact records)."""
    if value is None:
        return None
    tree: Tree = {}
    for token in (t.strip() for t in value.split(",")):
        if not token or token in _PAGE_KEYS:
            continue
        if token not in allowed:
            # The spec enumerates each endpoint's fields; real Asana's answer to others is
            # UNVERIFIED, so the simulator refuses them to keep clients inside the spec.
            raise ApiError(400, f"opt_fields: Unknown field: {token}")
        node = tree
        for part in token.split("."):
            node = node.setdefault(part, {})
    return tree


def _ref(gid: str, resource_type: str, sub: Tree, attrs: Mapping[str, Any]) -> Json:
    """A nested object: ``gid`` always, plus what was asked for (``resource_type`` and ``name``
    when the field was named bare)."""
    out: Json = {"gid": gid}
    if not sub:
        out["resource_type"] = resource_type
        if "name" in attrs:
            out["name"] = attrs["name"]
        return out
    for key in sub:
        if key == "resource_type":
            out[key] = resource_type
        elif key in attrs:
            out[key] = attrs[key]
    return out


@dataclass(frozen=True, slots=True)
class _Event:
    seq: int
    #: Gids this event is visible under in ``/events?resource=`` (task, projects, parent).
    scopes: frozenset[str]
    body: Json


class AsanaSimulator:
    """An in-memory Asana workspace with seeded sales-ops data and test controls.

    ``app`` is the ASGI application. Every mutation and every clock change bumps an internal
    generation, which invalidates cached task lists.
    """

    def __init__(
        self,
        *,
        items: int = 300,
        projects: int = 3,
        seed: int = 7,
        email: str = "demo@example.com",
        token: str = DEMO_TOKEN,
        now: datetime | None = None,
    ) -> None:
        if now is not None and now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._now = (now or DEFAULT_NOW).astimezone(UTC)
        data = generate_dataset(
            items=items, projects=projects, seed=seed, now=self._now, email=email
        )
        self.token = token
        self.workspace_gid = data.workspace_gid
        self.me: User = data.me
        #: Users by gid, ``me`` included.
        self.users: dict[str, User] = {u.gid: u for u in (data.me, *data.users)}
        #: Projects by gid, hidden ones included.
        self.projects: dict[str, Project] = {p.gid: p for p in data.projects}
        self.sections: dict[str, Section] = {s.gid: s for p in data.projects for s in p.sections}
        self.tags: dict[str, Tag] = {t.gid: t for t in data.tags}
        self.story_points: CustomField = data.story_points
        self.priority: CustomField = data.priority
        #: Live tasks by gid (deleted ones are removed), milestones and subtasks included.
        self.tasks: dict[str, Task] = {t.gid: t for t in data.tasks}
        #: Task gids per project in the project's order (what ``/projects/{gid}/tasks`` lists).
        self._members: dict[str, list[str]] = {p.gid: [] for p in data.projects}
        for task in data.tasks:
            for project_gid, _section in task.memberships:
                self._members[project_gid].append(task.gid)
        self._next_gid = data.next_gid
        self._generation = 0
        self._requests = 0
        self._failures = FailureQueue()
        self._corrupt_next = False
        self._cache: dict[tuple[Any, ...], tuple[int, list[str]]] = {}
        self._trees: dict[tuple[str, str], Tree | None] = {}
        self._events: list[_Event] = []
        self._sync_tokens: dict[str, tuple[str, int, int]] = {}

        routes = [
            Route("/users/me", self._user, methods=["GET"]),
            Route("/users/{user_gid}", self._user, methods=["GET"]),
            Route("/users", self._users, methods=["GET"]),
            Route("/workspaces", self._workspaces, methods=["GET"]),
            Route("/workspaces/{workspace_gid}", self._workspace, methods=["GET"]),
            Route("/workspaces/{workspace_gid}/projects", self._projects, methods=["GET"]),
            Route("/projects", self._projects, methods=["GET"]),
            Route("/projects/{project_gid}", self._project, methods=["GET"]),
            Route("/projects/{project_gid}/sections", self._sections, methods=["GET"]),
            Route("/projects/{project_gid}/tasks", self._project_tasks, methods=["GET"]),
            Route("/tasks", self._tasks, methods=["GET"]),
            Route("/tasks/{task_gid}", self._task, methods=["GET"]),
            Route("/tasks/{task_gid}/subtasks", self._subtasks, methods=["GET"]),
            Route("/events", self._events_page, methods=["GET"]),
        ]
        router = Starlette(
            routes=routes,
            exception_handlers={ApiError: self._on_error, HTTPException: self._on_error},
        )
        router.router.redirect_slashes = False
        self._router: ASGIApp = router
        self.app: ASGIApp = AsgiEntry(self._handle)

    # -- clock ---------------------------------------------------------------------------

    def clock(self) -> datetime:
        """The simulator's "now" (UTC); fixed unless set or advanced."""
        return self._now

    def set_clock(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._now = now.astimezone(UTC)
        self._touch()

    def advance(self, seconds: float) -> None:
        self.set_clock(self._now + timedelta(seconds=seconds))

    def _now_ms(self) -> int:
        return _ms(self._now)

    # -- mutations -----------------------------------------------------------------------

    def update_task(
        self,
        gid: str,
        *,
        name: str | None = None,
        completed: bool | None = None,
        assignee_email: str | None = None,
        story_points: float | None = None,
        due_on: date | None = None,
        notes: str | None = None,
    ) -> None:
        """Change a task like a user would; None leaves a field alone, ``assignee_email=""``
        unassigns. Each changed field moves ``modified_at`` and records a ``changed`` event."""
        task = self._live(gid)
        now = self._now_ms()
        changed: list[str] = []
        if name is not None:
            task.name = name
            changed.append("name")
        if completed is not None:
            task.completed = completed
            task.completed_ms = now if completed else None
            changed.append("completed")
        if assignee_email is not None:
            task.assignee = self._user_by_email(assignee_email) if assignee_email else None
            changed.append("assignee")
        if story_points is not None:
            task.story_points = float(story_points)
            changed.append("custom_fields")
        if due_on is not None:
            task.due_on, task.due_at_ms = due_on, None
            changed.append("due_on")
        if notes is not None:
            task.notes = notes
            changed.append("notes")
        task.modified_ms = task.touched_ms = now
        for field in changed:
            self._record(task, "changed", change={"field": field, "action": "changed"})
        self._touch()

    def move_task(self, gid: str, section_name: str, *, project_gid: str | None = None) -> None:
        """Move a task to another section of one of its projects (the first by default).

        Moving between containers does not change ``modified_at``, but ``modified_since``
        counts the new association (FACTS.md §3.3).
        """
        task = self._live(gid)
        index = 0
        if project_gid is not None:
            index = [p for p, _ in task.memberships].index(project_gid)
        project = self.projects[task.memberships[index][0]]
        section = self._section_named(project, section_name)
        task.memberships[index] = (project.gid, section.gid)
        task.touched_ms = self._now_ms()
        self._record(task, "added", parent=self._section_ref(section))
        self._touch()

    def add_task(
        self,
        project_gid: str,
        *,
        name: str,
        section: str = "Backlog",
        milestone: bool = False,
        assignee_email: str | None = None,
        story_points: float | None = None,
        due_on: date | None = None,
    ) -> str:
        """Create a task (or a milestone) at the bottom of a project section; returns its gid."""
        project = self.projects[project_gid]
        column = self._section_named(project, section)
        now = self._now_ms()
        task = Task(
            gid=self._new_gid(),
            name=name,
            resource_subtype="milestone" if milestone else "default_task",
            created_ms=now,
            modified_ms=now,
            touched_ms=now,
            completed=False,
            completed_ms=None,
            assignee=self._user_by_email(assignee_email) if assignee_email else None,
            memberships=[(project.gid, column.gid)],
            parent=None,
            subtasks=[],
            tags=(),
            due_on=due_on,
            due_at_ms=None,
            start_on=None,
            story_points=None if story_points is None else float(story_points),
            priority=None,
        )
        self.tasks[task.gid] = task
        self._members[project.gid].append(task.gid)
        self._record(task, "added", parent=self._project_ref(project))
        self._touch()
        return task.gid

    def add_subtask(self, parent_gid: str, *, name: str) -> str:
        """Create a subtask (in no project, as Asana does); the parent's ``modified_at`` stays."""
        parent = self._live(parent_gid)
        now = self._now_ms()
        task = Task(
            gid=self._new_gid(),
            name=name,
            resource_subtype="default_task",
            created_ms=now,
            modified_ms=now,
            touched_ms=now,
            completed=False,
            completed_ms=None,
            assignee=None,
            memberships=[],
            parent=parent.gid,
            subtasks=[],
            tags=(),
            due_on=None,
            due_at_ms=None,
            start_on=None,
            story_points=None,
            priority=None,
        )
        self.tasks[task.gid] = task
        parent.subtasks.append(task.gid)
        self._record(task, "added", parent={"gid": parent.gid, "resource_type": "task"})
        self._touch()
        return task.gid

    def delete_task(self, gid: str) -> None:
        """Delete a task and, as Asana does, its subtasks (recorded as ``deleted`` events)."""
        task = self._live(gid)
        for child in list(task.subtasks):
            if child in self.tasks:
                self.delete_task(child)
        self._record(task, "deleted")
        del self.tasks[gid]
        for project_gid, _section in task.memberships:
            members = self._members.get(project_gid)
            if members is not None and gid in members:
                members.remove(gid)
        if task.parent is not None and task.parent in self.tasks:
            siblings = self.tasks[task.parent].subtasks
            if gid in siblings:
                siblings.remove(gid)
        self._touch()

    def archive_project(self, project_gid: str, archived: bool = True) -> None:
        """Archive (or restore) a project: it and its tasks stay readable."""
        project = self.projects[project_gid]
        project.archived = archived
        project.modified_ms = self._now_ms()
        self._append_event(
            frozenset({project.gid}),
            {
                "user": self._user_ref(self.me),
                "resource": self._project_ref(project),
                "type": "project",
                "action": "changed",
                "parent": None,
                "created_at": _iso(self._now_ms()),
                "change": {"field": "archived", "action": "changed"},
            },
        )
        self._touch()

    def hide_project(self, project_gid: str) -> None:
        """The credentials lose access: 403 on the project and on tasks only it holds."""
        self.projects[project_gid].hidden = True
        self._touch()

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

        A str ``body`` is sent as text/plain (a proxy's error page), a dict as JSON; the default
        is Asana's error envelope (the documented rate-limit message for 429).
        """
        self._failures.add(
            status, count=count, retry_after=retry_after, body=body, path_contains=path_contains
        )

    def corrupt_next_task_page(self) -> None:
        """The next non-empty task list carries a ``modified_at`` that is not a date-time."""
        self._corrupt_next = True

    # -- webhooks ------------------------------------------------------------------------

    @staticmethod
    def handshake(secret: str) -> Delivery:
        """The POST Asana sends while a webhook is being created (FACTS.md §3.5)."""
        return Delivery(body=b"", headers={"X-Hook-Secret": secret})

    @staticmethod
    def webhook_delivery(events: Sequence[Json], *, secret: str) -> Delivery:
        """``{"events": [...]}`` signed with ``X-Hook-Signature`` (hex HMAC-SHA256, §3.5)."""
        body = _text({"events": list(events)}).encode()
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return Delivery(
            body=body,
            headers={"X-Hook-Signature": signature, "Content-Type": "application/json"},
        )

    def heartbeat(self, *, secret: str) -> Delivery:
        """The empty delivery sent at the handshake and every 8 hours."""
        return self.webhook_delivery([], secret=secret)

    def task_event(self, gid: str, action: str = "changed") -> Json:
        """A compact webhook event about one task, as a delivery carries it."""
        event: Json = {
            "user": self._user_ref(self.me),
            "resource": {"gid": gid, "resource_type": "task"},
            "type": "task",
            "action": action,
            "parent": None,
            "created_at": _iso(self._now_ms()),
        }
        if action == "changed":
            event["change"] = {"field": "name", "action": "changed"}
        return event

    @property
    def events(self) -> list[Json]:
        """Every event recorded so far, oldest first (what webhooks would have delivered)."""
        return [e.body for e in self._events]

    # -- observation ---------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        """HTTP requests served, failures and 401s included."""
        return self._requests

    def work_item_gids(self) -> list[str]:
        """Live, visible tasks and subtasks that are not milestones, in gid order."""
        return [
            t.gid
            for t in self.tasks.values()
            if t.resource_subtype != "milestone" and self._task_visible(t)
        ]

    def milestone_gids(self) -> list[str]:
        return [
            t.gid
            for t in self.tasks.values()
            if t.resource_subtype == "milestone" and self._task_visible(t)
        ]

    def project_task_gids(self, project_gid: str) -> list[str]:
        """The gids ``/projects/{gid}/tasks`` lists, in the project's order (milestones and
        tasks in several projects included; subtasks only if added to the project)."""
        return list(self._members[project_gid])

    def project_named(self, name: str) -> Project:
        for project in self.projects.values():
            if project.name == name:
                return project
        raise KeyError(f"no project named {name!r}")

    def section_of(self, gid: str, project_gid: str | None = None) -> str:
        """The name of the section a task sits in (in its first project by default)."""
        task = self._live(gid)
        for candidate, section_gid in task.memberships:
            if project_gid is None or candidate == project_gid:
                return self.sections[section_gid].name
        raise KeyError(f"task {gid} is in no section of {project_gid}")

    # -- lookups -------------------------------------------------------------------------

    def _touch(self) -> None:
        self._generation += 1

    def _new_gid(self) -> str:
        gid = self._next_gid
        self._next_gid += 7
        return str(gid)

    def _live(self, gid: str) -> Task:
        task = self.tasks.get(str(gid))
        if task is None:
            raise KeyError(f"no live task {gid!r}")
        return task

    def _user_by_email(self, email: str) -> User:
        for user in self.users.values():
            if user.email.lower() == email.lower():
                return user
        known = sorted(u.email for u in self.users.values())
        raise ValueError(f"no user with email {email!r}; known: {known}")

    def _section_named(self, project: Project, name: str) -> Section:
        for section in project.sections:
            if section.name.casefold() == name.casefold():
                return section
        raise ValueError(f"no section {name!r} in {project.name!r}; known: {SECTION_NAMES}")

    def _project_visible(self, gid: str) -> bool:
        project = self.projects.get(gid)
        return project is not None and not project.hidden

    def _task_visible(self, task: Task) -> bool:
        if any(self._project_visible(p) for p, _ in task.memberships):
            return True
        parent = self.tasks.get(task.parent) if task.parent is not None else None
        return parent is not None and self._task_visible(parent)

    def _visible_project(self, gid: str) -> Project:
        project = self.projects.get(gid)
        if project is None:
            raise ApiError(404, f"project: Unknown object: {gid}")
        if project.hidden:
            raise ApiError(403, "Forbidden")
        return project

    def _visible_task(self, gid: str) -> Task:
        task = self.tasks.get(gid)
        if task is None:
            raise ApiError(404, f"task: Unknown object: {gid}")
        if not self._task_visible(task):
            raise ApiError(403, "Forbidden")
        return task

    # -- events --------------------------------------------------------------------------

    def _record(
        self,
        task: Task,
        action: str,
        *,
        parent: Json | None = None,
        change: Json | None = None,
    ) -> None:
        scopes = {task.gid, *(p for p, _ in task.memberships)}
        ancestor = task.parent
        while ancestor is not None and ancestor in self.tasks:
            scopes.add(ancestor)
            above = self.tasks[ancestor]
            scopes.update(p for p, _ in above.memberships)
            ancestor = above.parent
        body: Json = {
            "user": self._user_ref(self.me),
            # Events are compact: only gid and resource_type (and the name) (§3.5).
            "resource": {"gid": task.gid, "resource_type": "task", "name": task.name},
            "type": "task",
            "action": action,
            "parent": parent,
            "created_at": _iso(self._now_ms()),
        }
        if change is not None:
            body["change"] = change
        self._append_event(frozenset(scopes), body)

    def _append_event(self, scopes: frozenset[str], body: Json) -> None:
        self._events.append(_Event(len(self._events) + 1, scopes, body))

    def _issue_sync_token(self, resource: str, seq: int) -> str:
        token = hashlib.md5(  # noqa: S324 - an opaque token, not a security measure
            f"{resource}:{seq}:{len(self._sync_tokens)}".encode()
        ).hexdigest()
        self._sync_tokens[token] = (resource, seq, self._now_ms())
        return token

    # -- rendering -----------------------------------------------------------------------

    def _tree(self, request: Request, allowed: frozenset[str], family: str) -> Tree | None:
        raw = request.query_params.get("opt_fields")
        if raw is None:
            return None
        key = (family, raw)
        if key not in self._trees:
            self._trees[key] = parse_opt_fields(raw, allowed)
        return self._trees[key]

    def _user_ref(self, user: User) -> Json:
        return {"gid": user.gid, "resource_type": "user", "name": user.name}

    def _project_ref(self, project: Project) -> Json:
        return {"gid": project.gid, "resource_type": "project", "name": project.name}

    def _section_ref(self, section: Section) -> Json:
        return {"gid": section.gid, "resource_type": "section", "name": section.name}

    def _workspace_json(self, tree: Tree | None) -> Json:
        attrs: Json = {
            "name": WORKSPACE_NAME,
            "is_organization": True,
            "email_domains": ["northwind.example"],
        }
        return self._object(self.workspace_gid, "workspace", tree, attrs)

    def _object(self, gid: str, resource_type: str, tree: Tree | None, attrs: Json) -> Json:
        if tree is None:
            return {"gid": gid, "resource_type": resource_type, "name": attrs.get("name")}
        out: Json = {"gid": gid}
        for key, sub in tree.items():
            if key == "resource_type":
                out[key] = resource_type
            elif key in attrs:
                value = attrs[key]
                out[key] = value(sub) if callable(value) else value
        return out

    def _user_json(self, user: User, tree: Tree | None) -> Json:
        attrs: Json = {
            "name": user.name,
            "email": user.email,
            "photo": None,
            "workspaces": lambda sub: [
                _ref(self.workspace_gid, "workspace", sub, {"name": WORKSPACE_NAME})
            ],
        }
        return self._object(user.gid, "user", tree, attrs)

    def _project_json(self, project: Project, tree: Tree | None) -> Json:
        attrs: Json = {
            "name": project.name,
            "archived": project.archived,
            "color": project.color,
            "completed": False,
            "completed_at": None,
            "created_at": _iso(project.created_ms),
            "modified_at": _iso(project.modified_ms),
            "notes": project.notes,
            "public": True,
            "privacy_setting": "public_to_workspace",
            "default_view": "board",
            "due_on": None,
            "due_date": None,
            "start_on": None,
            "permalink_url": f"{SITE}/1/{self.workspace_gid}/project/{project.gid}",
            "owner": lambda sub: _ref(project.owner.gid, "user", sub, {"name": project.owner.name}),
            "workspace": lambda sub: _ref(
                self.workspace_gid, "workspace", sub, {"name": WORKSPACE_NAME}
            ),
            "custom_fields": [],
        }
        return self._object(project.gid, "project", tree, attrs)

    def _section_json(self, section: Section, tree: Tree | None) -> Json:
        project = self.projects[section.project_gid]
        attrs: Json = {
            "name": section.name,
            "created_at": _iso(section.created_ms),
            "project": lambda sub: _ref(project.gid, "project", sub, {"name": project.name}),
            "projects": lambda sub: [_ref(project.gid, "project", sub, {"name": project.name})],
        }
        return self._object(section.gid, "section", tree, attrs)

    def _custom_field_values(self, task: Task, sub: Tree) -> list[Json]:
        # Custom fields come from the projects' settings: a subtask in no project has none.
        if not task.memberships:
            return []
        points = self.story_points
        values: list[Json] = []
        number_attrs: Json = {
            "name": points.name,
            "type": "number",
            "resource_subtype": "number",
            "representation_type": "number",
            "precision": points.precision,
            "enabled": True,
            "number_value": task.story_points,
            "display_value": None if task.story_points is None else f"{task.story_points:g}",
            "is_formula_field": False,
        }
        values.append(self._value(points.gid, sub, number_attrs))
        option = task.priority
        enum_attrs: Json = {
            "name": self.priority.name,
            "type": "enum",
            "resource_subtype": "enum",
            "representation_type": "enum",
            "enabled": True,
            "enum_value": lambda s: None if option is None else self._option(option, s),
            "enum_options": lambda s: [self._option(o, s) for o in self.priority.options],
            "display_value": None if option is None else option.name,
            "is_formula_field": False,
        }
        values.append(self._value(self.priority.gid, sub, enum_attrs))
        return values

    def _value(self, gid: str, sub: Tree, attrs: Json) -> Json:
        if not sub:
            keys: Iterable[str] = (
                "name",
                "type",
                "resource_subtype",
                "display_value",
                "number_value" if attrs["type"] == "number" else "enum_value",
            )
            sub = {k: {} for k in keys}
        out: Json = {"gid": gid}
        for key, inner in sub.items():
            if key == "resource_type":
                out[key] = "custom_field"
            elif key in attrs:
                value = attrs[key]
                out[key] = value(inner) if callable(value) else value
        return out

    def _option(self, option: EnumOption, sub: Tree) -> Json:
        attrs = {"name": option.name, "color": option.color, "enabled": True}
        return _ref(option.gid, "enum_option", sub, attrs)

    def _memberships(self, task: Task, sub: Tree) -> list[Json]:
        out: list[Json] = []
        for project_gid, section_gid in task.memberships:
            if not self._project_visible(project_gid):
                continue
            project, section = self.projects[project_gid], self.sections[section_gid]
            parts = sub or {"project": {}, "section": {}}
            item: Json = {}
            if "project" in parts:
                item["project"] = _ref(
                    project.gid, "project", parts["project"], {"name": project.name}
                )
            if "section" in parts:
                item["section"] = _ref(
                    section.gid, "section", parts["section"], {"name": section.name}
                )
            out.append(item)
        return out

    def _task_json(self, task: Task, tree: Tree | None) -> Json:
        if tree is None:
            return {
                "gid": task.gid,
                "resource_type": "task",
                "name": task.name,
                "resource_subtype": task.resource_subtype,
            }
        out: Json = {"gid": task.gid}
        for key, sub in tree.items():
            render = _TASK_FIELDS_RENDERED.get(key)
            if render is not None:
                out[key] = render(self, task, sub)
        return out

    # -- ASGI ----------------------------------------------------------------------------

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._router(scope, receive, send)
            return
        self._requests += 1
        # Like every HTTP server, Asana dates its answers; here by the simulated clock.
        stamp = format_datetime(self._now, usegmt=True).encode()

        reply = send

        async def dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"date", stamp)]
                message = {**message, "headers": headers}
            await reply(message)

        send = dated
        path: str = scope["path"]
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            scope = {**scope, "path": path[len(API_PREFIX) :] or "/", "asana_prefix": API_PREFIX}
        failure = self._failures.take(scope["path"], scope["method"])
        if failure is not None:
            await self._failure_response(failure)(scope, receive, send)
            return
        if not self._authorized(scope):
            await _errors(401, "Not Authorized")(scope, receive, send)
            return
        await self._router(scope, receive, send)

    def _failure_response(self, failure: Failure) -> Response:
        headers: dict[str, str] = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = failure.retry_after
        if isinstance(failure.body, str):
            return Response(failure.body, failure.status, headers, media_type="text/plain")
        if isinstance(failure.body, dict):
            return _json(failure.body, failure.status, headers)
        if failure.status == 429:
            return _json({"errors": [{"message": _RATE_LIMITED}]}, 429, headers)
        if failure.status >= 500:
            body = {"errors": [{"message": "Server Error", "phrase": "6 sad squid snuggle softly"}]}
            return _json(body, failure.status, headers)
        return _errors(failure.status, "Request failed", headers)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    token.strip(), self.token.encode()
                )
        return False

    async def _on_error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, ApiError):
            return _errors(exc.status, exc.message)
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return _errors(404, "No matching route for request")
        return _errors(exc.status_code, str(exc.detail))

    # -- pagination ----------------------------------------------------------------------

    def _page(
        self,
        request: Request,
        gids: Sequence[str],
        render: Callable[[str], Json],
        *,
        corruptible: bool = False,
    ) -> Response:
        """``{"data": [...], "next_page": ...}`` over an ordered list of gids."""
        params = request.query_params
        raw_limit = params.get("limit")
        if raw_limit is None:
            return _json({"data": [render(g) for g in gids[:_UNPAGINATED_CAP]]})
        try:
            limit = int(raw_limit)
        except ValueError:
            raise ApiError(400, f"limit: Not a valid integer: {raw_limit}") from None
        if not 1 <= limit <= 100:
            raise ApiError(400, "limit: Must be between 1 and 100")
        fingerprint = _fingerprint(request)
        offset = params.get("offset")
        start = 0 if offset is None else _resume(offset, fingerprint, gids)
        page = list(gids[start : start + limit])
        data = [render(g) for g in page]
        if corruptible and self._corrupt_next and data:
            self._corrupt_next = False
            data[0] = {**data[0], "modified_at": "yesterday afternoon"}
        end = start + len(page)
        next_page: Json | None = None
        if end < len(gids):
            token = _encode_offset(fingerprint, end, page[-1])
            query = [(k, v) for k, v in params.multi_items() if k != "offset"]
            query.append(("offset", token))
            rel = request.url.path + "?" + "&".join(f"{k}={_quote(v)}" for k, v in query)
            prefix = request.scope.get("asana_prefix", "")
            base = f"{request.url.scheme}://{request.url.netloc}{prefix}"
            next_page = {"offset": token, "path": rel, "uri": base + rel}
        return _json({"data": data, "next_page": next_page})

    def _cached(self, key: tuple[Any, ...], build: Callable[[], list[str]]) -> list[str]:
        hit = self._cache.get(key)
        if hit is not None and hit[0] == self._generation:
            return hit[1]
        gids = build()
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[key] = (self._generation, gids)
        return gids

    # -- endpoints: users and workspaces -------------------------------------------------

    async def _user(self, request: Request) -> Response:
        wanted = request.path_params.get("user_gid", "me")
        user: User | None
        if wanted == "me":
            user = self.me
        elif "@" in wanted:
            user = next((u for u in self.users.values() if u.email == wanted.lower()), None)
        else:
            user = self.users.get(wanted)
        if user is None:
            raise ApiError(404, f"user: Unknown object: {wanted}")
        tree = self._tree(request, USER_FIELDS, "user")
        return _json({"data": self._user_json(user, tree)})

    async def _users(self, request: Request) -> Response:
        workspace = request.query_params.get("workspace")
        if workspace is not None and workspace != self.workspace_gid:
            raise ApiError(404, f"workspace: Unknown object: {workspace}")
        tree = self._tree(request, USER_FIELDS, "user")
        gids = sorted(self.users, key=int)  # "Results are sorted by user ID."
        return self._page(request, gids, lambda g: self._user_json(self.users[g], tree))

    async def _workspaces(self, request: Request) -> Response:
        tree = self._tree(request, WORKSPACE_FIELDS, "workspace")
        return self._page(request, [self.workspace_gid], lambda _g: self._workspace_json(tree))

    async def _workspace(self, request: Request) -> Response:
        gid = request.path_params["workspace_gid"]
        if gid != self.workspace_gid:
            raise ApiError(404, f"workspace: Unknown object: {gid}")
        return _json({"data": self._workspace_json(self._tree(request, WORKSPACE_FIELDS, "ws"))})

    # -- endpoints: projects and sections ------------------------------------------------

    async def _projects(self, request: Request) -> Response:
        params = request.query_params
        workspace = request.path_params.get("workspace_gid") or params.get("workspace")
        if workspace is not None and workspace != self.workspace_gid:
            raise ApiError(404, f"workspace: Unknown object: {workspace}")
        if params.get("team"):
            raise ApiError(400, "team: This filter is deprecated; use GET /memberships")
        archived = _bool_param(params.get("archived"), "archived")
        gids = [
            p.gid
            for p in self.projects.values()
            if not p.hidden and (archived is None or p.archived is archived)
        ]
        tree = self._tree(request, PROJECT_FIELDS, "project")
        return self._page(request, gids, lambda g: self._project_json(self.projects[g], tree))

    async def _project(self, request: Request) -> Response:
        project = self._visible_project(request.path_params["project_gid"])
        tree = self._tree(request, PROJECT_FIELDS, "project")
        return _json({"data": self._project_json(project, tree)})

    async def _sections(self, request: Request) -> Response:
        project = self._visible_project(request.path_params["project_gid"])
        tree = self._tree(request, SECTION_FIELDS, "section")
        gids = [s.gid for s in project.sections]
        return self._page(request, gids, lambda g: self._section_json(self.sections[g], tree))

    # -- endpoints: tasks ----------------------------------------------------------------

    def _render_task(self, tree: Tree | None) -> Callable[[str], Json]:
        return lambda gid: self._task_json(self.tasks[gid], tree)

    async def _project_tasks(self, request: Request) -> Response:
        project = self._visible_project(request.path_params["project_gid"])
        completed_since = self._since(request.query_params.get("completed_since"), now_ok=True)
        tree = self._tree(request, TASK_FIELDS, "task")
        gids = self._cached(
            ("project", project.gid, completed_since),
            lambda: self._filter(self._members[project.gid], completed_since, None),
        )
        return self._page(request, gids, self._render_task(tree), corruptible=True)

    async def _tasks(self, request: Request) -> Response:
        params = request.query_params
        project, section, tag = params.get("project"), params.get("section"), params.get("tag")
        assignee, workspace = params.get("assignee"), params.get("workspace")
        if (assignee is None) != (workspace is None):
            raise ApiError(400, "assignee, workspace: Must specify both or neither")
        chosen = [name for name in (project, section, tag, assignee) if name is not None]
        if len(chosen) != 1 and not (project is not None and section is not None):
            raise ApiError(
                400,
                "Must specify exactly one of project, tag, section, or assignee + workspace",
            )
        completed_since = self._since(params.get("completed_since"), now_ok=True)
        modified_since = self._since(params.get("modified_since"), now_ok=False)
        tree = self._tree(request, TASK_FIELDS, "task")
        key = ("tasks", project, section, tag, assignee, workspace, completed_since, modified_since)
        gids = self._cached(
            key,
            lambda: self._filter(
                self._source(project, section, tag, assignee, workspace),
                completed_since,
                modified_since,
            ),
        )
        return self._page(request, gids, self._render_task(tree), corruptible=True)

    def _source(
        self,
        project: str | None,
        section: str | None,
        tag: str | None,
        assignee: str | None,
        workspace: str | None,
    ) -> list[str]:
        if section is not None:
            found = self.sections.get(section)
            if found is None:
                raise ApiError(404, f"section: Unknown object: {section}")
            self._visible_project(found.project_gid)
            return [
                g
                for g in self._members[found.project_gid]
                if (found.project_gid, section) in self.tasks[g].memberships
            ]
        if project is not None:
            return self._members[self._visible_project(project).gid]
        if tag is not None:
            if tag not in self.tags:
                raise ApiError(404, f"tag: Unknown object: {tag}")
            return [
                t.gid
                for t in self.tasks.values()
                if any(g.gid == tag for g in t.tags) and self._task_visible(t)
            ]
        if workspace != self.workspace_gid:
            raise ApiError(404, f"workspace: Unknown object: {workspace}")
        user = self.me if assignee == "me" else self.users.get(str(assignee))
        if user is None:
            raise ApiError(404, f"assignee: Unknown object: {assignee}")
        return [t.gid for t in self.tasks.values() if t.assignee is user and self._task_visible(t)]

    def _filter(
        self, gids: Iterable[str], completed_since: int | None, modified_since: int | None
    ) -> list[str]:
        tasks = self.tasks
        out: list[str] = []
        for gid in gids:
            task = tasks[gid]
            if (
                completed_since is not None
                and task.completed
                and (task.completed_ms is None or task.completed_ms < completed_since)
            ):
                continue
            if modified_since is not None and task.touched_ms < modified_since:
                continue
            out.append(gid)
        return out

    def _since(self, value: str | None, *, now_ok: bool) -> int | None:
        if value is None:
            return None
        if now_ok and value == "now":
            return self._now_ms()
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(400, f"Invalid date-time: {value}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return _ms(moment)

    async def _task(self, request: Request) -> Response:
        task = self._visible_task(request.path_params["task_gid"])
        tree = self._tree(request, TASK_FIELDS, "task")
        return _json({"data": self._task_json(task, tree)})

    async def _subtasks(self, request: Request) -> Response:
        task = self._visible_task(request.path_params["task_gid"])
        tree = self._tree(request, TASK_FIELDS, "task")
        gids = [g for g in task.subtasks if g in self.tasks]
        return self._page(request, gids, self._render_task(tree))

    # -- endpoints: events ---------------------------------------------------------------

    async def _events_page(self, request: Request) -> Response:
        params = request.query_params
        resource = params.get("resource")
        if not resource:
            raise ApiError(400, "resource: Missing input")
        if resource in self.projects:
            self._visible_project(resource)
        else:
            self._visible_task(resource)
        token = params.get("sync")
        issued = self._sync_tokens.get(token) if token else None
        now = self._now_ms()
        if issued is None or issued[0] != resource or now - issued[2] > _SYNC_TOKEN_TTL_MS:
            fresh = self._issue_sync_token(resource, len(self._events))
            return _json({"errors": [{"message": _SYNC_EXPIRED}], "sync": fresh}, 412)
        after = issued[1]
        matching = [e for e in self._events[after:] if resource in e.scopes]
        batch = matching[:_EVENTS_PER_CALL]
        last = batch[-1].seq if len(matching) > _EVENTS_PER_CALL else len(self._events)
        body = {
            "data": [e.body for e in batch],
            "sync": self._issue_sync_token(resource, last),
            "has_more": len(matching) > _EVENTS_PER_CALL,
        }
        return _json(body)


def _task_assignee(sim: AsanaSimulator, task: Task, sub: Tree) -> Json | None:
    user = task.assignee
    if user is None:
        return None
    return _ref(user.gid, "user", sub, {"name": user.name})


def _task_parent(sim: AsanaSimulator, task: Task, sub: Tree) -> Json | None:
    parent = sim.tasks.get(task.parent) if task.parent is not None else None
    if parent is None:
        return None
    attrs = {"name": parent.name, "resource_subtype": parent.resource_subtype}
    return _ref(parent.gid, "task", sub, attrs)


def _task_projects(sim: AsanaSimulator, task: Task, sub: Tree) -> list[Json]:
    return [
        _ref(p, "project", sub, {"name": sim.projects[p].name})
        for p, _ in task.memberships
        if sim._project_visible(p)
    ]


def _task_due_at(sim: AsanaSimulator, task: Task, sub: Tree) -> str | None:
    return _iso(task.due_at_ms)


#: Task fields the simulator renders; other enumerated ones are accepted and left out.
_TASK_FIELDS_RENDERED: Final[dict[str, Callable[[AsanaSimulator, Task, Tree], Any]]] = {
    "resource_type": lambda sim, t, sub: "task",
    "name": lambda sim, t, sub: t.name,
    "resource_subtype": lambda sim, t, sub: t.resource_subtype,
    "approval_status": lambda sim, t, sub: (
        ("approved" if t.completed else "pending") if t.resource_subtype == "approval" else None
    ),
    "completed": lambda sim, t, sub: t.completed,
    "completed_at": lambda sim, t, sub: _iso(t.completed_ms),
    "created_at": lambda sim, t, sub: _iso(t.created_ms),
    "modified_at": lambda sim, t, sub: _iso(t.modified_ms),
    "due_on": lambda sim, t, sub: _day(t.due_on),
    "due_at": _task_due_at,
    "start_on": lambda sim, t, sub: _day(t.start_on),
    "start_at": lambda sim, t, sub: None,
    "notes": lambda sim, t, sub: t.notes,
    "num_subtasks": lambda sim, t, sub: sum(1 for s in t.subtasks if s in sim.tasks),
    "assignee": _task_assignee,
    "memberships": lambda sim, t, sub: sim._memberships(t, sub),
    "parent": _task_parent,
    "projects": _task_projects,
    "tags": lambda sim, t, sub: [_ref(g.gid, "tag", sub, {"name": g.name}) for g in t.tags],
    "custom_fields": lambda sim, t, sub: sim._custom_field_values(t, sub),
    "custom_type": lambda sim, t, sub: None,
    "custom_type_status_option": lambda sim, t, sub: None,
    "permalink_url": lambda sim, t, sub: f"{SITE}/1/{sim.workspace_gid}/task/{t.gid}",
    "workspace": lambda sim, t, sub: _ref(
        sim.workspace_gid, "workspace", sub, {"name": WORKSPACE_NAME}
    ),
}


# --------------------------------------------------------------------------------------------
# Request helpers
# --------------------------------------------------------------------------------------------


def _quote(value: str) -> str:
    return quote(value, safe=",:")


def _bool_param(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    if value in ("true", "false"):
        return value == "true"
    raise ApiError(400, f"{name}: Not a boolean: {value}")


def _fingerprint(request: Request) -> int:
    """What an offset belongs to: the path and the filters, not the page size or fields."""
    skip = {"offset", "limit", "opt_fields", "opt_pretty"}
    filters = sorted((k, v) for k, v in request.query_params.multi_items() if k not in skip)
    return zlib.crc32(_text([request.url.path, filters]).encode())


def _encode_offset(fingerprint: int, index: int, last_gid: str) -> str:
    # Opaque to clients, like Asana's JWT-looking tokens: the query, the position and the
    # last gid served, so a page stays consistent when tasks are added or deleted meanwhile.
    raw = _text([fingerprint, index, last_gid]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _resume(token: str, fingerprint: int, gids: Sequence[str]) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        owner, index, last_gid = json.loads(base64.urlsafe_b64decode(padded))
        if owner != fingerprint or not isinstance(index, int) or not isinstance(last_gid, str):
            raise ValueError("offset belongs to another query")
    except (ValueError, TypeError, binascii.Error):
        raise ApiError(
            400,
            "offset: Your pagination token is invalid or belongs to a different request. "
            "You can only pass in an offset that was returned by a previous request.",
        ) from None
    if 0 < index <= len(gids) and gids[index - 1] == last_gid:
        return index
    try:
        return list(gids).index(last_gid) + 1
    except ValueError:
        return min(index, len(gids))


# --------------------------------------------------------------------------------------------
# The vendor-neutral handle, and running it
# --------------------------------------------------------------------------------------------


class AsanaHandle:
    """:class:`sandbox.contract.Simulator` over an :class:`AsanaSimulator` with three projects
    ("CRM Migration", "Sales Kickoff 2027", "Quote-to-Cash Revamp")."""

    def __init__(self, *, items: int = 120, seed: int = 7) -> None:
        self.vendor = AsanaSimulator(items=items, projects=3, seed=seed)
        self.app: Any = self.vendor.app
        self.credentials: Mapping[str, str] = {"access_token": self.vendor.token}
        self.scope: tuple[str, ...] = ()
        self.options: Mapping[str, Any] = {"workspace": self.vendor.workspace_gid}
        self.signs_body = True

    def work_item_ids(self) -> list[str]:
        return self.vendor.work_item_gids()

    def touch_item(self, vendor_id: str, *, title: str) -> None:
        self.vendor.advance(timedelta(minutes=5).total_seconds())
        self.vendor.update_task(vendor_id, name=title)

    def delete_item(self, vendor_id: str) -> None:
        self.vendor.delete_task(vendor_id)

    def delivery(self, vendor_id: str, *, secret: str, url: str) -> Delivery:
        return self.vendor.webhook_delivery([self.vendor.task_event(vendor_id)], secret=secret)


def serve(host: str = "127.0.0.1", port: int = 8103, items: int = 5000, seed: int = 7) -> None:
    # The app dates its answers by the simulated clock; uvicorn must not add a second Date.
    run_on_loopback(
        "Asana", lambda: AsanaSimulator(items=items, seed=seed).app, host, port, date_header=False
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Asana simulator on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8103)
    parser.add_argument("--items", "--issues", dest="items", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"Asana simulator on http://{args.host}:{args.port} (Bearer {DEMO_TOKEN})")
    serve(args.host, args.port, args.items, args.seed)


if __name__ == "__main__":
    main()
