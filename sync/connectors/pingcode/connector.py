"""PingCode Open API connector, facts from ``shared/vendor-api/FACTS.md`` §5.

Reading:

- projects: ``GET /v1/project/projects``;
- work items: ``GET /v1/project/work_items?project_ids=…&include_deleted=true
  &include_archived=true[&updated_between=<from>,]``, paged by ``page_index``/``page_size``
  in the ``{page_index, page_size, total, values}`` envelope. Soft-deleted items
  (``is_deleted``) become tombstones (``Page.deleted_ids``); archived ones stay live;
- milestones: each project's versions (``/v1/project/projects/{id}/versions``, vendor id
  ``version:<id>``) and its milestone-type work items (their own id).

Incremental sync asks for ``updated_between=<cursor - overlap>,`` (open upper bound, epoch
seconds). PingCode documents no sort order for the list, so the cursor moves only once a whole
listing has been read: pages before that carry the previous cursor, which is always safe.

Webhooks: PingCode sends them from a Flow automation ("send webhook") and documents no
signature (FACTS.md §5.5), so a delivery is authenticated by a per-connection shared secret the
Flow action sends in a header (``X-Pmbridge-Token``) or in the receiver URL's ``token`` query
parameter. The body is whatever the Flow template says; the documented default template is::

    {"event": "work_item.updated", "work_item": {"id": "{{work_item.id}}"}}

and the id's JSON path is an option (``webhook_id_path``). Deliveries are hints: the engine
re-fetches the item. Where something in between can sign the body, ``webhook_auth:
"hmac-sha256"`` checks ``X-Pmbridge-Signature: sha256=<hex HMAC of the raw body>`` instead.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import ValidationError

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
from sync.connectors.pingcode import auth
from sync.connectors.pingcode.payloads import (
    PingCodeItemRef,
    PingCodePage,
    PingCodeProject,
    PingCodeVersion,
    PingCodeWorkItem,
)
from sync.errors import AccessLost, ContractBroken, InvalidRequest, WebhookRejected
from sync.http.client import VendorClient, VendorNotFound
from sync.http.pagination import PageNumberPaginator
from sync.http.rate_limit import RateLimit
from sync.mapping.pingcode import (
    DEFAULT_ESTIMATE_FIELD,
    DEFAULT_MILESTONE_TYPES,
    DEFAULT_TIME_ZONE,
    VERSION_PREFIX,
    is_milestone,
)
from sync.model import Resource, Tool

PROJECTS = "/v1/project/projects"
WORK_ITEMS = "/v1/project/work_items"
WEBHOOK_AUTH_MODES = ("token", "hmac-sha256")


@dataclass(frozen=True, slots=True)
class VendorCount:
    """What PingCode's ``total`` said about the last complete listing of work items."""

    #: Sum of ``total`` over the listings read (deleted and milestone items included when
    #: the listing asked for them).
    reported: int
    #: Items actually received.
    received: int
    #: Of those, soft-deleted ones and milestone work items (not work items for pmbridge).
    deleted: int
    milestones: int

    @property
    def live(self) -> int:
        """Live work items the vendor claims: comparable with the run's stored count."""
        return self.reported - self.deleted - self.milestones

    @property
    def complete(self) -> bool:
        return self.received >= self.reported


class PingCodeConnector:
    tool: ClassVar[Tool] = Tool.PINGCODE
    #: Public cloud; private deployments use ``https://<host>/open`` (FACTS.md §5.1).
    default_base_url: ClassVar[str] = "https://open.pingcode.com"
    resources: ClassVar[frozenset[Resource]] = frozenset(
        {Resource.PROJECTS, Resource.MILESTONES, Resource.WORK_ITEMS}
    )
    rate_limit: ClassVar[RateLimit] = RateLimit(
        requests=200,
        per_seconds=60.0,
        source="FACTS.md §5.4: at most 200 requests per minute per identity",
    )
    # x-pc-retry-after is documented (FACTS.md §5.4); X-RateLimit-Retry-After on public cloud
    # is a third-party claim (§5.4, UNVERIFIED); Retry-After in case a proxy answers.
    retry_after_headers: ClassVar[tuple[str, ...]] = (
        "x-pc-retry-after",
        "X-RateLimit-Retry-After",
        "Retry-After",
    )
    #: Largest ``page_size`` PingCode honours (FACTS.md §5.2); option ``page_size`` lowers it.
    page_size: ClassVar[int] = 100
    #: ``project_ids`` takes at most 20 ids (FACTS.md §5.2).
    max_project_ids: ClassVar[int] = 20
    # FACTS.md §5.2 names list filters (project_ids, type_ids) without their encoding
    # (UNVERIFIED): ids are joined with this separator.
    id_list_separator: ClassVar[str] = ","
    # FACTS.md §5.2 lists the system types by name only (UNVERIFIED that the milestone type's
    # id is "milestone"): sent as ``type_ids`` when listing milestones, and the answer is still
    # filtered by type id/name (option ``milestone_type_ids``; empty sends no filter).
    milestone_type_ids: ClassVar[tuple[str, ...]] = ("milestone",)
    # FACTS.md §5.5: no documented webhook signature (UNVERIFIED), so a shared secret in a
    # header or in a receiver-URL query parameter (options ``webhook_token_header``/``_param``).
    webhook_token_header: ClassVar[str] = "X-Pmbridge-Token"  # noqa: S105 - a header name
    webhook_token_param: ClassVar[str] = "token"  # noqa: S105 - a parameter name
    webhook_signature_header: ClassVar[str] = "X-Pmbridge-Signature"
    # FACTS.md §5.5: the payload shape is whatever the Flow template sends (UNVERIFIED); these
    # read pmbridge's default template (options ``webhook_id_path``, ``webhook_event_path``,
    # ``webhook_deleted_events``).
    webhook_id_path: ClassVar[str] = "work_item.id"
    webhook_event_path: ClassVar[str] = "event"
    webhook_deleted_events: ClassVar[tuple[str, ...]] = ("work_item.deleted",)

    def __init__(self, client: VendorClient, config: ConnectionConfig) -> None:
        self.client = client
        self.config = config
        self._projects: list[PingCodeProject] | None = None
        #: Each listed project's JSON as received, for ``Page.raw``.
        self._project_raw: dict[str, dict[str, Any]] = {}
        #: Set after a full (cursor-less) work-item fetch or a census: see :class:`VendorCount`.
        self.vendor_count: VendorCount | None = None

    # -- facts and set-up ---------------------------------------------------------------
    def reported_count(self) -> int | None:
        """Live work items per PingCode's ``total`` on the last complete listing."""
        count = self.vendor_count
        return count.live if count is not None and count.complete else None

    @classmethod
    def auth(cls, config: ConnectionConfig) -> httpx.Auth:
        return auth.auth_for(config.base_url, config.credentials, config.options)

    @classmethod
    def check_credentials(cls, credentials: Mapping[str, str]) -> None:
        auth.check_credentials(credentials)

    async def check(self) -> None:
        """Fetches a token and reads one project: both the credentials and the scope work."""
        body = await self.client.get_json(PROJECTS, params={"page_index": 0, "page_size": 1})
        self._page(body, f"GET {PROJECTS}")

    async def discover(self) -> dict[str, Any]:
        """The mapping's defaults; a connection's options of the same names override them."""
        options = self.config.options
        facts: dict[str, Any] = {
            "time_zone": options.get("time_zone") or DEFAULT_TIME_ZONE,
            "milestone_types": list(options.get("milestone_types") or DEFAULT_MILESTONE_TYPES),
            "estimate_field": options.get("estimate_field") or DEFAULT_ESTIMATE_FIELD,
        }
        if options.get("site_url"):
            facts["site_url"] = options["site_url"]
        return facts

    # -- options --------------------------------------------------------------------------
    def _option(self, name: str, default: Any) -> Any:
        value = self.config.options.get(name)
        return default if value is None else value

    def _page_size(self) -> int:
        return max(1, min(int(self._option("page_size", self.page_size)), self.page_size))

    def _milestone_types(self) -> Sequence[str]:
        return tuple(self._option("milestone_types", DEFAULT_MILESTONE_TYPES))

    def _is_milestone(self, item: PingCodeItemRef) -> bool:
        return is_milestone(item, self._milestone_types())

    def _paginator(self) -> PageNumberPaginator:
        return PageNumberPaginator(page_size=self._page_size(), total_key="total")

    # -- reading --------------------------------------------------------------------------
    async def fetch(self, resource: Resource, cursor: Cursor | None) -> AsyncIterator[Page]:
        if resource is Resource.PROJECTS:
            projects = await self._scoped_projects(refresh=True)
            yield Page(items=projects, raw=[self._project_raw[p.id] for p in projects], cursor=None)
        elif resource is Resource.MILESTONES:
            for project in await self._scoped_projects():
                async for page in self._versions(project):
                    yield page
                async for page in self._milestone_items(project):
                    yield page
        elif resource is Resource.WORK_ITEMS:
            async for page in self._work_items(cursor):
                yield page
        else:
            raise InvalidRequest(f"PingCode connector does not sync {resource}", resource=resource)

    def _page(self, body: Any, endpoint: str) -> PingCodePage:
        try:
            return PingCodePage.model_validate(body)
        except ValidationError as error:
            raise ContractBroken(
                f"PingCode page at {endpoint} is not a {{page_index, page_size, total, values}} "
                "envelope",
                tool=self.tool,
                endpoint=endpoint,
                reason=str(error).splitlines()[0],
            ) from None

    async def _listing(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> AsyncIterator[PingCodePage]:
        async for body in self.client.paginate(path, self._paginator(), params=params):
            yield self._page(body, f"GET {path}")

    async def _scoped_projects(self, *, refresh: bool = False) -> list[PingCodeProject]:
        """Projects in scope the credentials can see: the others are simply absent."""
        if self._projects is not None and not refresh:
            return self._projects
        endpoint = f"GET {PROJECTS}"
        projects: list[PingCodeProject] = []
        async for page in self._listing(PROJECTS):
            found = validate_items(PingCodeProject, page.values, tool=self.tool, endpoint=endpoint)
            for project, raw in zip(found, page.values, strict=True):
                if not project.is_deleted:
                    projects.append(project)
                    self._project_raw[project.id] = raw
        if self.config.scope:
            wanted = {s.casefold() for s in self.config.scope}
            projects = [p for p in projects if _project_keys(p) & wanted]
        self._projects = projects
        return projects

    async def _versions(self, project: PingCodeProject) -> AsyncIterator[Page]:
        path = f"{PROJECTS}/{project.id}/versions"
        try:
            async for page in self._listing(path):
                versions = validate_items(
                    PingCodeVersion, page.values, tool=self.tool, endpoint=f"GET {path}"
                )
                yield Page(
                    items=[
                        v.model_copy(update={"pmbridge_project_id": project.id}) for v in versions
                    ],
                    raw=page.values,
                    cursor=None,
                    project_vendor_id=project.id,
                )
        except (VendorNotFound, AccessLost):
            # No versions in this kind of project, or it vanished since it was listed.
            return

    async def _milestone_items(self, project: PingCodeProject) -> AsyncIterator[Page]:
        params: dict[str, Any] = {"project_ids": project.id, "include_archived": "true"}
        type_ids = list(self._option("milestone_type_ids", self.milestone_type_ids))
        if type_ids:
            params["type_ids"] = self.id_list_separator.join(type_ids)
        endpoint = f"GET {WORK_ITEMS}"
        async for page in self._listing(WORK_ITEMS, params):
            items = validate_items(PingCodeWorkItem, page.values, tool=self.tool, endpoint=endpoint)
            kept = [
                (item, raw)
                for item, raw in zip(items, page.values, strict=True)
                if self._is_milestone(item) and not item.is_deleted
            ]
            if kept:
                yield Page(
                    items=[i for i, _ in kept],
                    raw=[r for _, r in kept],
                    cursor=None,
                    project_vendor_id=project.id,
                )

    async def _work_items(self, cursor: Cursor | None) -> AsyncIterator[Page]:
        projects = await self._scoped_projects()
        since = _since(cursor)
        params: dict[str, Any] = {"include_deleted": "true", "include_archived": "true"}
        if since is not None:
            overlap = int(self._option("overlap_seconds", 300))
            # Open upper bound: "<from>," reads "updated since <from>" (FACTS.md §5.3).
            params["updated_between"] = f"{max(since - overlap, 0)},"
        endpoint = f"GET {WORK_ITEMS}"
        watermark = since
        reported = received = deleted = milestones = 0
        for batch in _chunks([p.id for p in projects], self.max_project_ids):
            batch_params = {**params, "project_ids": self.id_list_separator.join(batch)}
            first = True
            async for page in self._listing(WORK_ITEMS, batch_params):
                if first and isinstance(page.total, int):
                    reported += page.total
                first = False
                items = validate_items(
                    PingCodeWorkItem, page.values, tool=self.tool, endpoint=endpoint
                )
                live: list[tuple[PingCodeWorkItem, dict[str, Any]]] = []
                gone: list[str] = []
                for item, raw in zip(items, page.values, strict=True):
                    received += 1
                    if watermark is None or item.updated_at > watermark:
                        watermark = item.updated_at
                    if self._is_milestone(item):
                        milestones += 1
                        continue
                    if item.is_deleted:
                        deleted += 1
                        gone.append(item.id)
                    else:
                        live.append((item, raw))
                yield Page(
                    items=[i for i, _ in live],
                    raw=[r for _, r in live],
                    # The list has no documented order: only a finished listing moves the cursor.
                    cursor=cursor,
                    deleted_ids=tuple(gone),
                )
        if since is None:
            self.vendor_count = VendorCount(reported, received, deleted, milestones)
        if watermark is not None and watermark != since:
            yield Page(items=[], raw=[], cursor={"since": watermark})

    async def fetch_one(self, resource: Resource, vendor_id: str) -> Any | None:
        if resource is Resource.WORK_ITEMS:
            return await self._work_item(vendor_id)
        if resource is Resource.PROJECTS:
            for project in await self._scoped_projects(refresh=True):
                if project.id == vendor_id:
                    return project
            return None
        if resource is Resource.MILESTONES:
            if vendor_id.startswith(VERSION_PREFIX):
                return await self._version(vendor_id.removeprefix(VERSION_PREFIX))
            item = await self._work_item(vendor_id)
            return item if item is not None and self._is_milestone(item) else None
        raise InvalidRequest(f"PingCode connector does not fetch {resource}", resource=resource)

    async def _work_item(self, vendor_id: str) -> PingCodeWorkItem | None:
        # Single resources answer HTTP 201 (FACTS.md §5.2); a deleted one may answer 404 or
        # come back with is_deleted set: both read as gone.
        path = f"{WORK_ITEMS}/{vendor_id}"
        try:
            body = await self.client.get_json(path)
        except VendorNotFound:
            return None
        item = validate_items(PingCodeWorkItem, [body], tool=self.tool, endpoint=f"GET {path}")[0]
        return None if item.is_deleted else item

    async def _version(self, version_id: str) -> PingCodeVersion | None:
        for project in await self._scoped_projects(refresh=True):
            async for page in self._versions(project):
                for version in page.items:
                    if isinstance(version, PingCodeVersion) and version.id == version_id:
                        return version
        return None

    async def census(self, resource: Resource) -> AsyncIterator[CensusPage]:
        if resource is not Resource.WORK_ITEMS:
            raise InvalidRequest("PingCode census covers work items", resource=resource)
        visible = await self._scoped_projects(refresh=True)
        seen_keys: set[str] = set()
        for project in visible:
            seen_keys |= _project_keys(project)
        for wanted in self.config.scope:
            if wanted.casefold() not in seen_keys:
                # Configured but invisible: a revoked permission must not look like deletion.
                yield CensusPage(project_vendor_id=None, ids=[], access_lost=True, scope_key=wanted)
        endpoint = f"GET {WORK_ITEMS}"
        reported = received = milestones = 0
        for project in visible:
            params = {"project_ids": project.id, "include_archived": "true"}
            pages = 0
            async for page in self._listing(WORK_ITEMS, params):
                if pages == 0 and isinstance(page.total, int):
                    reported += page.total
                pages += 1
                refs = validate_items(
                    PingCodeItemRef, page.values, tool=self.tool, endpoint=endpoint
                )
                received += len(refs)
                ids = []
                for ref in refs:
                    if self._is_milestone(ref):
                        milestones += 1
                    elif not ref.is_deleted:
                        ids.append(ref.id)
                yield CensusPage(project_vendor_id=project.id, ids=ids)
            if pages == 0:
                yield CensusPage(project_vendor_id=project.id, ids=[])
        self.vendor_count = VendorCount(reported, received, 0, milestones)

    # -- webhooks ----------------------------------------------------------------------------
    def verify_webhook(self, request: WebhookRequest, secret: str) -> None:
        mode = self._option("webhook_auth", "token")
        if mode == "hmac-sha256":
            self._verify_signature(request, secret)
        elif mode == "token":
            self._verify_token(request, secret)
        else:
            raise InvalidRequest(
                f"option webhook_auth must be one of {', '.join(WEBHOOK_AUTH_MODES)}",
                field="options.webhook_auth",
            )

    def _verify_token(self, request: WebhookRequest, secret: str) -> None:
        header = self._option("webhook_token_header", self.webhook_token_header)
        param = self._option("webhook_token_param", self.webhook_token_param)
        supplied = _header(request.headers, header)
        if supplied is None and request.url:
            query = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
            supplied = query.get(param)
        if not supplied:
            raise WebhookRejected(
                f"missing webhook token ({header} header or {param!r} query parameter)",
                tool=self.tool,
            )
        if not secrets_match(secret, supplied.strip()):
            raise WebhookRejected("webhook token does not match", tool=self.tool)

    def _verify_signature(self, request: WebhookRequest, secret: str) -> None:
        header = self._option("webhook_signature_header", self.webhook_signature_header)
        received = _header(request.headers, header)
        if not received:
            raise WebhookRejected(f"missing {header} header", tool=self.tool)
        received = received.strip().lower().removeprefix("sha256=")
        expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        if not secrets_match(expected, received):
            raise WebhookRejected(f"{header} does not match the body", tool=self.tool)

    def parse_webhook(self, request: WebhookRequest) -> list[ChangeNotice]:
        id_path = str(self._option("webhook_id_path", self.webhook_id_path))
        event_path = str(self._option("webhook_event_path", self.webhook_event_path))
        deleted_events = set(self._option("webhook_deleted_events", self.webhook_deleted_events))
        try:
            body = json.loads(request.body)
        except ValueError as error:
            raise self._not_a_delivery(f"not JSON: {error}") from None
        if not isinstance(body, dict):
            raise self._not_a_delivery(f"expected a JSON object, got {type(body).__name__}")
        vendor_id = _at_path(body, id_path)
        if isinstance(vendor_id, bool) or not isinstance(vendor_id, str | int) or vendor_id == "":
            raise self._not_a_delivery(f"no work item id at {id_path!r}")
        event = _at_path(body, event_path)
        deleted = isinstance(event, str) and event in deleted_events
        return [ChangeNotice(Resource.WORK_ITEMS, str(vendor_id), deleted=deleted)]

    def _not_a_delivery(self, reason: str) -> ContractBroken:
        return ContractBroken(
            "PingCode webhook body is not the configured Flow template",
            tool=self.tool,
            endpoint="webhook",
            reason=reason,
        )

    def delivery_id(self, request: WebhookRequest) -> str:
        """PingCode documents no delivery id (FACTS.md §6): a digest of the raw body, so a
        retried identical delivery is recognised."""
        return hashlib.sha256(request.body).hexdigest()


def _project_keys(project: PingCodeProject) -> set[str]:
    keys = {project.id.casefold()}
    if project.identifier:
        keys.add(project.identifier.casefold())
    return keys


def _since(cursor: Cursor | None) -> int | None:
    if not cursor or cursor.get("since") is None:
        return None
    return int(cursor["since"])


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _at_path(body: Mapping[str, Any], path: str) -> Any:
    value: Any = body
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None
