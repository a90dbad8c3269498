"""Jira Cloud connector: platform REST v3, facts from ``shared/vendor-api/FACTS.md`` §1."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import jwt
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
from sync.connectors.jira import auth
from sync.connectors.jira.payloads import (
    JiraBulkIssues,
    JiraDynamicWebhook,
    JiraField,
    JiraIssue,
    JiraIssueId,
    JiraMyself,
    JiraProject,
    JiraSearchPage,
    JiraVersion,
    JiraWebhookEvent,
    JiraWebhookExpiration,
    JiraWebhookRegistrations,
)
from sync.errors import (
    AccessLost,
    ContractBroken,
    InvalidRequest,
    PmbridgeError,
    VendorUnavailable,
    WebhookRejected,
)
from sync.http.client import VendorClient, VendorNotFound, VendorRejected
from sync.http.pagination import OffsetPaginator, TokenPaginator
from sync.http.rate_limit import RateLimit
from sync.model import Resource, Tool

SEARCH = "/rest/api/3/search/jql"
#: Up to 100 issues by id in one request (spec); webhook refreshes use it.
BULK_FETCH = "/rest/api/3/issue/bulkfetch"
BULK_FETCH_MAX = 100

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

M = TypeVar("M", bound=BaseModel)

#: Dynamic webhooks (OAuth 2.0 and Connect apps only), FACTS.md §1.5.
WEBHOOKS = "/rest/api/3/webhook"
WEBHOOKS_REFRESH = "/rest/api/3/webhook/refresh"

#: Events a dynamic webhook is registered for unless the ``webhook_events`` option says
#: otherwise. Only issue events: the spec's ``WebhookDetails.events`` enum allows issue,
#: comment and issue-property events; the docs page adds ``jira:version_*`` and ``sprint_*``
#: (FACTS.md §1.5), which the spec does not, so versions are reconciled by polling instead.
WEBHOOK_EVENTS: tuple[str, ...] = ("jira:issue_created", "jira:issue_updated", "jira:issue_deleted")

#: Seconds of clock skew allowed on a delivery JWT's ``exp`` (and ``nbf``, when present).
JWT_LEEWAY = 60


class JiraConnector:
    tool: ClassVar[Tool] = Tool.JIRA
    #: Resources :meth:`fetch_many` fetches in bulk (Jira has no bulk read of versions or
    #: projects); the engine fetches the others one at a time.
    bulk_resources: ClassVar[frozenset[Resource]] = frozenset({Resource.WORK_ITEMS})
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

    async def fetch_many(
        self, resource: Resource, vendor_ids: Sequence[str]
    ) -> dict[str, Any | PmbridgeError | None]:
        """Many work items at once through ``POST /issue/bulkfetch`` (100 per request, where
        ``fetch_one`` costs a request each; the resources in :attr:`bulk_resources`). Each id
        maps to its payload, ``None`` (gone or not visible, as a 404 would say) or the error
        Jira gave for that one issue."""
        if resource not in self.bulk_resources:
            raise InvalidRequest(f"Jira fetches {resource} one at a time", resource=resource)
        fields = [*ISSUE_FIELDS, *self._extra_fields()]
        endpoint = f"POST {BULK_FETCH}"
        found: dict[str, Any | PmbridgeError | None] = dict.fromkeys(vendor_ids)
        unique = list(dict.fromkeys(vendor_ids))
        for start in range(0, len(unique), BULK_FETCH_MAX):
            chunk = unique[start : start + BULK_FETCH_MAX]
            body = await self.client.request_json(
                "POST", BULK_FETCH, json_body={"issueIdsOrKeys": chunk, "fields": fields}
            )
            answer = _validated(JiraBulkIssues, body, endpoint)
            for issue in validate_items(
                JiraIssue, answer.issues, tool=self.tool, endpoint=endpoint
            ):
                if issue.id in found:
                    found[issue.id] = issue
            for error in answer.issueErrors:
                if error.id in found:
                    found[error.id] = VendorUnavailable(
                        f"Jira could not return issue {error.id}: "
                        f"{error.errorMessage or 'no reason given'}",
                        tool=self.tool,
                        endpoint=endpoint,
                    )
        return found

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
        """Decided by the header present (FACTS.md §1.5):

        - ``Authorization: Bearer <JWT>``: a dynamic webhook of an OAuth 2.0 app; ``secret``
          is the app's client secret (see :meth:`_verify_jwt`);
        - otherwise an admin webhook: ``X-Hub-Signature: <method>=<hex HMAC(secret, body)>``.
        """
        token = bearer_token(request.headers)
        if token is not None:
            self._verify_jwt(token, secret, request.received_at)
            return
        header = _header(request.headers, "x-hub-signature")
        if not header or "=" not in header:
            raise WebhookRejected("missing X-Hub-Signature header", tool=self.tool)
        method, _, received = header.partition("=")
        digest = {"sha256": hashlib.sha256, "sha1": hashlib.sha1}.get(method.strip().lower())
        if digest is None:
            raise WebhookRejected(f"unsupported X-Hub-Signature method {method!r}", tool=self.tool)
        expected = hmac.new(secret.encode(), request.body, digest).hexdigest()
        if not secrets_match(expected, received.strip().lower()):
            raise WebhookRejected("X-Hub-Signature does not match the body", tool=self.tool)

    def _verify_jwt(self, token: str, secret: str, now: datetime | None) -> None:
        """An OAuth 2.0 app's dynamic-webhook delivery: ``Authorization: Bearer <JWT>`` signed
        with the app's client secret [2nd][J18].

        FACTS.md marks the claim set and the algorithm UNVERIFIED (presumably HS256), so only
        what any such token must satisfy is checked: an HS256 signature by ``secret`` (PyJWT
        compares in constant time and refuses ``alg: none`` and every other algorithm) and an
        ``exp`` that has not passed, with :data:`JWT_LEEWAY`; ``nbf`` is honoured if present.
        No other claim is required. ``now`` is the receiver's injected clock (PyJWT's own time
        checks read the wall clock, so they are off and done here).

        Unlike ``X-Hub-Signature``, the JWT does not cover the body: it proves the sender
        knows the client secret, not that the body is intact. The body is only a hint anyway:
        every item it names is fetched again from Jira before anything is written.
        """
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                options={
                    "require": ["exp"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_sub": False,
                    "verify_jti": False,
                },
            )
        except jwt.MissingRequiredClaimError:
            raise WebhookRejected("the delivery's JWT has no exp claim", tool=self.tool) from None
        except jwt.PyJWTError as error:  # bad signature, algorithm, encoding or key
            raise WebhookRejected(
                f"the delivery's JWT does not verify: {error}", tool=self.tool
            ) from None
        moment = (now or datetime.now(UTC)).timestamp()
        expires = claims.get("exp")
        if isinstance(expires, bool) or not isinstance(expires, int | float):
            raise WebhookRejected("the delivery's JWT exp is not a number", tool=self.tool)
        if moment > expires + JWT_LEEWAY:
            raise WebhookRejected("the delivery's JWT has expired", tool=self.tool)
        not_before = claims.get("nbf")
        if (
            isinstance(not_before, int | float)
            and not isinstance(not_before, bool)
            and moment < not_before - JWT_LEEWAY
        ):
            raise WebhookRejected("the delivery's JWT is not valid yet", tool=self.tool)

    # -- dynamic webhooks (OAuth 2.0 apps) ------------------------------------------------
    #: "Webhooks registered through the REST API expire after 30 days" (spec, ``PUT
    #: /rest/api/3/webhook/refresh``; FACTS.md §1.5).
    webhook_lifetime: ClassVar[timedelta] = timedelta(days=30)

    @classmethod
    def registers_webhooks(cls, credentials: Mapping[str, str]) -> bool:
        """Only an OAuth 2.0 app may register dynamic webhooks (FACTS.md §1.5); Basic-auth
        connections use admin webhooks, pasted by a person."""
        return auth.is_oauth(credentials)

    def webhook_events(self) -> list[str]:
        """:data:`WEBHOOK_EVENTS`, or the connection's ``webhook_events`` option."""
        configured = self.config.options.get("webhook_events")
        if configured is None:
            return list(WEBHOOK_EVENTS)
        if (
            not isinstance(configured, list | tuple)
            or not configured
            or not all(isinstance(e, str) and e for e in configured)
        ):
            raise InvalidRequest(
                "the webhook_events option must be a non-empty list of Jira event names, "
                f"such as {list(WEBHOOK_EVENTS)}",
                field="options.webhook_events",
            )
        return list(configured)

    async def webhook_filter(self) -> str:
        """The ``jqlFilter`` for the connection's projects: ``project IN ("K1", "K2")``
        (``project`` with ``IN`` is in the subset dynamic webhooks accept, FACTS.md §1.5)."""
        projects = await self._scoped_projects(refresh=True)
        if not projects:
            raise InvalidRequest(
                "the connection sees no projects in its scope, so there is nothing for a "
                "webhook to watch",
                field="scope",
            )
        return "project IN (" + ", ".join(_jql_quote(p.key) for p in projects) + ")"

    async def register_dynamic_webhook(
        self, url: str, jql_filter: str, events: Sequence[str] | None = None
    ) -> int:
        """``POST /rest/api/3/webhook`` with one webhook; its id, or ``VendorRejected`` with
        the errors Jira gave for it (a 200 answer may still refuse every entry)."""
        endpoint = f"POST {WEBHOOKS}"
        body = {
            "url": url,
            "webhooks": [
                {"events": list(events or self.webhook_events()), "jqlFilter": jql_filter}
            ],
        }
        answer = _validated(
            JiraWebhookRegistrations,
            await self.client.request_json("POST", WEBHOOKS, json_body=body, creates=True),
            endpoint,
        )
        results = answer.webhookRegistrationResult
        if len(results) != 1:
            raise ContractBroken(
                "Jira answered a different number of results than webhooks registered",
                tool=self.tool,
                endpoint=endpoint,
                reason=f"1 webhook registered, {len(results)} results",
            )
        (result,) = results
        if result.createdWebhookId is None:
            errors = result.errors or ["no webhook id and no reason given"]
            raise VendorRejected(
                f"Jira refused the webhook: {'; '.join(errors)}",
                tool=self.tool,
                endpoint=endpoint,
                errors=errors,
            )
        return result.createdWebhookId

    async def refresh_dynamic_webhooks(self, webhook_ids: Sequence[int]) -> datetime:
        """``PUT /rest/api/3/webhook/refresh``: the new expiry of the refreshed webhooks.
        Jira ignores ids it does not know (spec), so the answer cannot say which those were;
        :meth:`dynamic_webhooks` can."""
        answer = await self.client.request_json(
            "PUT", WEBHOOKS_REFRESH, json_body={"webhookIds": [int(i) for i in webhook_ids]}
        )
        return _validated(JiraWebhookExpiration, answer, f"PUT {WEBHOOKS_REFRESH}").expirationDate

    async def dynamic_webhooks(self) -> list[JiraDynamicWebhook]:
        """``GET /rest/api/3/webhook``: every dynamic webhook this app registered (paged)."""
        endpoint = f"GET {WEBHOOKS}"
        found: list[JiraDynamicWebhook] = []
        async for body in self.client.paginate(WEBHOOKS, OffsetPaginator(page_size=100)):
            values = body.get("values") if isinstance(body, dict) else None
            found.extend(
                validate_items(JiraDynamicWebhook, values, tool=self.tool, endpoint=endpoint)
            )
        return found

    async def delete_dynamic_webhooks(self, webhook_ids: Sequence[int]) -> None:
        """``DELETE /rest/api/3/webhook``: Jira answers 202 with no body, and ignores ids of
        webhooks other apps registered (spec)."""
        await self.client.request(
            "DELETE", WEBHOOKS, json_body={"webhookIds": [int(i) for i in webhook_ids]}
        )

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


def _validated(model: type[M], body: Any, endpoint: str) -> M:
    """One answer object validated at the edge: a malformed one breaks the contract."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ContractBroken(
            f"Jira's answer at {endpoint} is not a {model.__name__}",
            tool=Tool.JIRA,
            endpoint=endpoint,
            reason=f"{where}: {first['msg']}",
        ) from None


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    value = _header(headers, "authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


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
