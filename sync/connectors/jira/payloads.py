"""Typed shapes of the Jira Cloud REST v3 responses we read.

Field names and nesting follow ``shared/vendor-api/jira/jira-platform-rest-v3.openapi.json``
(schemas ``Project``, ``Version``, ``SearchAndReconcileResults``/``IssueBean``, ``User``, and
for dynamic webhooks ``ContainerForRegisteredWebhooks``, ``WebhooksExpirationDate``,
``PageBeanWebhook``/``Webhook``).
Only what mapping needs is typed; everything else is kept (``extra="allow"``) for the raw copy.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, ConfigDict, Field

from sync.connectors.base import Payload


class JiraStatusCategory(Payload):
    id: int | None = None
    #: ``new`` / ``indeterminate`` / ``done`` (and ``undefined``); never localised.
    key: str
    name: str | None = None


class JiraStatus(Payload):
    id: str | None = None
    name: str
    statusCategory: JiraStatusCategory


class JiraNamed(Payload):
    id: str | None = None
    name: str


class JiraIssueType(Payload):
    id: str | None = None
    name: str
    subtask: bool = False


class JiraProjectRef(Payload):
    id: str
    key: str | None = None
    name: str | None = None


class JiraUser(Payload):
    accountId: str
    displayName: str | None = None
    #: Hidden unless the user's profile visibility allows it.
    emailAddress: str | None = None
    timeZone: str | None = None


class JiraIssueRef(Payload):
    id: str
    key: str | None = None


class JiraVersionRef(Payload):
    id: str
    name: str | None = None


class JiraIssueFields(Payload):
    # Custom fields (story points) have site-specific ids, so extras are kept here.
    model_config = ConfigDict(extra="allow")

    summary: str
    status: JiraStatus
    updated: AwareDatetime
    created: AwareDatetime | None = None
    issuetype: JiraIssueType | None = None
    project: JiraProjectRef | None = None
    assignee: JiraUser | None = None
    priority: JiraNamed | None = None
    resolution: JiraNamed | None = None
    labels: list[str] = Field(default_factory=list)
    duedate: date | None = None
    resolutiondate: AwareDatetime | None = None
    fixVersions: list[JiraVersionRef] = Field(default_factory=list)
    parent: JiraIssueRef | None = None
    issuelinks: list[dict[str, Any]] = Field(default_factory=list)

    def custom(self, field_id: str) -> Any:
        extra = self.model_extra or {}
        return extra.get(field_id)


class JiraIssue(Payload):
    id: str
    key: str
    fields: JiraIssueFields


class JiraIssueId(Payload):
    """An id-only search hit (``fields`` defaults to ``id``), for census."""

    id: str
    key: str | None = None


class JiraSearchPage(Payload):
    issues: list[dict[str, Any]]
    nextPageToken: str | None = None
    isLast: bool | None = None


class JiraIssueError(Payload):
    id: str
    errorMessage: str | None = None


class JiraBulkIssues(Payload):
    """``BulkIssueResults``: issues not found or not visible are left out of both lists;
    ``issueErrors`` are retriable failures of single issues."""

    issues: list[dict[str, Any]]
    issueErrors: list[JiraIssueError] = Field(default_factory=list)


class JiraProject(Payload):
    id: str
    key: str
    name: str
    archived: bool = False


class JiraVersion(Payload):
    id: str
    name: str
    projectId: int | None = None
    description: str | None = None
    startDate: date | None = None
    releaseDate: date | None = None
    released: bool = False
    archived: bool = False
    userReleaseDate: str | None = None


class JiraMyself(Payload):
    accountId: str
    timeZone: str | None = None


class JiraField(Payload):
    id: str
    name: str
    custom: bool = False
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")


class JiraWebhookEvent(Payload):
    webhookEvent: str
    timestamp: int | None = None
    issue: JiraIssueRef | None = None
    version: JiraVersionRef | None = None
    project: JiraProjectRef | None = None


# -- dynamic webhooks (OAuth 2.0 and Connect apps; FACTS.md §1.5) ----------------------------
def _epoch_ms_or_iso(value: Any) -> Any:
    """``expirationDate`` is ``int64`` in the schemas (``Webhook``, ``WebhooksExpirationDate``)
    but a ``2019-06-01T12:42:30.000+0000`` string in the spec's own examples: accept both."""
    if isinstance(value, bool):
        raise ValueError("expirationDate must be epoch milliseconds or an ISO 8601 datetime")
    if isinstance(value, int | float):
        # Explicitly milliseconds: pydantic would guess the unit from the magnitude.
        return datetime.fromtimestamp(value / 1000, UTC)
    return value


ExpirationDate = Annotated[AwareDatetime, BeforeValidator(_epoch_ms_or_iso)]


class JiraRegisteredWebhook(Payload):
    """``RegisteredWebhook``: the id of a created webhook, or why it was not created."""

    createdWebhookId: int | None = None
    errors: list[str] = Field(default_factory=list)


class JiraWebhookRegistrations(Payload):
    """``ContainerForRegisteredWebhooks``: one result per requested webhook, in order."""

    webhookRegistrationResult: list[JiraRegisteredWebhook]


class JiraWebhookExpiration(Payload):
    """``WebhooksExpirationDate``: when the refreshed webhooks expire (one date for all)."""

    expirationDate: ExpirationDate


class JiraDynamicWebhook(Payload):
    """``Webhook``: one dynamic webhook registered by the calling app."""

    id: int
    jqlFilter: str
    events: list[str]
    url: str
    expirationDate: ExpirationDate | None = None
