"""Typed shapes of the Worktile Open API responses we read.

Field names follow WORKTILE.md: the task object of §5 (reconstructed from third-party code, not
a captured response), the page envelope of §8, members of §4 and webhook deliveries of §12.
Worktile ids are Mongo ObjectIds under ``_id``; the models expose them as ``id`` and keep the
vendor spelling as the alias. Property shapes differ between endpoints (§5: V1 lists and
``get-tasks-by-ids`` give plain values, V2 and detail wrap them as ``{"value": ...}``), so the
properties model unwraps either form. Unknown fields are ignored (``Payload``), except in task
properties, whose keys are tenant-specific (custom properties such as ``qp_version``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from sync.connectors.base import Payload


def _unwrap(value: Any) -> Any:
    """``{"value": x}`` -> ``x`` (V2/detail property wrappers, WORKTILE.md §5)."""
    if isinstance(value, dict) and "value" in value and "date" not in value and "_id" not in value:
        return value["value"]
    return value


def _uid(value: Any) -> Any:
    """A user reference: a uid string, ``""`` for nobody, or an object carrying ``uid``."""
    value = _unwrap(value)
    if isinstance(value, dict):
        value = value.get("uid") or value.get("_id")
    if value == "":
        return None
    return value


def _uids(value: Any) -> Any:
    value = _unwrap(value)
    if value is None:
        return []
    if isinstance(value, list) and any(not isinstance(v, str) for v in value):
        return [uid for uid in map(_uid, value) if uid is not None]
    return value


def _list(value: Any) -> Any:
    value = _unwrap(value)
    return [] if value is None else value


def _empty_is_none(value: Any) -> Any:
    return None if value == "" else value


#: How each known property is normalised before validation (one pass per task).
_PROPERTY_FIXES = {
    "assignee": _uid,
    "participant": _uids,
    "start": _unwrap,
    "due": _unwrap,
    "priority": _unwrap,
    "tag": _list,
}


class WorktileDate(Payload):
    """``{"date": <epoch seconds>, "with_time": 0|1}`` (WORKTILE.md §5)."""

    date: int | None = None
    with_time: int | bool | None = None


class WorktileNamed(Payload):
    """Priority, tag, state or type: ``{_id, name, ...}``."""

    id: str | None = Field(default=None, alias="_id")
    name: str


class WorktileTaskState(Payload):
    id: str | None = Field(default=None, alias="_id")
    name: str
    #: The state category, an integer; 3 is every terminal state (WORKTILE.md §6).
    type: int | None = None


class WorktileTaskProperties(Payload):
    #: Tenant-specific property keys (§4: ``qp_version``, ...) are read by ``custom``.
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    assignee: str | None = None
    participant: list[str] = Field(default_factory=list)
    start: WorktileDate | None = None
    due: WorktileDate | None = None
    priority: WorktileNamed | None = None
    tag: list[WorktileNamed] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        """Unwrap ``{"value": ...}`` (§5), ``""`` -> no assignee, user objects -> uids."""
        if not isinstance(data, dict):
            return data
        fixed = dict(data)
        for key, fix in _PROPERTY_FIXES.items():
            if key in fixed:
                fixed[key] = fix(fixed[key])
        return fixed

    def custom(self, key: str) -> Any:
        """A tenant-specific property by its key (e.g. ``qp_version``), unwrapped."""
        return _unwrap((self.model_extra or {}).get(key))


class WorktileTask(Payload):
    """A task from ``get-project-tasks-by-page`` or ``get-tasks-by-ids`` (WORKTILE.md §5)."""

    id: str = Field(alias="_id")
    identifier: str | None = None
    title: str
    project_id: Annotated[str | None, BeforeValidator(_empty_is_none)] = None
    #: Epoch seconds (WORKTILE.md §5); ``completed_at`` is 0 until completed.
    created_at: int | None = None
    updated_at: int
    completed_at: int | None = None
    is_archived: bool = False
    state_type: int | None = None
    task_state: WorktileTaskState | None = None
    task_type: WorktileNamed | None = None
    parent_id: Annotated[str | None, BeforeValidator(_empty_is_none)] = None
    properties: WorktileTaskProperties = Field(default_factory=WorktileTaskProperties)

    @property
    def state_category_type(self) -> int | None:
        """``task_state.type``, mirrored at the top level as ``state_type`` (§6)."""
        if self.task_state is not None and self.task_state.type is not None:
            return self.task_state.type
        return self.state_type


class WorktileProject(Payload):
    """An item of ``get-projects-by-page``: ``_id`` and ``name`` are what sources show (§4);
    ``identifier`` and ``is_archived`` are read when present (UNVERIFIED, §10)."""

    id: str = Field(alias="_id")
    name: str
    identifier: str | None = None
    is_archived: bool = False
    visibility: int | None = None


class WorktileMember(Payload):
    """An item of ``contact/get-members-by-page``: ``uid`` or ``_id``, ``name``,
    ``display_name`` (WORKTILE.md §4)."""

    uid: str | None = None
    id: str | None = Field(default=None, alias="_id")
    name: str | None = None
    display_name: str | None = None

    @property
    def member_id(self) -> str | None:
        return self.uid or self.id


class WorktileTokenAnswer(Payload):
    """``POST /open-api/tenant-access-token`` (WORKTILE.md §3.1); C2 falls back to
    ``access_token``."""

    tenant_access_token: str | None = None
    access_token: str | None = None
    expires_in: int | None = None
    ok: bool | None = None
    error_code: int | None = None
    error: str | None = None

    @property
    def token(self) -> str | None:
        return self.tenant_access_token or self.access_token


class WorktileError(Payload):
    """An HTTP 200 refusal: ``{"ok": false, "error_code": 1103, "error": "..."}`` (§11)."""

    ok: bool
    error_code: int | None = None
    error: str | None = None


class WorktileHookRef(Payload):
    id: str | None = None
    name: str | None = None


class WorktileHookTask(Payload):
    id: str
    title: str | None = None
    identifier: str | None = None
    type: WorktileHookRef | None = None
    project: WorktileHookRef | None = None


class WorktileHookPayload(Payload):
    """Either a task itself (task created) or ``{task, update_by, from, to}`` (§12)."""

    id: str | None = None
    type: WorktileHookRef | None = None
    project: WorktileHookRef | None = None
    task: WorktileHookTask | None = None


class WorktileWebhook(Payload):
    """``{"event": "<name>", "payload": {...}}``; event names are UNVERIFIED (§12)."""

    event: str
    payload: WorktileHookPayload
