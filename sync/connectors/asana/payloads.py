"""Typed shapes of the Asana REST 1.0 responses we read.

Field names and nesting follow ``shared/vendor-api/asana/asana_oas.yaml`` (schemas
``TaskResponse``, ``ProjectResponse``, ``UserResponse``, ``WorkspaceCompact``,
``CustomFieldResponse``, ``EventResponse``). Only what mapping needs is typed; everything else
is kept (``extra="allow"``) for the raw copy.

One key is ours, not Asana's: ``pmbridge`` on a task holds the context the connector resolved
separately (the in-scope project the task is synced under, the assignee's e-mail from
``GET /users/{gid}``). It is written into the stored raw JSON too, so a stored task re-validates
into the same payload and re-maps the same way.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import AwareDatetime, Field

from sync.connectors.base import Payload


class AsanaRef(Payload):
    """A compact reference (``AsanaNamedResource``): gid always, name when asked for."""

    gid: str
    resource_type: str | None = None
    name: str | None = None


class AsanaUser(Payload):
    gid: str
    name: str | None = None
    #: Only ``GET /users`` and ``/users/{gid}`` list ``email`` among their ``opt_fields``.
    email: str | None = None


class AsanaWorkspace(Payload):
    gid: str
    name: str | None = None


class AsanaMe(Payload):
    """``GET /users/me`` with ``opt_fields=name,email,workspaces.name``."""

    gid: str
    name: str | None = None
    email: str | None = None
    workspaces: list[AsanaWorkspace] = Field(default_factory=list)


class AsanaProject(Payload):
    gid: str
    name: str
    archived: bool = False
    permalink_url: str | None = None
    workspace: AsanaRef | None = None


class AsanaMembership(Payload):
    """One entry of a task's ``memberships``: a project and the section it sits in there."""

    project: AsanaRef | None = None
    section: AsanaRef | None = None


class AsanaEnumValue(Payload):
    gid: str
    name: str | None = None


class AsanaCustomFieldValue(Payload):
    """A custom field value on a task (``CustomFieldResponse``); its gid is the field's."""

    gid: str
    name: str | None = None
    type: str | None = None
    resource_subtype: str | None = None
    number_value: float | None = None
    display_value: str | None = None
    enum_value: AsanaEnumValue | None = None


class AsanaTaskContext(Payload):
    """Context the connector adds (see the module docstring); not an Asana field."""

    #: The in-scope project the task is synced under: its first in-scope membership, else the
    #: project its parent is synced under (subtasks usually belong to no project).
    project_gid: str | None = None
    #: The assignee's e-mail, resolved through ``GET /users/{gid}``.
    assignee_email: str | None = None


class AsanaTask(Payload):
    gid: str
    name: str
    #: ``default_task``, ``milestone``, ``approval`` or ``custom`` (the spec's enum).
    resource_subtype: str = "default_task"
    completed: bool = False
    completed_at: AwareDatetime | None = None
    modified_at: AwareDatetime
    created_at: AwareDatetime | None = None
    due_on: date | None = None
    due_at: AwareDatetime | None = None
    start_on: date | None = None
    assignee: AsanaUser | None = None
    memberships: list[AsanaMembership] = Field(default_factory=list)
    parent: AsanaRef | None = None
    num_subtasks: int = 0
    tags: list[AsanaRef] = Field(default_factory=list)
    custom_fields: list[AsanaCustomFieldValue] = Field(default_factory=list)
    permalink_url: str | None = None
    pmbridge: AsanaTaskContext = Field(default_factory=AsanaTaskContext)

    def section_in(self, project_gid: str | None) -> str | None:
        """The name of the section the task sits in within ``project_gid`` (else the first
        membership that names a section)."""
        fallback: str | None = None
        for membership in self.memberships:
            if membership.section is None:
                continue
            if membership.project is not None and membership.project.gid == project_gid:
                return membership.section.name
            if fallback is None:
                fallback = membership.section.name
        return fallback


class AsanaTaskId(Payload):
    """A task listed for census: ``gid`` plus what tells a milestone and a parent apart."""

    gid: str
    resource_subtype: str | None = None
    num_subtasks: int = 0


class AsanaEvent(Payload):
    """One element of a webhook body's ``events`` (``EventResponse``); ``user`` is null for
    system events, and ``resource`` is compact (gid and resource_type)."""

    resource: AsanaRef
    action: str
    user: AsanaRef | None = None
    type: str | None = None
    parent: AsanaRef | None = None
    created_at: AwareDatetime | None = None
    change: dict[str, Any] | None = None


class AsanaWebhookBody(Payload):
    events: list[AsanaEvent]
