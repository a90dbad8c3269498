"""Jira Cloud connector: platform REST v3, facts from ``shared/vendor-api/FACTS.md`` §1."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import ValidationError

from sync.connectors.base import (
    CensusPage,
    ChangeNotice,
    ConnectionConfig,
    Cursor,
    Page,
    WebhookRequest,
    validate_items,
)
from sync.connectors.jira import auth
from sync.connectors.jira.payloads import (
    JiraField,
    JiraIssue,
    JiraIssueId,
    JiraMyself,
    JiraProject,
    JiraSearchPage,
    JiraVersion,
    JiraWebhookEvent,
)
from sync.errors import AccessLost, ContractBroken, InvalidRequest, WebhookRejected
from sync.http.client import VendorClient, VendorNotFound
from sync.http.pagination import OffsetPaginator, TokenPaginator
from sync.http.rate_limit import RateLimit
from sync.model import Resource, Tool

SEARCH = "/rest/api/3/search/jql"

#: Fields we ask for: ``search/jql`` returns only ``id`` unless told (FACTS.md §1.2).
ISSUE_FIELDS = (
    "summary",
    "status",
    "issuetype",
    "project",
    "assignee",
    "priority",
    "resolution",
    "labels",
    "duedate",
    "created",
    "updated",
    "resolutiondate",
    "fixVersions",
    "parent",
    "issuelinks",
)

#: Schema ``custom`` ids of the story-points fields Jira Software creates.
STORY_POINT_SCHEMAS = frozenset(
    {
        "com.pyxis.greenhopper.jira:jsw-story-points",
        "com.atlassian.jira.plugin.system.customfieldtypes:float",
    }
)
STORY_POINT_NAMES = ("story point estimate", "story points")


class JiraConnector:
    tool: ClassVar[Tool] = Tool.JIRA
    default_base_url: ClassVar[str] = "https://your-domain.atlassian.net"
    resources: ClassVar[frozenset[Resource]] = frozenset(
        {Resource.PROJECTS, Resource.MILESTONES, Resource.WORK_ITEMS}
    )
    # Atlassian publishes no fixed burst numbers for API-token traffic (FACTS.md §1.4); ten
    # requests a second stays well inside what is observed and leaves 429 handling to the client.
    rate_limit: ClassVar[RateLimit] = RateLimit(
        requests=10, per_seconds=1.0, source="FACTS.md §1.4 (no published burst figure)"
    )
    retry_after_headers: ClassVar[tuple[str, ...]] = ("Retry-After",)
    #: ``maxResults`` we ask for; the server may return fewer (FACTS.md §1.2).
    page_size: ClassVar[int] = 100
    #: id-only searches return the most per page; the server caps what it honours.
    census_page_size: ClassVar[int] = 1000
    #: Longest JQL sent by GET; longer lists of projects go in a POST body.
    max_get_jql: ClassVar[int] = 1500

    def __init__(self, client: VendorClient, config: ConnectionConfig) -> None:
        self.client = client
        self.config = config
        self._time_zone: ZoneInfo | None = None
        self._projects: list[JiraProject] | None = None
        self._estimate_field: str | None = config.options.get("estimate_field")

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
        myself = await self._myself()
        facts: dict[str, Any] = {
            "site_url": self.config.options.get("site_url") or self.config.base_url,
            "time_zone": myself.timeZone or "UTC",
        }
        if self._estimate_field is None:
            self._estimate_field = await self._story_points_field()
        facts["estimate_field"] = self._estimate_field
        return facts

    async def _myself(self) -> JiraMyself:
        body = await self.client.get_json("/rest/api/3/myself")
        me = validate_items(JiraMyself, [body], tool=self.tool, endpoint="GET /rest/api/3/myself")
        zone = me[0].timeZone or "UTC"
        try:
            self._time_zone = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            self._time_zone = ZoneInfo("UTC")
        return me[0]

    async def _story_points_field(self) -> str | None:
        body = await self.client.get_json("/rest/api/3/field")
        fields = validate_items(JiraField, body, tool=self.tool, endpoint="GET /rest/api/3/field")
        for name in STORY_POINT_NAMES:
            for field in fields:
                schema = field.schema_ or {}
                if (
                    field.custom
                    and field.name.casefold() == name
                    and (
                        schema.get("custom") in STORY_POINT_SCHEMAS
                        or schema.get("type") == "number"
                    )
                ):
                    return field.id
        return None

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
            async for page in self._versions():
                yield page
        elif resource is Resource.WORK_ITEMS:
            async for page in self._issues(cursor):
                yield page
        else:
            raise InvalidRequest(f"Jira connector does not sync {resource}", resource=resource)

    async def _scoped_projects(self, *, refresh: bool = False) -> list[JiraProject]:
        """Projects in scope that the credentials can see: hidden ones are simply absent."""
        if self._projects is not None and not refresh:
            return self._projects
        params: dict[str, Any] = {}
        if self.config.scope:
            params["keys"] = list(self.config.scope)
        endpoint = "GET /rest/api/3/project/search"
        projects: list[JiraProject] = []
        async for body in self.client.paginate(
            "/rest/api/3/project/search", OffsetPaginator(page_size=50), params=params
        ):
            values = body.get("values") if isinstance(body, dict) else None
            projects.extend(validate_items(JiraProject, values, tool=self.tool, endpoint=endpoint))
        if self.config.scope:
            wanted = {s.casefold() for s in self.config.scope}
            projects = [p for p in projects if {p.key.casefold(), p.id} & wanted]
        self._projects = projects
        return projects

    async def _versions(self) -> AsyncIterator[Page]:
        for project in await self._scoped_projects():
            path = f"/rest/api/3/project/{project.id}/version"
            try:
                async for body in self.client.paginate(
                    path, OffsetPaginator(page_size=self.page_size)
                ):
                    values = body.get("values") if isinstance(body, dict) else None
                    versions = validate_items(
                        JiraVersion, values, tool=self.tool, endpoint=f"GET {path}"
                    )
                    yield Page(
                        items=versions, raw=values or [], cursor=None, project_vendor_id=project.id
                    )
            except (VendorNotFound, AccessLost):
                # The project vanished between listing and reading; census records it.
                continue

    def _project_clause(self, projects: list[JiraProject]) -> str:
        return "project in (" + ", ".join(_jql_quote(p.key) for p in projects) + ")"

    async def _issues(self, cursor: Cursor | None) -> AsyncIterator[Page]:
        projects = await self._scoped_projects()
        if not projects:
            return
        since = _parse_since(cursor)
        jql = self._project_clause(projects)
        if since is not None:
            overlap = timedelta(seconds=int(self.config.options.get("overlap_seconds", 300)))
            jql += f' AND updated >= "{self._jql_time(since - overlap)}"'
        # A stable order lets the watermark after each page be a safe resume point.
        jql += " ORDER BY updated ASC, id ASC"
        fields = [*ISSUE_FIELDS, *self._extra_fields()]
        watermark = since
        async for body in self._search(jql, fields, self.page_size):
            issues = validate_items(JiraIssue, body.issues, tool=self.tool, endpoint=SEARCH)
            for issue in issues:
                updated = issue.fields.updated.astimezone(UTC)
                if watermark is None or updated > watermark:
                    watermark = updated
            yield Page(
                items=issues,
                raw=body.issues,
                cursor={"since": watermark.isoformat()} if watermark else cursor,
            )

    def _extra_fields(self) -> list[str]:
        return [self._estimate_field] if self._estimate_field else []

    async def _search(
        self, jql: str, fields: list[str], page_size: int
    ) -> AsyncIterator[JiraSearchPage]:
        params: dict[str, Any] = {"jql": jql, "fields": ",".join(fields)}
        if len(jql) <= self.max_get_jql:
            async for body in self.client.paginate(
                SEARCH,
                TokenPaginator(
                    page_size=page_size,
                    next_param="nextPageToken",
                    next_path=("nextPageToken",),
                    last_flag="isLast",
                ),
                params=params,
            ):
                yield _search_page(body)
            return
        token: str | None = None
        seen: set[str] = set()
        while True:
            request = {"jql": jql, "fields": fields, "maxResults": page_size}
            if token:
                request["nextPageToken"] = token
            page = _search_page(await self.client.request_json("POST", SEARCH, json_body=request))
            yield page
            token = page.nextPageToken
            if page.isLast or not token:
                return
            if token in seen:
                raise ContractBroken(
                    "Jira repeated a page token", tool=self.tool, endpoint=f"POST {SEARCH}"
                )
            seen.add(token)

    def _jql_time(self, moment: datetime) -> str:
        """JQL dates are minute-precise wall-clock times in the user's zone (FACTS.md §1.3)."""
        zone = self._time_zone or ZoneInfo("UTC")
        return moment.astimezone(zone).strftime("%Y/%m/%d %H:%M")

    async def fetch_one(self, resource: Resource, vendor_id: str) -> Any | None:
        if resource is Resource.WORK_ITEMS:
            path = f"/rest/api/3/issue/{vendor_id}"
            fields = ",".join([*ISSUE_FIELDS, *self._extra_fields()])
            try:
                body = await self.client.get_json(path, params={"fields": fields})
            except VendorNotFound:
                return None
            return validate_items(JiraIssue, [body], tool=self.tool, endpoint=f"GET {path}")[0]
        if resource is Resource.PROJECTS:
            path = f"/rest/api/3/project/{vendor_id}"
            try:
                body = await self.client.get_json(path)
            except VendorNotFound:
                return None
            return validate_items(JiraProject, [body], tool=self.tool, endpoint=f"GET {path}")[0]
        if resource is Resource.MILESTONES:
            path = f"/rest/api/3/version/{vendor_id}"
            try:
                body = await self.client.get_json(path)
            except VendorNotFound:
                return None
            return validate_items(JiraVersion, [body], tool=self.tool, endpoint=f"GET {path}")[0]
        raise InvalidRequest(f"Jira connector does not fetch {resource}", resource=resource)

    async def census(self, resource: Resource) -> AsyncIterator[CensusPage]:
        if resource is not Resource.WORK_ITEMS:
            raise InvalidRequest("Jira census covers work items", resource=resource)
        visible = await self._scoped_projects(refresh=True)
        visible_keys = {p.key.casefold() for p in visible} | {p.id for p in visible}
        for wanted in self.config.scope:
            if wanted.casefold() not in visible_keys:
                # Configured but invisible: a revoked permission must not look like deletion.
                yield CensusPage(project_vendor_id=None, ids=[], access_lost=True, scope_key=wanted)
        for project in visible:
            jql = f"project = {_jql_quote(project.key)} ORDER BY id ASC"
            async for body in self._search(jql, ["id"], self.census_page_size):
                ids = validate_items(JiraIssueId, body.issues, tool=self.tool, endpoint=SEARCH)
                yield CensusPage(project_vendor_id=project.id, ids=[i.id for i in ids])

    # -- webhooks ----------------------------------------------------------------------------
    def verify_webhook(self, request: WebhookRequest, secret: str) -> None:
        """Admin webhooks: ``X-Hub-Signature: <method>=<hex HMAC(secret, raw body)>`` (§1.5)."""
        header = _header(request.headers, "x-hub-signature")
        if not header or "=" not in header:
            raise WebhookRejected("missing X-Hub-Signature header", tool=self.tool)
        method, _, received = header.partition("=")
        digest = {"sha256": hashlib.sha256, "sha1": hashlib.sha1}.get(method.strip().lower())
        if digest is None:
            raise WebhookRejected(f"unsupported X-Hub-Signature method {method!r}", tool=self.tool)
        expected = hmac.new(secret.encode(), request.body, digest).hexdigest()
        if not hmac.compare_digest(expected, received.strip().lower()):
            raise WebhookRejected("X-Hub-Signature does not match the body", tool=self.tool)

    def parse_webhook(self, request: WebhookRequest) -> list[ChangeNotice]:
        try:
            event = JiraWebhookEvent.model_validate(json.loads(request.body))
        except (ValueError, ValidationError) as error:
            raise ContractBroken(
                "Jira webhook body is not a Jira event",
                tool=self.tool,
                endpoint="webhook",
                reason=str(error).splitlines()[0],
            ) from None
        name = event.webhookEvent
        deleted = name.endswith("_deleted")
        if name.startswith("jira:issue_") and event.issue is not None:
            return [ChangeNotice(Resource.WORK_ITEMS, event.issue.id, deleted=deleted)]
        if name.startswith("jira:version_") and event.version is not None:
            return [ChangeNotice(Resource.MILESTONES, event.version.id, deleted=deleted)]
        if name.startswith("project_") and event.project is not None:
            return [ChangeNotice(Resource.PROJECTS, event.project.id, deleted=deleted)]
        return []


def _search_page(body: Any) -> JiraSearchPage:
    try:
        return JiraSearchPage.model_validate(body)
    except ValidationError as error:
        raise ContractBroken(
            "Jira search page is not a SearchAndReconcileResults object",
            tool=Tool.JIRA,
            endpoint=SEARCH,
            reason=str(error).splitlines()[0],
        ) from None


def _parse_since(cursor: Cursor | None) -> datetime | None:
    if not cursor or "since" not in cursor:
        return None
    return datetime.fromisoformat(str(cursor["since"])).astimezone(UTC)


def _jql_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
