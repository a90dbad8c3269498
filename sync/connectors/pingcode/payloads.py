"""Typed shapes of the PingCode Open API responses we read.

PingCode publishes no machine-readable spec. Field names follow ``shared/vendor-api/FACTS.md``
§5 where it names them: the list envelope ``{page_index, page_size, total, values}``, the token
answer ``{access_token, token_type, expires_in}``, work items' ``state{id,name,type,color}``,
``start_at``, ``end_at``, ``completed_at``, ``updated_at``, ``is_deleted``, ``is_archived``,
``version``, ``sprint``, ``phase``, ``properties``, projects' ``type`` and versions' ``status``.
The rest (``title``, ``identifier``, ``project``, ``assignee``, ``priority``, ``parent``,
``tags``, ``created_at``, ``html_url``) is FACTS.md's "and so on": typed as optional so a
missing one never breaks a page, and kept raw either way (``extra="allow"``).

All times are 10-digit epoch seconds (FACTS.md §5.1); flags such as ``is_deleted`` arrive as
``0``/``1`` and are read as booleans.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, RootModel

from sync.connectors.base import Payload

#: 10-digit epoch seconds (FACTS.md §5.1).
EpochSeconds = Annotated[int, Field(ge=0)]


class PingCodeRef(Payload):
    """A reference to another record: ``{id, name?, identifier?, ...}``."""

    id: str
    name: str | None = None
    identifier: str | None = None
    title: str | None = None


class PingCodeUser(Payload):
    id: str
    #: Login name.
    name: str | None = None
    display_name: str | None = None
    #: Not documented on work-item references; used when present.
    email: str | None = None


class PingCodeState(Payload):
    id: str | None = None
    #: Custom display name, for example "新建" (FACTS.md §5.6).
    name: str
    #: ``pending`` / ``in_progress`` / ``completed`` / ``closed`` (FACTS.md §5.2, §5.6).
    type: str
    color: str | None = None


class PingCodeProject(Payload):
    id: str
    name: str
    identifier: str | None = None
    #: ``scrum``, ``kanban`` or waterfall (FACTS.md §5.2).
    type: str | None = None
    is_archived: bool = False
    is_deleted: bool = False
    html_url: str | None = None


class PingCodeItemRef(Payload):
    """What census and the milestone filter need of a work item: id, type, deletion."""

    id: str
    #: A type id (``story``, ``milestone``, a custom type's id) or a ``{id, name}`` object.
    type: str | PingCodeRef | None = None
    is_deleted: bool = False

    def type_names(self) -> tuple[str, ...]:
        """The type's id and name, whichever the vendor sent."""
        if self.type is None:
            return ()
        if isinstance(self.type, str):
            return (self.type,)
        return tuple(n for n in (self.type.id, self.type.name) if n)


class PingCodeWorkItem(PingCodeItemRef):
    title: str
    state: PingCodeState
    updated_at: EpochSeconds
    identifier: str | None = None
    project: PingCodeRef | None = None
    assignee: PingCodeUser | None = None
    priority: PingCodeRef | None = None
    parent: PingCodeRef | None = None
    parent_id: str | None = None
    version: PingCodeRef | None = None
    sprint: PingCodeRef | None = None
    phase: PingCodeRef | None = None
    start_at: EpochSeconds | None = None
    end_at: EpochSeconds | None = None
    completed_at: EpochSeconds | None = None
    created_at: EpochSeconds | None = None
    story_points: float | None = None
    tags: list[PingCodeRef] = Field(default_factory=list)
    properties: dict[str, Any] | None = None
    is_archived: bool = False
    html_url: str | None = None

    def field_value(self, name: str) -> Any:
        """A top-level field (typed or extra), else a custom property of that name."""
        if name in type(self).model_fields:
            value = getattr(self, name)
        else:
            value = (self.model_extra or {}).get(name)
        if value is None and self.properties:
            value = self.properties.get(name)
        return value


class PingCodeVersion(Payload):
    """A release (发布): ``status`` is ``pending`` / ``in_progress`` / ``published``."""

    id: str
    name: str
    status: str | None = None
    description: str | None = None
    start_at: EpochSeconds | None = None
    end_at: EpochSeconds | None = None
    updated_at: EpochSeconds | None = None
    project: PingCodeRef | None = None
    is_archived: bool = False
    html_url: str | None = None
    #: Enrichment, not a vendor field: the project whose ``/versions`` listed it (the list is
    #: per project, so the version itself need not name it).
    pmbridge_project_id: str | None = None


class PingCodePage(Payload):
    """The list envelope (FACTS.md §5.2): ``page_index`` is 0-based, ``page_size`` <= 100."""

    values: list[dict[str, Any]]
    page_index: int | None = None
    page_size: int | None = None
    total: int | None = None


class PingCodeToken(Payload):
    """``GET /v1/auth/token`` (FACTS.md §5.1)."""

    access_token: str
    token_type: str | None = None
    expires_in: float | None = None


class PingCodeError(Payload):
    """Error bodies: ``{"code": "100000", "message": ...}`` (FACTS.md §5.2); 429s carry
    ``100038`` (§5.4)."""

    code: str | int | None = None
    message: str | None = None


class PingCodeMilestone(RootModel[PingCodeVersion | PingCodeWorkItem]):
    """Either milestone source, for re-validating stored raw JSON: a version has ``name``
    and ``status``, a milestone work item ``title``, ``state`` and ``updated_at``."""
