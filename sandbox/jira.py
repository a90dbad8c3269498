"""A Jira Cloud platform REST v3 simulator, as an ASGI app.

It speaks the slice of the API a sync client uses, with the shapes of the published OpenAPI
spec (``shared/vendor-api/jira/jira-platform-rest-v3.openapi.json``) and the behaviours noted in
``shared/vendor-api/FACTS.md`` §1: Basic ``email:api_token`` auth, ``startAt`` pages for
projects and versions, ``nextPageToken`` pages for ``/search/jql``, id-only default fields,
bounded JQL, minute-precision ``updated >=`` in the user's time zone, ``+hhmm`` datetimes, 429s
with ``Retry-After``. Tests drive it in-process through ``httpx.ASGITransport``; the demo and
the benchmark run it under uvicorn with :func:`serve`.

Endpoints::

    GET       /rest/api/3/myself
    GET       /rest/api/3/field
    GET       /rest/api/3/project/search
    GET       /rest/api/3/project/{projectIdOrKey}
    GET       /rest/api/3/project/{projectIdOrKey}/version     (paginated)
    GET       /rest/api/3/project/{projectIdOrKey}/versions    (unpaginated)
    GET       /rest/api/3/version/{id}
    GET|POST  /rest/api/3/search/jql
    POST      /rest/api/3/search/approximate-count
    GET       /rest/api/3/issue/{issueIdOrKey}
    POST      /rest/api/3/issue/bulkfetch
    GET|POST  /rest/api/3/search          -> 410 Gone, as since Atlassian removed it in 2025
    GET|POST|DELETE  /rest/api/3/webhook  dynamic webhooks, OAuth 2.0 (bearer) callers only
    PUT       /rest/api/3/webhook/refresh

State is in memory and readable: ``sim.issues`` (live issues by numeric id, hidden projects'
included), ``sim.projects`` (by key), ``sim.versions`` (by numeric id), ``sim.users``,
``sim.myself`` and ``sim.webhooks`` (dynamic webhooks by id). The records are the dataclasses
of :mod:`sandbox.jira_data`.

Dynamic webhooks (FACTS.md §1.5) follow the spec: only apps may use them (a Basic-auth caller
gets 403, "Returned if the caller isn't an app"); each expires 30 days after registration or
its last refresh, by the simulator's clock, and is then gone (not listed, not refreshed, not
delivered: what Jira does after expiry is not documented, this is the simulator's choice);
the refresh ignores unknown ids. A ``jqlFilter`` may use only ``issueKey``, ``project``,
``issuetype``, ``status``, ``assignee`` and ``reporter`` with ``= != IN NOT IN`` here (Jira
also allows ``issue.property`` and the epic-label ``cf[id]``, which the simulator refuses as
unsupported). When an issue is created, updated or deleted, one delivery per receiver URL
names every matching webhook (``matchedWebhookIds``) and is queued in ``sim.outbox``, with
``Authorization: Bearer <JWT>``: HS256 over ``iss``, ``iat`` and ``exp`` (three minutes),
keyed by the ``client_secret`` the simulator was built with. FACTS.md marks Jira's claim set
and algorithm UNVERIFIED; these are a plausible stand-in. :func:`sandbox.deliveries.dispatch`
posts the queue to the receivers.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import json
import operator
import re
import zlib
from bisect import bisect_right
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from json.encoder import encode_basestring
from typing import Any, Final
from zoneinfo import ZoneInfo

import jwt
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.contract import Delivery, Outgoing
from sandbox.jira_data import (
    ISSUE_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    STATUS_CATEGORIES,
    STATUSES,
    DynamicWebhook,
    Issue,
    Project,
    User,
    Version,
    generate_dataset,
    resolution_for,
)
from sandbox.server import AsgiEntry, Failure, FailureQueue, run_on_loopback

__all__ = ["JiraSimulator", "serve"]

#: The simulator's default "now": fixed, so every run sees the same data and the same clock.
DEFAULT_NOW: Final = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

#: The OAuth 2.0 app's client secret dynamic-webhook JWTs are signed with, unless another is
#: given (a public demo value, long enough for HS256: RFC 7518 asks for 32 bytes or more).
DEMO_CLIENT_SECRET: Final = "jira-simulator-demo-oauth-client-secret"  # noqa: S105
#: "Webhooks registered through the REST API expire after 30 days" (spec).
WEBHOOK_LIFETIME: Final = timedelta(days=30)
#: Lifetime of a delivery's JWT (UNVERIFIED for Jira: a short one, as Connect tokens have).
DELIVERY_JWT_LIFETIME: Final = timedelta(minutes=3)

Json = dict[str, Any]
Predicate = Callable[[Issue], bool]
SortKey = tuple[int | float, ...]

_JSON_TYPE: Final = "application/json;charset=UTF-8"
_UNBOUNDED: Final = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)
_REMOVED_SEARCH: Final = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at "
    "https://developer.atlassian.com/changelog/#CHANGE-2046"
)
_NOT_AUTHENTICATED: Final = "Client must be authenticated to access this resource."
_ONLY_APPS: Final = "Only Connect and OAuth 2.0 apps can use this operation."
#: ``WebhookDetails.events``' enum in the spec.
WEBHOOK_EVENTS: Final = frozenset(
    {
        "jira:issue_created",
        "jira:issue_updated",
        "jira:issue_deleted",
        "comment_created",
        "comment_updated",
        "comment_deleted",
        "issue_property_set",
        "issue_property_deleted",
    }
)
#: JQL a dynamic webhook's filter may use here (canonical field names; see the docstring).
_WEBHOOK_JQL_FIELDS: Final = frozenset(
    {"issuekey", "project", "issuetype", "status", "assignee", "reporter"}
)
_WEBHOOK_JQL_OPS: Final = frozenset({"=", "!=", "IN", "NOT IN"})
#: ``POST /issue/bulkfetch`` takes "up to 100 issues" (spec).
BULK_FETCH_MAX: Final = 100
_WEBHOOK_KEYS: Final = frozenset(
    {"events", "jqlFilter", "fieldIdsFilter", "issuePropertyKeysFilter"}
)
_FIRST_WEBHOOK_ID: Final = 10000
#: ``issue_event_type_name`` Jira sends with each issue event.
_ISSUE_EVENT_TYPES: Final = {
    "jira:issue_created": "issue_created",
    "jira:issue_updated": "issue_generic",
    "jira:issue_deleted": "issue_deleted",
}
_ISSUE_EXPAND: Final = (
    "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
)
_PROJECT_EXPAND: Final = "description,lead,issueTypes,url,projectKeys,permissions,insight"
#: Sorts empty values after every real one ascending (and first descending, once negated).
_NULL_LAST: Final = 1 << 62
_MAX_ORDER_FIELDS: Final = 7
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
_SEARCH_CACHE_SIZE: Final = 32
#: ``SearchAndReconcileRequestBean``'s properties; the bean forbids any others.
_SEARCH_BODY_KEYS: Final = frozenset(
    {
        "jql",
        "nextPageToken",
        "maxResults",
        "fields",
        "expand",
        "properties",
        "fieldsByKeys",
        "failFast",
        "reconcileIssues",
    }
)


class ApiError(Exception):
    """A refusal, answered with Jira's envelope ``{"errorMessages": [...], "errors": {}}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class JqlError(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


def _text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


#: A JSON string literal; non-ASCII kept as is, like ``ensure_ascii=False``.
_encode: Final = encode_basestring


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _text(body).encode(), status_code=status, headers=headers, media_type=_JSON_TYPE
    )


def _envelope(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"errorMessages": [message], "errors": {}}, status, headers)


def _ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    # Integer arithmetic: float timestamps can land a millisecond short.
    return (moment - _EPOCH) // _ONE_MS


def format_jira_datetime(ms: int, tz: ZoneInfo) -> str:
    """Jira's datetime rendering, ``2026-11-20T10:15:30.123+0100``: offset without a colon."""
    moment = datetime.fromtimestamp(ms // 1000, tz).replace(microsecond=ms % 1000 * 1000)
    text = moment.isoformat(timespec="milliseconds")
    return text[:-3] + text[-2:]


def _user_date(day: date) -> str:
    # Jira's "userReleaseDate" style for an English locale: 6/Jul/2010.
    return f"{day.day}/{day:%b}/{day.year}"


# --------------------------------------------------------------------------------------------
# Fields
# --------------------------------------------------------------------------------------------


STORY_POINTS: Final = "customfield_10016"

# (id, name, schema type, array item type, JQL clause names, orderable, searchable)
_SYSTEM_FIELDS: Final = (
    ("issuekey", "Key", None, None, ("id", "issue", "issuekey", "key"), False, False),
    ("summary", "Summary", "string", None, ("summary",), True, True),
    ("status", "Status", "status", None, ("status",), False, True),
    ("issuetype", "Issue Type", "issuetype", None, ("issuetype", "type"), True, True),
    ("project", "Project", "project", None, ("project",), True, True),
    ("priority", "Priority", "priority", None, ("priority",), True, True),
    ("assignee", "Assignee", "user", None, ("assignee",), True, True),
    ("reporter", "Reporter", "user", None, ("reporter",), True, True),
    ("creator", "Creator", "user", None, ("creator",), False, True),
    ("labels", "Labels", "array", "string", ("labels",), True, True),
    ("duedate", "Due date", "date", None, ("due", "duedate"), True, True),
    ("created", "Created", "datetime", None, ("created", "createdDate"), False, True),
    ("updated", "Updated", "datetime", None, ("updated", "updatedDate"), False, True),
    ("resolution", "Resolution", "resolution", None, ("resolution",), True, True),
    ("resolutiondate", "Resolved", "datetime", None, ("resolutiondate", "resolved"), False, True),
    ("fixVersions", "Fix versions", "array", "version", ("fixVersion",), True, True),
    ("parent", "Parent", None, None, ("parent",), False, False),
    ("subtasks", "Sub-tasks", "array", "issuelinks", ("subtasks",), False, True),
    ("issuelinks", "Linked Issues", "array", "issuelinks", ("issueLink",), True, True),
    ("components", "Components", "array", "component", ("component",), True, True),
    ("description", "Description", "string", None, ("description",), True, True),
)


def _field_details(
    field_id: str,
    name: str,
    type_: str | None,
    items: str | None,
    clauses: Sequence[str],
    orderable: bool,
    searchable: bool,
) -> Json:
    out: Json = {
        "id": field_id,
        "key": field_id,
        "name": name,
        "custom": False,
        "orderable": orderable,
        "navigable": True,
        "searchable": searchable,
        "clauseNames": list(clauses),
    }
    if type_ is not None:
        out["schema"] = {"type": type_, "system": field_id}
        if items is not None:
            out["schema"]["items"] = items
    return out


#: ``GET /field``. ``issuekey`` is a field there but never a key of ``issue.fields``.
FIELD_DEFINITIONS: Final[list[Json]] = [
    *(_field_details(*spec) for spec in _SYSTEM_FIELDS),
    {
        "id": STORY_POINTS,
        "key": STORY_POINTS,
        "name": "Story point estimate",
        "untranslatedName": "Story point estimate",
        "custom": True,
        "orderable": True,
        "navigable": True,
        "searchable": True,
        "clauseNames": ["cf[10016]", "Story point estimate", "Story point estimate[Number]"],
        "schema": {
            "type": "number",
            "custom": "com.pyxis.greenhopper.jira:jsw-story-points",
            "customId": 10016,
        },
    },
]
_FIELDS_BY_ID: Final = {f["id"]: f for f in FIELD_DEFINITIONS}
#: The keys of ``issue.fields`` for ``*all``/``*navigable``, in the order they are rendered.
ISSUE_FIELDS: Final = tuple(f["id"] for f in FIELD_DEFINITIONS if f["id"] != "issuekey")


def parse_fields(values: Iterable[str]) -> tuple[str, ...] | None:
    """The ``fields`` parameter as Jira reads it; None means "ids only" (the default).

    Comma-separated and repeated values combine; ``*all``/``*navigable`` take everything,
    ``-name`` removes one, and names Jira does not know are ignored rather than refused.
    """
    tokens = [t.strip() for v in values for t in v.split(",") if t.strip()]
    if all(t == "id" for t in tokens):
        return None
    wanted: set[str] = set()
    dropped: set[str] = set()
    for token in tokens:
        if token in ("*all", "*navigable"):
            wanted.update(ISSUE_FIELDS)
        elif token.startswith("-"):
            dropped.add(token[1:])
        else:
            wanted.add(token)
    return tuple(f for f in ISSUE_FIELDS if f in wanted and f not in dropped)


# --------------------------------------------------------------------------------------------
# JQL: tokenizer, parser, compiler
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # word | string | op | ( | ) | , | eof
    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class _Value:
    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class _Function:
    name: str
    args: tuple[str, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class _Empty:
    pos: int


@dataclass(frozen=True, slots=True)
class _List:
    items: tuple[_Value | _Function, ...]
    pos: int


_Operand = _Value | _Function | _Empty | _List


@dataclass(frozen=True, slots=True)
class _Clause:
    field: str
    op: str
    operand: _Operand
    pos: int


@dataclass(frozen=True, slots=True)
class _And:
    parts: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Or:
    parts: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Not:
    part: _Node


_Node = _Clause | _And | _Or | _Not


@dataclass(frozen=True, slots=True)
class _Order:
    field: str
    descending: bool
    pos: int


@dataclass(frozen=True, slots=True)
class JqlQuery:
    where: _Node | None
    order: tuple[_Order, ...]


_OPERATORS: Final = "'=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'"
_RESERVED: Final = frozenset({"AND", "OR", "NOT", "IN", "IS", "ORDER", "BY", "EMPTY", "NULL"})
_WORD_STOP: Final = frozenset(" \t\r\n()=,!<>~\"'")


def _at(jql: str, pos: int) -> str:
    line = jql.count("\n", 0, pos) + 1
    column = pos - (jql.rfind("\n", 0, pos) + 1) + 1
    return f"(line {line}, character {column})"


def _tokenize(jql: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(jql)
    while i < n:
        c = jql[i]
        if c.isspace():
            i += 1
        elif c in "(),":
            tokens.append(_Token(c, c, i))
            i += 1
        elif c in "\"'":
            j, chars = i + 1, []
            while j < n and jql[j] != c:
                if jql[j] == "\\" and j + 1 < n:
                    j += 1
                chars.append(jql[j])
                j += 1
            text = "".join(chars)
            if j >= n:
                raise JqlError(
                    f"Error in the JQL Query: The quoted string '{text}' has not been completed. "
                    + _at(jql, i)
                )
            tokens.append(_Token("string", text, i))
            i = j + 1
        elif c in "=!<>~":
            two = jql[i : i + 2]
            op = two if two in ("!=", ">=", "<=", "!~") else c
            if op == "!":
                raise JqlError(
                    f"Error in the JQL Query: Expecting operator but got '!'. "
                    f"The valid operators are {_OPERATORS}. {_at(jql, i)}"
                )
            tokens.append(_Token("op", op, i))
            i += len(op)
        else:
            j = i
            while j < n and jql[j] not in _WORD_STOP and not jql[j].isspace():
                j += 1
            tokens.append(_Token("word", jql[i:j], i))
            i = j
    tokens.append(_Token("eof", "", n))
    return tokens


class _Parser:
    """Recursive descent over ``expr := term (OR term)*; term := factor (AND factor)*``."""

    def __init__(self, jql: str) -> None:
        self.jql = jql
        self.tokens = _tokenize(jql)
        self.pos = 0

    def parse(self) -> JqlQuery:
        where = None
        if not self._at_order_by() and self._peek().kind != "eof":
            where = self._or()
        order: tuple[_Order, ...] = ()
        if self._at_order_by():
            self.pos += 2
            order = self._order()
        token = self._peek()
        if token.kind != "eof":
            raise self._error(f"Expecting either 'OR' or 'AND' but got '{token.text}'.", token)
        return JqlQuery(where, order)

    def _peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def _next(self) -> _Token:
        token = self._peek()
        self.pos += 1
        return token

    @staticmethod
    def _is(token: _Token, *words: str) -> bool:
        return token.kind == "word" and token.text.upper() in words

    def _at_order_by(self) -> bool:
        return self._is(self._peek(), "ORDER") and self._is(self._peek(1), "BY")

    def _error(self, message: str, token: _Token) -> JqlError:
        return JqlError(f"Error in the JQL Query: {message} {_at(self.jql, token.pos)}")

    def _got(self, token: _Token) -> str:
        return "the end of the query" if token.kind == "eof" else f"'{token.text}'"

    def _or(self) -> _Node:
        parts = [self._and()]
        while self._is(self._peek(), "OR", "||"):
            self._next()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else _Or(tuple(parts))

    def _and(self) -> _Node:
        parts = [self._factor()]
        while self._is(self._peek(), "AND", "&&"):
            self._next()
            parts.append(self._factor())
        return parts[0] if len(parts) == 1 else _And(tuple(parts))

    def _factor(self) -> _Node:
        token = self._peek()
        if self._is(token, "NOT"):
            self._next()
            return _Not(self._factor())
        if token.kind == "(":
            self._next()
            node = self._or()
            closing = self._next()
            if closing.kind != ")":
                raise self._error(f"Expecting ')' but got {self._got(closing)}.", closing)
            return node
        return self._clause()

    def _clause(self) -> _Clause:
        token = self._next()
        if token.kind not in ("word", "string") or (
            token.kind == "word" and token.text.upper() in _RESERVED
        ):
            raise self._error(f"Expecting a field name but got {self._got(token)}.", token)
        op = self._operator()
        return _Clause(token.text, op, self._operand(), token.pos)

    def _operator(self) -> str:
        token = self._next()
        if token.kind == "op":
            return token.text
        if self._is(token, "IN"):
            return "IN"
        if self._is(token, "IS"):
            if self._is(self._peek(), "NOT"):
                self._next()
                return "IS NOT"
            return "IS"
        if self._is(token, "NOT") and self._is(self._peek(), "IN"):
            self._next()
            return "NOT IN"
        raise self._error(
            f"Expecting operator but got {self._got(token)}. The valid operators are {_OPERATORS}.",
            token,
        )

    def _operand(self) -> _Operand:
        token = self._peek()
        if token.kind == "(":
            self._next()
            items = [self._value()]
            while self._peek().kind == ",":
                self._next()
                items.append(self._value())
            closing = self._next()
            if closing.kind != ")":
                raise self._error(f"Expecting ')' but got {self._got(closing)}.", closing)
            return _List(tuple(items), token.pos)
        if self._is(token, "EMPTY", "NULL"):
            self._next()
            return _Empty(token.pos)
        return self._value()

    def _value(self) -> _Value | _Function:
        token = self._next()
        if token.kind == "string":
            return _Value(token.text, token.pos)
        if token.kind == "word" and token.text.upper() not in _RESERVED:
            if self._peek().kind != "(":
                return _Value(token.text, token.pos)
            self._next()
            args: list[str] = []
            while self._peek().kind in ("word", "string"):
                args.append(self._next().text)
                if self._peek().kind == ",":
                    self._next()
            closing = self._next()
            if closing.kind != ")":
                raise self._error(f"Expecting ')' but got {self._got(closing)}.", closing)
            return _Function(token.text, tuple(args), token.pos)
        raise self._error(
            f"Expecting either a value, list or function but got {self._got(token)}.", token
        )

    def _order(self) -> tuple[_Order, ...]:
        keys: list[_Order] = []
        while True:
            token = self._next()
            if token.kind not in ("word", "string"):
                raise self._error(f"Expecting a field name but got {self._got(token)}.", token)
            descending = False
            if self._is(self._peek(), "ASC", "DESC"):
                descending = self._next().text.upper() == "DESC"
            keys.append(_Order(token.text, descending, token.pos))
            if self._peek().kind != ",":
                break
            self._next()
        if len(keys) > _MAX_ORDER_FIELDS:
            raise JqlError(
                f"The ORDER BY clause may contain at most {_MAX_ORDER_FIELDS} fields "
                f"({len(keys)} given)."
            )
        return tuple(keys)


def parse_jql(jql: str) -> JqlQuery:
    return _Parser(jql).parse()


#: JQL clause names (lower-cased) -> the field they search.
_CLAUSE_FIELDS: Final = {
    "project": "project",
    "key": "issuekey",
    "issuekey": "issuekey",
    "issue": "issuekey",
    "id": "id",
    "updated": "updated",
    "updateddate": "updated",
    "created": "created",
    "createddate": "created",
    "resolved": "resolutiondate",
    "resolutiondate": "resolutiondate",
    "due": "duedate",
    "duedate": "duedate",
    "status": "status",
    "statuscategory": "statusCategory",
    "issuetype": "issuetype",
    "type": "issuetype",
    "assignee": "assignee",
    "reporter": "reporter",
    "labels": "labels",
    "parent": "parent",
    "fixversion": "fixVersion",
    "summary": "summary",
    "cf[10016]": STORY_POINTS,
    "story point estimate": STORY_POINTS,
}
_EQUALITY_OPS: Final = frozenset({"=", "!=", "IN", "NOT IN", "IS", "IS NOT"})
_ORDERED_OPS: Final = _EQUALITY_OPS | {">", ">=", "<", "<="}
_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_DATE_RE: Final = re.compile(
    r"(\d{4})([/-])(\d{1,2})\2(\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?", re.ASCII
)
_PERIOD_RE: Final = re.compile(r"([-+]?)\s*((?:\d+\s*[wdhm]\s*)+)", re.ASCII)
_PERIOD_PART_RE: Final = re.compile(r"(\d+)\s*([wdhm])", re.ASCII)
_PERIOD_UNIT_MS: Final = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000}
_ISSUE_KEY_RE: Final = re.compile(r"[A-Z][A-Z0-9_]*-\d+", re.ASCII)


#: Turns one JQL value (or function call) into the field values it stands for.
_Resolver = Callable[[_Value | _Function], Iterable[object]]


class _Compiler:
    """Turns a parsed query into a predicate over issues, checking values as Jira does.

    Jira refuses values it cannot resolve (an unknown or invisible project, a deleted issue
    key, a malformed date) with a 400 instead of matching nothing, so resolution happens here,
    once per query, and the predicates only compare prepared numbers and sets.
    """

    def __init__(self, sim: JiraSimulator) -> None:
        self.sim = sim

    def compile(self, node: _Node) -> Predicate:
        if isinstance(node, _And):
            parts = [self.compile(p) for p in node.parts]
            return lambda issue: all(p(issue) for p in parts)
        if isinstance(node, _Or):
            parts = [self.compile(p) for p in node.parts]
            return lambda issue: any(p(issue) for p in parts)
        if isinstance(node, _Not):
            inner = self.compile(node.part)
            return lambda issue: not inner(issue)
        return self._clause(node)

    def _clause(self, clause: _Clause) -> Predicate:
        name = clause.field
        canonical = _CLAUSE_FIELDS.get(name.lower())
        if canonical is None:
            raise JqlError(
                f"Field '{name}' does not exist or you do not have permission to view it."
            )
        if canonical in ("updated", "created", "resolutiondate", "duedate", STORY_POINTS):
            return self._ordered(clause, canonical)
        if canonical == "summary":
            return self._text(clause)
        if clause.op not in _EQUALITY_OPS:
            raise self._unsupported(clause)
        # Each resolver factory takes the field name as written, for Jira-worded errors.
        resolvers: dict[str, Callable[[str], _Resolver]] = {
            "project": self._projects,
            "issuekey": self._issue_ids,
            "id": self._issue_ids,
            "parent": self._issue_ids,
            "status": self._statuses,
            "statusCategory": self._categories,
            "issuetype": self._issuetypes,
            "assignee": self._users,
            "reporter": self._users,
            "labels": self._labels,
            "fixVersion": self._versions,
        }
        resolve = resolvers[canonical](name)
        if canonical == "labels":
            return self._multi(clause, operator.attrgetter("labels"), resolve)
        if canonical == "fixVersion":
            return self._multi(clause, operator.attrgetter("fix_version_ids"), resolve)
        return self._single(clause, _EQUALITY_GETTERS[canonical], resolve)

    # -- shapes of clause --------------------------------------------------------------

    def _items(self, clause: _Clause) -> list[_Value | _Function]:
        operand = clause.operand
        if isinstance(operand, _List):
            if clause.op not in ("IN", "NOT IN"):
                raise JqlError(
                    f"The operator '{clause.op.lower()}' does not support the list value "
                    f"for field '{clause.field}'."
                )
            return list(operand.items)
        if isinstance(operand, _Empty):
            raise JqlError(
                f"The operator '{clause.op.lower()}' does not support searching for EMPTY "
                f"values for field '{clause.field}'."
            )
        if clause.op in ("IS", "IS NOT"):
            raise JqlError(
                f"The operator '{clause.op.lower()}' only supports searching for EMPTY values "
                f"for field '{clause.field}'."
            )
        return [operand]

    @staticmethod
    def _empty_test(clause: _Clause) -> bool | None:
        """True for "is empty", False for "is not empty", None when the clause is not one."""
        if isinstance(clause.operand, _Empty) and clause.op in ("=", "IS", "!=", "IS NOT"):
            return clause.op in ("=", "IS")
        return None

    def _single(
        self,
        clause: _Clause,
        get: Callable[[Issue], object],
        resolve: _Resolver,
    ) -> Predicate:
        empty = self._empty_test(clause)
        if empty is not None:
            return (lambda i: get(i) is None) if empty else (lambda i: get(i) is not None)
        wanted = frozenset(v for item in self._items(clause) for v in resolve(item))
        if clause.op in ("=", "IN"):
            return lambda i: get(i) in wanted
        # Like Jira, a negative clause never matches an issue whose field is empty.
        return lambda i: (value := get(i)) is not None and value not in wanted

    def _multi(
        self,
        clause: _Clause,
        get: Callable[[Issue], tuple[Any, ...]],
        resolve: _Resolver,
    ) -> Predicate:
        empty = self._empty_test(clause)
        if empty is not None:
            return (lambda i: not get(i)) if empty else (lambda i: bool(get(i)))
        wanted = frozenset(v for item in self._items(clause) for v in resolve(item))
        if clause.op in ("=", "IN"):
            return lambda i: not wanted.isdisjoint(get(i))
        return lambda i: bool(values := get(i)) and wanted.isdisjoint(values)

    def _ordered(self, clause: _Clause, canonical: str) -> Predicate:
        if clause.op not in _ORDERED_OPS:
            raise self._unsupported(clause)
        get = _ORDERED_GETTERS[canonical]
        empty = self._empty_test(clause)
        if empty is not None:
            return (lambda i: get(i) is None) if empty else (lambda i: get(i) is not None)
        bounds = [
            self._ordered_value(item, clause.field, canonical) for item in self._items(clause)
        ]
        if clause.op in ("IN", "NOT IN"):
            wanted = frozenset(bounds)
            if clause.op == "IN":
                return lambda i: get(i) in wanted
            return lambda i: (v := get(i)) is not None and v not in wanted
        compare, bound = _COMPARE[clause.op], bounds[0]
        return lambda i: (v := get(i)) is not None and compare(v, bound)

    def _text(self, clause: _Clause) -> Predicate:
        if clause.op not in ("~", "!~"):
            raise self._unsupported(clause)
        operand = clause.operand
        if not isinstance(operand, _Value):
            raise JqlError(f"The field '{clause.field}' only supports text values with '~'.")
        words = [w.lower() for w in operand.text.replace("*", " ").split()]

        def contains(issue: Issue) -> bool:
            summary = issue.summary.lower()
            return all(w in summary for w in words)

        return contains if clause.op == "~" else (lambda i: not contains(i))

    @staticmethod
    def _unsupported(clause: _Clause) -> JqlError:
        return JqlError(
            f"The operator '{clause.op.lower()}' is not supported by the '{clause.field}' field."
        )

    # -- value resolution ----------------------------------------------------------------

    def _function(self, item: _Value | _Function, allowed: Sequence[str]) -> str | None:
        """The lower-cased function name, if ``item`` calls one ``allowed`` here."""
        if isinstance(item, _Value):
            return None
        name = item.name.lower()
        if name not in allowed:
            raise JqlError(f"Unable to find JQL function '{item.name}()'.")
        return name

    @staticmethod
    def _literal(item: _Value | _Function) -> str:
        if isinstance(item, _Function):
            raise JqlError(f"Unable to find JQL function '{item.name}()'.")
        return item.text

    def _projects(self, field: str) -> _Resolver:
        def resolve(item: _Value | _Function) -> Iterable[object]:
            text = self._literal(item)
            project = self.sim._find_project(text, loose=True)
            if project is None or project.hidden:
                raise JqlError(f"The value '{text}' does not exist for the field '{field}'.")
            return (project.id,)

        return resolve

    def _issue_ids(self, field: str) -> _Resolver:
        def resolve(item: _Value | _Function) -> Iterable[object]:
            text = self._literal(item).strip()
            if not (text.isdigit() or _ISSUE_KEY_RE.fullmatch(text.upper())):
                raise JqlError(f"The issue key '{text}' for field '{field}' is invalid.")
            issue = self.sim._visible_issue(text)
            if issue is None:
                raise JqlError(f"An issue with key '{text}' does not exist for field '{field}'.")
            return (issue.id,)

        return resolve

    def _statuses(self, field: str) -> _Resolver:
        def resolve(item: _Value | _Function) -> Iterable[object]:
            text = self._literal(item)
            wanted = text.lower()
            names = [s.name for s in STATUSES.values() if wanted in (s.name.lower(), s.id)]
            if not names:
                raise JqlError(f"The value '{text}' does not exist for the field '{field}'.")
            return names

        return resolve

    def _categories(self, field: str) -> _Resolver:
        def resolve(item: _Value | _Function) -> Iterable[object]:
            text = self._literal(item)
            wanted = text.lower()
            keys = [
                key
                for key, (cat_id, name, _) in STATUS_CATEGORIES.items()
                if wanted in (key, name.lower(), str(cat_id))
            ]
            if not keys:
                raise JqlError(f"The value '{text}' does not exist for the field '{field}'.")
            return keys

        return resolve

    def _issuetypes(self, field: str) -> _Resolver:
        def resolve(item: _Value | _Function) -> Iterable[object]:
            function = self._function(item, ("standardissuetypes", "subtaskissuetypes"))
            if function is not None:
                subtask = function == "subtaskissuetypes"
                return [t.name for t in ISSUE_TYPES.values() if t.subtask == subtask]
            text = self._literal(item)
            wanted = text.lower()
            names = [t.name for t in ISSUE_TYPES.values() if wanted in (t.name.lower(), t.id)]
            if not names:
                raise JqlError(f"The value '{text}' does not exist for the field '{field}'.")
            return names

        return resolve

    def _users(self, field: str) -> _Resolver:
        def resolve(item: _Value | _Function) -> Iterable[object]:
            if self._function(item, ("currentuser",)) is not None:
                return (self.sim.myself.account_id,)
            text = self._literal(item)
            wanted = text.lower()
            people = [self.sim.myself, *self.sim.users]
            ids = [
                u.account_id for u in people if wanted in (u.account_id.lower(), u.email.lower())
            ]
            if not ids:
                raise JqlError(f"The value '{text}' does not exist for the field '{field}'.")
            return ids

        return resolve

    def _labels(self, field: str) -> _Resolver:
        def resolve(item: _Value | _Function) -> Iterable[object]:
            return (self._literal(item),)

        return resolve

    def _versions(self, field: str) -> _Resolver:
        sim = self.sim

        def resolve(item: _Value | _Function) -> Iterable[object]:
            text = self._literal(item)
            wanted = text.lower()
            ids = [
                v.id
                for v in sim.versions.values()
                if not sim._projects_by_id[v.project_id].hidden
                and wanted in (v.name.lower(), str(v.id))
            ]
            if not ids:
                raise JqlError(f"The value '{text}' does not exist for the field '{field}'.")
            return ids

        return resolve

    def _ordered_value(self, item: _Value | _Function, field: str, canonical: str) -> int | float:
        if canonical == STORY_POINTS:
            text = self._literal(item)
            try:
                return float(text)
            except ValueError:
                raise JqlError(
                    f"The value '{text}' for field '{field}' is not a valid number."
                ) from None
        if self._function(item, ("now",)) is not None:
            moment_ms = self.sim._now_ms()
        else:
            moment_ms = self._jql_datetime(self._literal(item), field)
        if canonical == "duedate":
            local = (_EPOCH + moment_ms * _ONE_MS).astimezone(self.sim.tz)
            return local.date().toordinal()
        return moment_ms

    def _jql_datetime(self, text: str, field: str) -> int:
        """Epoch ms for a JQL date literal, read in the user's zone at minute precision.

        The literal cannot carry seconds, so ``"2026/11/20 10:00"`` in Europe/Berlin is the
        instant 09:00:00.000Z; issue timestamps are then compared at full precision.
        """
        value = text.strip()
        match = _DATE_RE.fullmatch(value)
        if match:
            year, _, month, day, hour, minute = match.groups()
            try:
                local = datetime(
                    int(year),
                    int(month),
                    int(day),
                    int(hour or 0),
                    int(minute or 0),
                    tzinfo=self.sim.tz,
                )
            except ValueError:
                pass
            else:
                return _ms(local)
        period = _PERIOD_RE.fullmatch(value)
        if period:
            sign, body = period.groups()
            delta = sum(
                int(amount) * _PERIOD_UNIT_MS[unit]
                for amount, unit in _PERIOD_PART_RE.findall(body)
            )
            return self.sim._now_ms() + (-delta if sign == "-" else delta)
        raise JqlError(
            f"Date value '{text}' for field '{field}' is invalid. Valid formats include: "
            "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
            "or a period format e.g. '-5d', '4w 2d'."
        )


def _category(issue: Issue) -> object:
    return STATUSES[issue.status].category


def _assignee_id(issue: Issue) -> object:
    return None if issue.assignee is None else issue.assignee.account_id


def _reporter_id(issue: Issue) -> object:
    return issue.reporter.account_id


#: Single-valued fields searched with =, !=, IN, NOT IN, IS [NOT] EMPTY.
_EQUALITY_GETTERS: Final[dict[str, Callable[[Issue], object]]] = {
    "project": operator.attrgetter("project_id"),
    "issuekey": operator.attrgetter("id"),
    "id": operator.attrgetter("id"),
    "parent": operator.attrgetter("parent_id"),
    "status": operator.attrgetter("status"),
    "statusCategory": _category,
    "issuetype": operator.attrgetter("issuetype"),
    "assignee": _assignee_id,
    "reporter": _reporter_id,
}


def _duedate_ordinal(issue: Issue) -> int | None:
    return None if issue.duedate is None else issue.duedate.toordinal()


_ORDERED_GETTERS: Final[dict[str, Callable[[Issue], int | float | None]]] = {
    "updated": operator.attrgetter("updated_ms"),
    "created": operator.attrgetter("created_ms"),
    "resolutiondate": operator.attrgetter("resolution_ms"),
    "duedate": _duedate_ordinal,
    STORY_POINTS: operator.attrgetter("story_points"),
}

#: ORDER BY names (lower-cased) -> what they sort on (see ``JiraSimulator._sort_part``).
_SORT_FIELDS: Final = {
    "id": "id",
    "key": "issuekey",
    "issuekey": "issuekey",
    "issue": "issuekey",
    "created": "created",
    "createddate": "created",
    "updated": "updated",
    "updateddate": "updated",
    "resolved": "resolutiondate",
    "resolutiondate": "resolutiondate",
    "due": "duedate",
    "duedate": "duedate",
    "cf[10016]": STORY_POINTS,
    "story point estimate": STORY_POINTS,
}


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


class _Renderer:
    """Issue, project and version JSON for one base URL.

    Issues are the hot path (the benchmark pulls 100,000 of them), so they are written as JSON
    text directly: every object shared between issues (a status, a user, a project reference,
    a label set) is serialised once and spliced in, and only per-issue scalars are encoded per
    request. Nothing per issue is cached, so memory stays flat however many issues exist.
    """

    def __init__(self, sim: JiraSimulator, base: str) -> None:
        self.sim = sim
        self.base = base
        api = f"{base}/rest/api/3"
        self.api = api
        # The API prefix as it sits inside a JSON string, escaped once.
        self._api = _encode(api)[1:-1]
        statuses: dict[str, Json] = {}
        for status in STATUSES.values():
            cat_id, cat_name, colour = STATUS_CATEGORIES[status.category]
            statuses[status.name] = {
                "self": f"{api}/status/{status.id}",
                "description": status.description,
                "iconUrl": f"{base}/images/icons/statuses/generic.png",
                "name": status.name,
                "id": status.id,
                "statusCategory": {
                    "self": f"{api}/statuscategory/{cat_id}",
                    "id": cat_id,
                    "key": status.category,
                    "colorName": colour,
                    "name": cat_name,
                },
            }
        issuetypes: dict[str, Json] = {
            t.name: {
                "self": f"{api}/issuetype/{t.id}",
                "id": t.id,
                "description": t.description,
                "iconUrl": f"{api}/universal_avatar/view/type/issuetype/avatar/{t.id}",
                "name": t.name,
                "subtask": t.subtask,
                "hierarchyLevel": t.hierarchy_level,
            }
            for t in ISSUE_TYPES.values()
        }
        self.issuetypes = issuetypes
        priorities = {
            name: {
                "self": f"{api}/priority/{pid}",
                "iconUrl": f"{base}/images/icons/priorities/{name.lower()}.svg",
                "name": name,
                "id": pid,
            }
            for name, pid in PRIORITIES.items()
        }
        resolutions = {
            name: {"self": f"{api}/resolution/{rid}", "id": rid, "description": "", "name": name}
            for name, rid in RESOLUTIONS.items()
        }
        self._status = {name: _text(v) for name, v in statuses.items()}
        self._issuetype = {name: _text(v) for name, v in issuetypes.items()}
        self._priority = {name: _text(v) for name, v in priorities.items()}
        self._resolution = {name: _text(v) for name, v in resolutions.items()}
        self._users: dict[str, Json] = {}
        self._user_text: dict[str, str] = {}
        self._project_text: dict[int, str] = {}
        self._versions_text: dict[tuple[int, ...], str] = {}
        self._labels_text: dict[tuple[str, ...], str] = {}
        tz = sim.tz

        def when(ms: int | None) -> str:
            return "null" if ms is None else f'"{format_jira_datetime(ms, tz)}"'

        # field -> JSON text of its value for one issue; None leaves the field out.
        self._writers: dict[str, Callable[[Issue], str | None]] = {
            "summary": lambda i: _encode(i.summary),
            "status": lambda i: self._status[i.status],
            "issuetype": lambda i: self._issuetype[i.issuetype],
            "project": self._project_ref,
            "priority": lambda i: self._priority[i.priority],
            "assignee": lambda i: "null" if i.assignee is None else self._user(i.assignee),
            "reporter": lambda i: self._user(i.reporter),
            "creator": lambda i: self._user(i.reporter),
            "labels": self._labels,
            "duedate": lambda i: "null" if i.duedate is None else f'"{i.duedate.isoformat()}"',
            "created": lambda i: when(i.created_ms),
            "updated": lambda i: when(i.updated_ms),
            "resolution": lambda i: (
                "null" if i.resolution is None else self._resolution[i.resolution]
            ),
            "resolutiondate": lambda i: when(i.resolution_ms),
            "fixVersions": self._fix_versions,
            "parent": self._parent,
            "subtasks": self._subtasks,
            "issuelinks": lambda i: "[]",
            "components": lambda i: "[]",
            "description": lambda i: "null",
            STORY_POINTS: lambda i: "null" if i.story_points is None else repr(i.story_points),
        }
        self._prefix = {name: f'"{name}":' for name in ISSUE_FIELDS}

    # -- issues (JSON text) ------------------------------------------------------------------

    def issue(self, issue: Issue, fields: tuple[str, ...] | None, *, corrupt: bool = False) -> str:
        """One issue as JSON; ``corrupt`` renders ``fields.status`` as a bare string."""
        head = (
            f'{{"id":"{issue.id}","key":{_encode(issue.key)},"self":"{self._api}/issue/{issue.id}"'
        )
        if fields is None and not corrupt:
            return head + "}"
        writers, prefix = self._writers, self._prefix
        parts: list[str] = []
        for name in fields or ():
            if corrupt and name == "status":
                continue
            value = writers[name](issue)
            if value is not None:
                parts.append(prefix[name] + value)
        if corrupt:
            parts.append(f'"status":{_encode(issue.status)}')
        return f'{head},"expand":"{_ISSUE_EXPAND}","fields":{{{",".join(parts)}}}}}'

    def _user(self, user: User) -> str:
        text = self._user_text.get(user.account_id)
        if text is None:
            text = self._user_text[user.account_id] = _text(self.user(user))
        return text

    def _project_ref(self, issue: Issue) -> str:
        text = self._project_text.get(issue.project_id)
        if text is None:
            project = self.sim._projects_by_id[issue.project_id]
            text = _text(
                {
                    "self": f"{self.api}/project/{project.id}",
                    "id": str(project.id),
                    "key": project.key,
                    "name": project.name,
                    "projectTypeKey": "software",
                    "simplified": project.simplified,
                    "avatarUrls": self.avatars(project),
                }
            )
            self._project_text[issue.project_id] = text
        return text

    def _labels(self, issue: Issue) -> str:
        text = self._labels_text.get(issue.labels)
        if text is None:
            text = self._labels_text[issue.labels] = _text(list(issue.labels))
        return text

    def _fix_versions(self, issue: Issue) -> str:
        text = self._versions_text.get(issue.fix_version_ids)
        if text is None:
            versions = [self.sim.versions[v] for v in issue.fix_version_ids]
            text = _text(
                [
                    {
                        "self": f"{self.api}/version/{v.id}",
                        "id": str(v.id),
                        "description": v.description,
                        "name": v.name,
                        "archived": v.archived,
                        "released": v.released,
                        "releaseDate": v.release_date.isoformat(),
                    }
                    for v in versions
                ]
            )
            self._versions_text[issue.fix_version_ids] = text
        return text

    def _brief(self, issue: Issue) -> str:
        # The reduced issue Jira nests in ``parent`` and ``subtasks``.
        return (
            f'{{"id":"{issue.id}","key":{_encode(issue.key)},'
            f'"self":"{self._api}/issue/{issue.id}","fields":{{'
            f'"summary":{_encode(issue.summary)},"status":{self._status[issue.status]},'
            f'"priority":{self._priority[issue.priority]},'
            f'"issuetype":{self._issuetype[issue.issuetype]}}}}}'
        )

    def _parent(self, issue: Issue) -> str | None:
        # Jira leaves ``parent`` out entirely when an issue has none.
        if issue.parent_id is None:
            return None
        parent = self.sim.issues.get(issue.parent_id)
        return None if parent is None else self._brief(parent)

    def _subtasks(self, issue: Issue) -> str:
        children = self.sim._subtasks.get(issue.id)
        if not children:
            return "[]"
        issues = self.sim.issues
        return "[" + ",".join(self._brief(issues[c]) for c in children if c in issues) + "]"

    # -- everything else (dicts; not hot) --------------------------------------------------

    def user(self, user: User) -> Json:
        out = self._users.get(user.account_id)
        if out is None:
            avatar = f"{self.base}/secure/useravatar"
            out = {
                "self": f"{self.api}/user?accountId={user.account_id}",
                "accountId": user.account_id,
                "emailAddress": user.email,
                "avatarUrls": {
                    f"{px}x{px}": f"{avatar}?size={px}&accountId={user.account_id}"
                    for px in (48, 24, 16, 32)
                },
                "displayName": user.display_name,
                "active": user.active,
                "timeZone": user.time_zone,
                "accountType": "atlassian",
            }
            self._users[user.account_id] = out
        return out

    def avatars(self, project: Project) -> Json:
        return {
            f"{px}x{px}": f"{self.base}/secure/projectavatar?size={size}&pid={project.id}"
            for px, size in ((48, "large"), (24, "small"), (16, "xsmall"), (32, "medium"))
        }

    def project(self, project: Project, *, expand: AbstractSet[str], full: bool) -> Json:
        out: Json = {
            "expand": _PROJECT_EXPAND,
            "self": f"{self.api}/project/{project.id}",
            "id": str(project.id),
            "key": project.key,
            "name": project.name,
            "avatarUrls": self.avatars(project),
            "projectTypeKey": "software",
            "simplified": project.simplified,
            "style": "next-gen" if project.simplified else "classic",
            "isPrivate": False,
            "archived": False,
            "properties": {},
        }
        # GET project always carries description, lead and issue types; search only on expand.
        if full or "description" in expand:
            out["description"] = project.description
        if full or "lead" in expand:
            out["lead"] = self.user(project.lead)
        if full or "issuetypes" in expand:
            out["issueTypes"] = list(self.issuetypes.values())
        if full:
            out["assigneeType"] = "UNASSIGNED"
            out["components"] = []
            out["versions"] = [self.version(v) for v in self.sim._project_versions(project.id)]
        return out

    def version(self, version: Version) -> Json:
        today = self.sim.clock().astimezone(self.sim.tz).date()
        return {
            "self": f"{self.api}/version/{version.id}",
            "id": str(version.id),
            "description": version.description,
            "name": version.name,
            "archived": version.archived,
            "released": version.released,
            "startDate": version.start_date.isoformat(),
            "releaseDate": version.release_date.isoformat(),
            "overdue": not version.released and version.release_date < today,
            "userStartDate": _user_date(version.start_date),
            "userReleaseDate": _user_date(version.release_date),
            "projectId": version.project_id,
        }


# --------------------------------------------------------------------------------------------
# The simulator
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Result:
    """One query's matches in order, valid while the simulator's generation is unchanged."""

    generation: int
    keys: list[SortKey]
    issues: list[Issue]


@dataclass(frozen=True, slots=True)
class _SearchRequest:
    jql: str
    next_page_token: str | None
    max_results: int
    fields: tuple[str, ...] | None
    expand: frozenset[str]


class JiraSimulator:
    """An in-memory Jira Cloud site with seeded sales-ops data and test controls.

    ``app`` is the ASGI application. Every mutation (``update_issue``, ``add_issue``,
    ``delete_issue``, ``hide_project``) and every clock change bumps an internal generation,
    which invalidates cached search results; issue ``updated`` times move to :meth:`clock`.
    """

    def __init__(
        self,
        *,
        issues: int = 300,
        projects: int = 3,
        seed: int = 7,
        email: str = "demo@example.com",
        api_token: str = "demo-token",  # noqa: S107 - the public demo credential, by design
        time_zone: str = "Europe/Berlin",
        now: datetime | None = None,
        max_results_cap: int = 100,
        client_secret: str = DEMO_CLIENT_SECRET,
    ) -> None:
        if max_results_cap < 1:
            raise ValueError("max_results_cap must be at least 1")
        if now is not None and now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._now = (now or DEFAULT_NOW).astimezone(UTC)
        self.tz = ZoneInfo(time_zone)
        self.max_results_cap = max_results_cap
        data = generate_dataset(
            issues=issues,
            projects=projects,
            seed=seed,
            now=self._now,
            email=email,
            time_zone=time_zone,
        )
        self.myself: User = data.myself
        self.users: list[User] = data.users
        #: Projects by key, hidden ones included (see ``Project.hidden``).
        self.projects: dict[str, Project] = {p.key: p for p in data.projects}
        self._projects_by_id: dict[int, Project] = {p.id: p for p in data.projects}
        # ORDER BY key sorts on project key, then number: rank the keys once.
        self._project_rank = {
            p.id: rank for rank, p in enumerate(sorted(data.projects, key=lambda p: p.key))
        }
        #: Versions by numeric id.
        self.versions: dict[int, Version] = {v.id: v for v in data.versions}
        #: Live issues by numeric id, in id order (deleted ones are removed).
        self.issues: dict[int, Issue] = {i.id: i for i in data.issues}
        self._by_key: dict[str, Issue] = {i.key: i for i in data.issues}
        self._subtasks: dict[int, list[int]] = {}
        for issue in data.issues:
            if issue.parent_id is not None and ISSUE_TYPES[issue.issuetype].subtask:
                self._subtasks.setdefault(issue.parent_id, []).append(issue.id)
        self._next_id = (data.issues[-1].id + 1) if data.issues else 10001

        self._basic = f"{email}:{api_token}".encode()
        self._token = api_token.encode()
        self._generation = 0
        self._requests = 0
        self._failures = FailureQueue()
        self._corrupt_next = False
        self._cache: OrderedDict[str, _Result] = OrderedDict()
        self._renderers: dict[str, _Renderer] = {}
        self._compiler = _Compiler(self)
        #: Dynamic webhooks by id (expired ones are dropped as they are noticed).
        self.webhooks: dict[int, DynamicWebhook] = {}
        self._next_webhook_id = _FIRST_WEBHOOK_ID
        self.client_secret = client_secret
        #: Deliveries waiting to be posted, oldest first (bounded: nobody may drain it).
        self.outbox: deque[Outgoing] = deque(maxlen=10_000)
        self._deliveries = 0

        api = "/rest/api/3"
        router = Starlette(
            routes=[
                Route(f"{api}/myself", self._myself, methods=["GET"]),
                Route(f"{api}/field", self._fields, methods=["GET"]),
                Route(f"{api}/project/search", self._project_search, methods=["GET"]),
                Route(f"{api}/project/{{key}}", self._project, methods=["GET"]),
                Route(f"{api}/project/{{key}}/version", self._version_page, methods=["GET"]),
                Route(f"{api}/project/{{key}}/versions", self._version_list, methods=["GET"]),
                Route(f"{api}/search/jql", self._search, methods=["GET", "POST"]),
                Route(f"{api}/search/approximate-count", self._count, methods=["POST"]),
                Route(f"{api}/search", self._removed_search, methods=["GET", "POST"]),
                Route(f"{api}/issue/bulkfetch", self._issue_bulkfetch, methods=["POST"]),
                Route(f"{api}/issue/{{key}}", self._issue_get, methods=["GET"]),
                Route(f"{api}/version/{{id}}", self._version_get, methods=["GET"]),
                Route(f"{api}/webhook", self._webhooks_endpoint, methods=["GET", "POST", "DELETE"]),
                Route(f"{api}/webhook/refresh", self._webhook_refresh, methods=["PUT"]),
            ],
            exception_handlers={ApiError: self._on_error, HTTPException: self._on_error},
        )
        # Jira answers a trailing slash with 404, not a redirect.
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
        self._touch()  # relative JQL dates ("-15m") depend on the clock

    def advance(self, seconds: float) -> None:
        self.set_clock(self._now + timedelta(seconds=seconds))

    def _now_ms(self) -> int:
        return _ms(self._now)

    # -- mutations -----------------------------------------------------------------------

    def update_issue(
        self,
        key_or_id: str,
        *,
        summary: str | None = None,
        status: str | None = None,
        story_points: float | None = None,
        duedate: date | None = None,
        assignee_email: str | None = None,
    ) -> None:
        """Change an issue like a user would; None leaves a field alone.

        ``assignee_email=""`` unassigns. Moving into a done status sets the resolution and
        ``resolutiondate``; moving out clears them, as Jira's default workflow does.
        """
        issue = self._live_issue(key_or_id)
        now_ms = self._now_ms()
        if summary is not None:
            issue.summary = summary
        if status is not None:
            if status not in STATUSES:
                raise ValueError(f"unknown status {status!r}; known: {sorted(STATUSES)}")
            resolution = resolution_for(status)
            if resolution != issue.resolution:
                issue.resolution = resolution
                issue.resolution_ms = None if resolution is None else now_ms
            issue.status = status
        if story_points is not None:
            issue.story_points = float(story_points)
        if duedate is not None:
            issue.duedate = duedate
        if assignee_email is not None:
            issue.assignee = self._user_by_email(assignee_email) if assignee_email else None
        issue.updated_ms = now_ms
        self._touch()
        self._announce("jira:issue_updated", issue)

    def add_issue(self, project_key: str, *, summary: str, status: str = "To Do") -> str:
        """Create a Task reported by ``myself``; returns its key."""
        project = self.projects[project_key]
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; known: {sorted(STATUSES)}")
        now_ms = self._now_ms()
        resolution = resolution_for(status)
        issue = Issue(
            id=self._next_id,
            key=f"{project.key}-{project.next_number}",
            number=project.next_number,
            project_id=project.id,
            issuetype="Task",
            summary=summary,
            status=status,
            priority="Medium",
            assignee=None,
            reporter=self.myself,
            labels=(),
            duedate=None,
            created_ms=now_ms,
            updated_ms=now_ms,
            resolution=resolution,
            resolution_ms=None if resolution is None else now_ms,
            fix_version_ids=(),
            parent_id=None,
            story_points=None,
        )
        self._next_id += 1
        project.next_number += 1
        self.issues[issue.id] = issue
        self._by_key[issue.key] = issue
        self._touch()
        self._announce("jira:issue_created", issue)
        return issue.key

    def delete_issue(self, key_or_id: str) -> None:
        """Delete an issue and, as Jira does, its sub-tasks; its epic children lose the parent."""
        issue = self._live_issue(key_or_id)
        now_ms = self._now_ms()
        self._announce("jira:issue_deleted", issue)  # filters are matched while it exists
        doomed = [issue.id, *self._subtasks.pop(issue.id, [])]
        for issue_id in doomed:
            gone = self.issues.pop(issue_id, None)
            if gone is not None:
                del self._by_key[gone.key]
        if issue.parent_id is not None and issue.parent_id in self._subtasks:
            siblings = self._subtasks[issue.parent_id]
            if issue.id in siblings:
                siblings.remove(issue.id)
        for child in self.issues.values():
            if child.parent_id == issue.id:
                child.parent_id = None
                child.updated_ms = now_ms
        self._touch()

    def hide_project(self, key: str) -> None:
        """The credentials lose access: 404 on project endpoints, 400 when JQL names it."""
        self.projects[key].hidden = True
        self._touch()

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        retry_after: str | None = None,
        body: str | dict[str, Any] | None = None,
        path_contains: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status``, before auth and routing;
        ``path_contains`` and ``method`` narrow which requests match.

        A str ``body`` is sent as text/plain (an HTML error page from a proxy, say), a dict as
        JSON; the default is Jira's error envelope. 429s carry Jira's rate-limit headers.
        """
        self._failures.add(
            status,
            count=count,
            retry_after=retry_after,
            body=body,
            path_contains=path_contains,
            method=method,
        )

    def corrupt_next_search_page(self) -> None:
        """The next non-empty ``/search/jql`` page carries ``fields.status`` as a bare string."""
        self._corrupt_next = True

    def forget_webhook(self, webhook_id: int) -> None:
        """Jira loses a dynamic webhook (deleted by someone else, or expired unseen)."""
        del self.webhooks[webhook_id]

    def take_outbox(self) -> list[Outgoing]:
        """The queued deliveries, oldest first; the queue is empty afterwards."""
        queued = list(self.outbox)
        self.outbox.clear()
        return queued

    # -- observation -----------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        """HTTP requests served, failures and 401s included."""
        return self._requests

    def issue_count(self) -> int:
        """Live issues the credentials can see (deleted and hidden-project issues excluded)."""
        hidden = self._hidden_ids()
        return sum(1 for i in self.issues.values() if i.project_id not in hidden)

    # -- lookups -------------------------------------------------------------------------

    def _touch(self) -> None:
        self._generation += 1

    def _hidden_ids(self) -> frozenset[int]:
        return frozenset(p.id for p in self.projects.values() if p.hidden)

    def _live_issue(self, key_or_id: str) -> Issue:
        issue = self._lookup_issue(str(key_or_id))
        if issue is None:
            raise KeyError(f"no live issue {key_or_id!r}")
        return issue

    def _lookup_issue(self, key_or_id: str) -> Issue | None:
        text = key_or_id.strip()
        if text.isdigit():
            return self.issues.get(int(text))
        return self._by_key.get(text.upper())

    def _visible_issue(self, key_or_id: str) -> Issue | None:
        issue = self._lookup_issue(key_or_id)
        if issue is None or self._projects_by_id[issue.project_id].hidden:
            return None
        return issue

    def _find_project(self, key_or_id: str, *, loose: bool = False) -> Project | None:
        """By id or key; ``loose`` (JQL) also ignores case and accepts the project name."""
        if key_or_id.isdigit():
            by_id = self._projects_by_id.get(int(key_or_id))
            if by_id is not None:
                return by_id
        project = self.projects.get(key_or_id)
        if project is not None or not loose:
            return project
        wanted = key_or_id.lower()
        for candidate in self.projects.values():
            if wanted in (candidate.key.lower(), candidate.name.lower()):
                return candidate
        return None

    def _visible_project(self, key_or_id: str) -> Project:
        project = self._find_project(key_or_id)
        if project is None or project.hidden:
            what = "id" if key_or_id.isdigit() else "key"
            raise ApiError(404, f"No project could be found with {what} '{key_or_id}'.")
        return project

    def _project_versions(self, project_id: int) -> list[Version]:
        return [v for v in self.versions.values() if v.project_id == project_id]

    def _user_by_email(self, email: str) -> User:
        for user in (self.myself, *self.users):
            if user.email.lower() == email.lower():
                return user
        known = sorted(u.email for u in self.users)
        raise ValueError(f"no user with email {email!r}; known: {known}")

    def _renderer(self, request: Request) -> _Renderer:
        base = str(request.base_url).rstrip("/")
        renderer = self._renderers.get(base)
        if renderer is None:
            renderer = self._renderers[base] = _Renderer(self, base)
        return renderer

    # -- ASGI ----------------------------------------------------------------------------

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._router(scope, receive, send)
            return
        self._requests += 1
        failure = self._failures.take(scope["path"], scope["method"])
        if failure is not None:
            await self._failure_response(failure)(scope, receive, send)
            return
        if not self._authorized(scope):
            response = _envelope(
                401, _NOT_AUTHENTICATED, {"WWW-Authenticate": 'Basic realm="protected-area"'}
            )
            await response(scope, receive, send)
            return
        await self._router(scope, receive, send)

    def _failure_response(self, failure: Failure) -> Response:
        headers: dict[str, str] = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = failure.retry_after
        if failure.status == 429:
            retry_after = failure.retry_after or ""
            wait = int(retry_after) if retry_after.isdigit() else 60
            reset = self._now + timedelta(seconds=wait)
            headers.update(
                {
                    "X-RateLimit-Limit": "100",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%MZ"),
                    "RateLimit-Reason": "jira-burst-based",
                }
            )
        if isinstance(failure.body, str):
            return Response(failure.body, failure.status, headers, media_type="text/plain")
        if isinstance(failure.body, dict):
            return _json(failure.body, failure.status, headers)
        return _envelope(failure.status, _failure_message(failure.status), headers)

    def _authorized(self, scope: Scope) -> bool:
        header = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value
                break
        scheme, _, credentials = header.partition(b" ")
        scheme = scheme.lower()
        if scheme == b"basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True)
            except (binascii.Error, ValueError):
                return False
            return hmac.compare_digest(decoded, self._basic)
        if scheme == b"bearer":
            return hmac.compare_digest(credentials.strip(), self._token)
        return False

    async def _on_error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, ApiError):
            return _envelope(exc.status, exc.message)
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return _envelope(404, f"No resource found for {request.url.path}.")
        if exc.status_code == 405:
            return _envelope(405, f"Method {request.method} is not allowed here.")
        return _envelope(exc.status_code, str(exc.detail))

    # -- endpoints: identity and metadata ------------------------------------------------

    async def _myself(self, request: Request) -> Response:
        r = self._renderer(request)
        body = {
            **r.user(self.myself),
            "timeZone": str(self.tz),
            "locale": "en_US",
            "groups": {"size": 0, "items": []},
            "applicationRoles": {"size": 1, "items": []},
            "expand": "groups,applicationRoles",
        }
        return _json(body)

    async def _fields(self, request: Request) -> Response:
        return _json(FIELD_DEFINITIONS)

    # -- endpoints: projects and versions ------------------------------------------------

    async def _project_search(self, request: Request) -> Response:
        params = request.query_params
        start = _int_param(params.get("startAt"), "startAt", 0)
        # The spec: "If a value greater than 100 is provided, maxResults defaults to 100".
        size = min(_int_param(params.get("maxResults"), "maxResults", 50), 100)
        keys = {k for v in params.getlist("keys") for k in v.split(",") if k}
        ids = {_int_param(i, "id", 0) for v in params.getlist("id") for i in v.split(",") if i}
        query = (params.get("query") or "").lower()
        expand = _csv_set(params.get("expand"))
        projects = [p for p in self.projects.values() if not p.hidden]
        if keys or ids:
            projects = [p for p in projects if p.key in keys or p.id in ids]
        if query:
            projects = [p for p in projects if query in p.key.lower() or query in p.name.lower()]
        order = params.get("orderBy") or "key"
        field = order.lstrip("+-")
        if field not in ("key", "name", "id"):
            field = "key"
        projects.sort(key=lambda p: p.id if field == "id" else getattr(p, field).lower())
        if order.startswith("-"):
            projects.reverse()
        r = self._renderer(request)
        page = projects[start : start + size]
        return _json(
            _page_bean(
                request,
                start,
                size,
                len(projects),
                [r.project(p, expand=expand, full=False) for p in page],
            )
        )

    async def _project(self, request: Request) -> Response:
        project = self._visible_project(request.path_params["key"])
        return _json(self._renderer(request).project(project, expand=set(), full=True))

    async def _version_page(self, request: Request) -> Response:
        project = self._visible_project(request.path_params["key"])
        params = request.query_params
        start = _int_param(params.get("startAt"), "startAt", 0)
        size = _int_param(params.get("maxResults"), "maxResults", 50)
        versions = self._project_versions(project.id)
        statuses = _csv_set(params.get("status"))
        if statuses:
            versions = [
                v
                for v in versions
                if ("released" in statuses and v.released and not v.archived)
                or ("unreleased" in statuses and not v.released and not v.archived)
                or ("archived" in statuses and v.archived)
            ]
        query = (params.get("query") or "").lower()
        if query:
            versions = [
                v for v in versions if query in v.name.lower() or query in v.description.lower()
            ]
        order = params.get("orderBy") or "sequence"
        field = order.lstrip("+-")
        if field == "name":
            versions.sort(key=lambda v: v.name.lower())
        elif field == "releaseDate":
            versions.sort(key=lambda v: v.release_date)
        if order.startswith("-"):
            versions.reverse()
        r = self._renderer(request)
        values = [r.version(v) for v in versions[start : start + size]]
        if "issuesstatus" in _csv_set(params.get("expand")):
            for value in values:
                value["issuesStatusForFixVersion"] = self._version_status_counts(int(value["id"]))
        return _json(_page_bean(request, start, size, len(versions), values))

    async def _version_list(self, request: Request) -> Response:
        project = self._visible_project(request.path_params["key"])
        r = self._renderer(request)
        return _json([r.version(v) for v in self._project_versions(project.id)])

    async def _version_get(self, request: Request) -> Response:
        raw = request.path_params["id"]
        version = self.versions.get(int(raw)) if raw.isdigit() else None
        if version is None or self._projects_by_id[version.project_id].hidden:
            raise ApiError(404, f"Could not find version for id '{raw}'")
        return _json(self._renderer(request).version(version))

    def _version_status_counts(self, version_id: int) -> Json:
        counts = {"unmapped": 0, "toDo": 0, "inProgress": 0, "done": 0}
        bucket = {"new": "toDo", "indeterminate": "inProgress", "done": "done"}
        for issue in self.issues.values():
            if version_id in issue.fix_version_ids:
                counts[bucket[STATUSES[issue.status].category]] += 1
        return counts

    # -- endpoints: dynamic webhooks -----------------------------------------------------

    def _require_app(self, request: Request) -> None:
        # Basic auth is a user, never an app: the spec's 403 "if the caller isn't an app".
        scheme = request.headers.get("authorization", "").partition(" ")[0].lower()
        if scheme != "bearer":
            raise ApiError(403, _ONLY_APPS)

    async def _webhooks_endpoint(self, request: Request) -> Response:
        self._require_app(request)
        self._drop_expired_webhooks()
        if request.method == "POST":
            return self._register_webhooks(await _json_body(request))
        if request.method == "DELETE":
            for webhook_id in _webhook_ids(await _json_body(request)):
                self.webhooks.pop(webhook_id, None)
            return Response(status_code=202)
        params = request.query_params
        start = _int_param(params.get("startAt"), "startAt", 0)
        size = _int_param(params.get("maxResults"), "maxResults", 100)
        hooks = sorted(self.webhooks.values(), key=operator.attrgetter("id"))
        values = [_webhook_json(h) for h in hooks[start : start + size]]
        return _json(_page_bean(request, start, size, len(hooks), values))

    async def _webhook_refresh(self, request: Request) -> Response:
        self._require_app(request)
        self._drop_expired_webhooks()
        ids = _webhook_ids(await _json_body(request))
        expires_ms = _ms(self._now + WEBHOOK_LIFETIME)
        for webhook_id in ids:  # unknown ids are ignored, as the spec says
            hook = self.webhooks.get(webhook_id)
            if hook is not None:
                hook.expires_ms = expires_ms
        return _json({"expirationDate": expires_ms})

    def _register_webhooks(self, body: Json) -> Response:
        """``WebhookRegistrationDetails`` in, ``ContainerForRegisteredWebhooks`` out: a
        malformed body is a 400; a filter Jira cannot use is that entry's ``errors``."""
        for name in body:
            if name not in ("url", "webhooks"):
                raise ApiError(400, f'Unrecognized field "{name}".')
        url, entries = body.get("url"), body.get("webhooks")
        if not isinstance(url, str) or not url:
            raise ApiError(400, "The url property is required.")
        if not isinstance(entries, list):
            raise ApiError(400, "The webhooks property is required.")
        checked = [_webhook_details(entry) for entry in entries]
        results: list[Json] = []
        for events, jql, fields, keys in checked:
            problems = self._webhook_filter_problems(jql)
            if problems:
                results.append({"errors": problems})
                continue
            hook = DynamicWebhook(
                id=self._next_webhook_id,
                url=url,
                events=events,
                jql_filter=jql,
                expires_ms=_ms(self._now + WEBHOOK_LIFETIME),
                field_ids_filter=fields,
                issue_property_keys_filter=keys,
            )
            self._next_webhook_id += 1
            self.webhooks[hook.id] = hook
            results.append({"createdWebhookId": hook.id})
        return _json({"webhookRegistrationResult": results})

    def _webhook_filter_problems(self, jql: str) -> list[str]:
        """Why Jira would refuse ``jql`` as a webhook filter; empty when it is fine."""
        try:
            query = parse_jql(jql)
        except JqlError as error:
            return [error.message]
        if query.where is None:
            return ["The JQL filter must not be empty."]
        problems: list[str] = []
        if query.order:
            problems.append("The clause ORDER BY is unsupported")
        for clause in _clauses(query.where):
            canonical = _CLAUSE_FIELDS.get(clause.field.lower())
            if canonical not in _WEBHOOK_JQL_FIELDS:
                problems.append(f"The clause {clause.field} is unsupported")
            elif clause.op not in _WEBHOOK_JQL_OPS:
                problems.append(f"The operator '{clause.op}' is unsupported")
        if not problems:
            try:
                self._compiler.compile(query.where)
            except JqlError as error:
                problems.append(error.message)
        return problems

    def _drop_expired_webhooks(self) -> None:
        now_ms = self._now_ms()
        for webhook_id in [i for i, h in self.webhooks.items() if h.expires_ms <= now_ms]:
            del self.webhooks[webhook_id]

    def _announce(self, event: str, issue: Issue) -> None:
        """Queue one delivery per receiver URL whose webhooks want ``event`` for ``issue``."""
        if not self.webhooks:
            return
        self._drop_expired_webhooks()
        if self._projects_by_id[issue.project_id].hidden:
            return
        matched: dict[str, list[int]] = {}
        for hook in sorted(self.webhooks.values(), key=operator.attrgetter("id")):
            if event in hook.events and self._webhook_matches(hook, issue):
                matched.setdefault(hook.url, []).append(hook.id)
        for url, ids in matched.items():
            self.outbox.append(Outgoing(url, self._dynamic_delivery(event, issue, ids)))

    def _webhook_matches(self, hook: DynamicWebhook, issue: Issue) -> bool:
        try:
            query = parse_jql(hook.jql_filter)
            return query.where is not None and self._compiler.compile(query.where)(issue)
        except JqlError:  # a project in it became invisible: Jira cannot evaluate it either
            return False

    def _dynamic_delivery(self, event: str, issue: Issue, webhook_ids: list[int]) -> Delivery:
        """What Jira posts for an OAuth 2.0 app's dynamic webhooks (FACTS.md §1.5)."""
        self._deliveries += 1
        now_ms = self._now_ms()
        body = {
            "timestamp": now_ms,
            "webhookEvent": event,
            "issue_event_type_name": _ISSUE_EVENT_TYPES.get(event, "issue_generic"),
            "user": {
                "accountId": self.myself.account_id,
                "displayName": self.myself.display_name,
            },
            "issue": {
                "id": str(issue.id),
                "key": issue.key,
                "fields": {"summary": issue.summary, "status": {"name": issue.status}},
            },
            "matchedWebhookIds": webhook_ids,
        }
        issued = now_ms // 1000
        token = jwt.encode(
            {
                "iss": "jira-simulator",
                "iat": issued,
                "exp": issued + int(DELIVERY_JWT_LIFETIME.total_seconds()),
            },
            self.client_secret,
            algorithm="HS256",
        )
        return Delivery(
            body=_text(body).encode(),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "X-Atlassian-Webhook-Identifier": f"sim-{self._deliveries}",
                "X-Atlassian-Webhook-Flow": "Primary",
            },
        )

    # -- endpoints: issues ---------------------------------------------------------------

    async def _removed_search(self, request: Request) -> Response:
        return _envelope(410, _REMOVED_SEARCH)

    async def _issue_get(self, request: Request) -> Response:
        issue = self._visible_issue(request.path_params["key"])
        if issue is None:
            raise ApiError(404, "Issue does not exist or you do not have permission to see it.")
        requested = request.query_params.getlist("fields")
        fields = parse_fields(requested) if requested else ISSUE_FIELDS
        text = self._renderer(request).issue(issue, fields)
        return Response(text.encode(), media_type=_JSON_TYPE)

    async def _issue_bulkfetch(self, request: Request) -> Response:
        """``POST /issue/bulkfetch``: up to 100 issues by id or key, ascending ``id``; those
        that do not exist or are not visible are simply left out (spec)."""
        body = await _json_body(request)
        wanted = body.get("issueIdsOrKeys")
        if not isinstance(wanted, list) or not all(isinstance(k, str) for k in wanted):
            raise ApiError(400, "issueIdsOrKeys must be a list of issue ids or keys.")
        if len(wanted) > BULK_FETCH_MAX:
            raise ApiError(400, f"You can request up to {BULK_FETCH_MAX} issues at once.")
        requested = body.get("fields")
        if requested is not None and not isinstance(requested, list):
            raise ApiError(400, "fields must be a list of field names.")
        fields = parse_fields(requested) if requested else ISSUE_FIELDS
        found = {i.id: i for k in wanted if (i := self._visible_issue(k)) is not None}
        renderer = self._renderer(request)
        issues = ",".join(renderer.issue(found[i], fields) for i in sorted(found))
        text = '{"expand":"schema,names","issues":[' + issues + '],"issueErrors":[]}'
        return Response(text.encode(), media_type=_JSON_TYPE)

    async def _count(self, request: Request) -> Response:
        body = await _json_body(request)
        jql = body.get("jql")
        if not isinstance(jql, str):
            raise ApiError(400, "The jql property is required.")
        return _json({"count": len(self._matches(jql).issues)})

    async def _search(self, request: Request) -> Response:
        if request.method == "POST":
            search = self._search_from_body(await _json_body(request))
        else:
            params = request.query_params
            search = _SearchRequest(
                jql=params.get("jql") or "",
                next_page_token=params.get("nextPageToken") or None,
                max_results=_int_param(params.get("maxResults"), "maxResults", 50),
                fields=parse_fields(params.getlist("fields")),
                expand=_csv_set(params.get("expand")),
            )
        return Response(self._search_page(request, search).encode(), media_type=_JSON_TYPE)

    def _search_from_body(self, body: Json) -> _SearchRequest:
        for name in body:
            if name not in _SEARCH_BODY_KEYS:
                # The request bean has additionalProperties: false.
                raise ApiError(400, f'Unrecognized field "{name}".')
        jql = body.get("jql", "")
        token = body.get("nextPageToken")
        size = body.get("maxResults", 50)
        fields = body.get("fields", [])
        expand = body.get("expand", "")
        if not isinstance(jql, str) or not (token is None or isinstance(token, str)):
            raise ApiError(400, "jql and nextPageToken must be strings.")
        if isinstance(size, bool) or not isinstance(size, int):
            raise ApiError(400, "maxResults must be an integer.")
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise ApiError(400, "fields must be a list of strings.")
        if not isinstance(expand, str):
            raise ApiError(400, "expand must be a comma-separated string.")
        return _SearchRequest(jql, token or None, size, parse_fields(fields), _csv_set(expand))

    def _search_page(self, request: Request, search: _SearchRequest) -> str:
        """One ``SearchAndReconcileResults`` page, as JSON text (see :class:`_Renderer`)."""
        if search.max_results < 1:
            raise ApiError(400, "The maxResults parameter must be a positive integer.")
        size = min(search.max_results, self.max_results_cap)
        result = self._matches(search.jql)
        fingerprint = zlib.crc32(search.jql.strip().encode())
        start = 0
        if search.next_page_token is not None:
            start = bisect_right(result.keys, _decode_token(search.next_page_token, fingerprint))
        page = result.issues[start : start + size]
        end = start + len(page)
        r = self._renderer(request)
        issues = [r.issue(issue, search.fields) for issue in page]
        if self._corrupt_next and page:
            self._corrupt_next = False
            issues[0] = r.issue(page[0], search.fields, corrupt=True)
        is_last = end >= len(result.issues)
        tail = ""
        if not is_last:
            tail += f',"nextPageToken":"{_encode_token(fingerprint, result.keys[end - 1])}"'
        tail += ',"isLast":true' if is_last else ',"isLast":false'
        shown = [_FIELDS_BY_ID[f] for f in search.fields or ()]
        if "names" in search.expand:
            tail += ',"names":' + _text({f["id"]: f["name"] for f in shown})
        if "schema" in search.expand:
            tail += ',"schema":' + _text({f["id"]: f["schema"] for f in shown if "schema" in f})
        return '{"issues":[' + ",".join(issues) + "]" + tail + "}"

    def _matches(self, jql: str) -> _Result:
        """All visible issues matching ``jql``, sorted, cached until the next mutation."""
        text = jql.strip()
        cached = self._cache.get(text)
        if cached is not None and cached.generation == self._generation:
            self._cache.move_to_end(text)
            return cached
        query = parse_jql(text)
        if query.where is None:
            raise ApiError(400, _UNBOUNDED)
        predicate = self._compiler.compile(query.where)
        sort_key = self._sort_key(query.order)
        hidden = self._hidden_ids()
        matches = [i for i in self.issues.values() if i.project_id not in hidden and predicate(i)]
        keys = [sort_key(i) for i in matches]
        if query.order:  # without ORDER BY, id order is the dict's insertion order already
            order = sorted(range(len(matches)), key=keys.__getitem__)
            matches = [matches[k] for k in order]
            keys = [keys[k] for k in order]
        result = _Result(self._generation, keys, matches)
        self._cache[text] = result
        if len(self._cache) > _SEARCH_CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    def _sort_key(self, order: Sequence[_Order]) -> Callable[[Issue], SortKey]:
        """A key function over numbers only, so page tokens can carry it as JSON.

        Descending fields are negated; empty values sort last ascending. ``id`` ends every key
        so that ties break the same way on every page (Jira's order is total as well).
        """
        parts: list[Callable[[Issue], int | float]] = []
        for item in order:
            canonical = _SORT_FIELDS.get(item.field.lower())
            if canonical is None:
                if item.field.lower() in _CLAUSE_FIELDS:
                    raise JqlError(f"Field '{item.field}' does not support sorting.")
                raise JqlError(
                    f"Field '{item.field}' does not exist or you do not have permission to view it."
                )
            part = self._sort_part(canonical)
            parts.append(_negated(part) if item.descending else part)
        if not any(_SORT_FIELDS[o.field.lower()] == "id" for o in order):
            parts.append(operator.attrgetter("id"))
        # Sorting 100,000 issues computes this 100,000 times: spell out the common widths.
        if len(parts) == 1:
            (first,) = parts
            return lambda i: (first(i),)
        if len(parts) == 2:
            first, second = parts
            return lambda i: (first(i), second(i))
        return lambda i: tuple([p(i) for p in parts])

    def _sort_part(self, canonical: str) -> Callable[[Issue], int | float]:
        if canonical == "id":
            return operator.attrgetter("id")
        if canonical == "issuekey":
            rank = self._project_rank
            return lambda i: (rank[i.project_id] << 32) | i.number
        raw = _ORDERED_GETTERS[canonical]

        def value(issue: Issue) -> int | float:
            found = raw(issue)
            return _NULL_LAST if found is None else found

        return value


def _negated(part: Callable[[Issue], int | float]) -> Callable[[Issue], int | float]:
    return lambda issue: -part(issue)


# --------------------------------------------------------------------------------------------
# Request helpers
# --------------------------------------------------------------------------------------------


def _failure_message(status: int) -> str:
    if status == 429:
        return "Rate limit exceeded."
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Request failed."


def _int_param(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"The '{name}' parameter must be an integer, got '{value}'.") from None
    if number < 0:
        raise ApiError(400, f"The '{name}' parameter must not be negative.")
    return number


def _csv_set(value: str | None) -> frozenset[str]:
    return frozenset(v.strip().lower() for v in (value or "").split(",") if v.strip())


async def _json_body(request: Request) -> Json:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


def _page_bean(request: Request, start: int, size: int, total: int, values: list[Json]) -> Json:
    """Jira's ``PageBean``: ``nextPage`` repeats the request with ``startAt`` moved on."""
    url = request.url
    bean: Json = {"self": str(url.include_query_params(startAt=start, maxResults=size))}
    is_last = start + len(values) >= total
    if not is_last:
        bean["nextPage"] = str(url.include_query_params(startAt=start + size, maxResults=size))
    bean.update(
        {"maxResults": size, "startAt": start, "total": total, "isLast": is_last, "values": values}
    )
    return bean


def _webhook_ids(body: Json) -> list[int]:
    """``ContainerForWebhookIDs``: ``webhookIds`` is required, a list of integers."""
    ids = body.get("webhookIds")
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids
    ):
        raise ApiError(400, "The webhookIds property is required: a list of webhook ids.")
    return ids


def _string_list(value: object, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"{name} must be a list of strings.")
    return tuple(value)


def _webhook_details(
    entry: object,
) -> tuple[tuple[str, ...], str, tuple[str, ...] | None, tuple[str, ...] | None]:
    """One ``WebhookDetails`` (``additionalProperties: false``; events and jqlFilter needed)."""
    if not isinstance(entry, dict):
        raise ApiError(400, "Each webhook must be a JSON object.")
    for name in entry:
        if name not in _WEBHOOK_KEYS:
            raise ApiError(400, f'Unrecognized field "{name}".')
    events = _string_list(entry.get("events"), "events")
    for event in events:
        if event not in WEBHOOK_EVENTS:
            raise ApiError(400, f"The event '{event}' is not a supported webhook event.")
    jql = entry.get("jqlFilter")
    if not isinstance(jql, str):
        raise ApiError(400, "The jqlFilter property is required.")
    fields = entry.get("fieldIdsFilter")
    keys = entry.get("issuePropertyKeysFilter")
    return (
        events,
        jql,
        None if fields is None else _string_list(fields, "fieldIdsFilter"),
        None if keys is None else _string_list(keys, "issuePropertyKeysFilter"),
    )


def _webhook_json(hook: DynamicWebhook) -> Json:
    """A ``Webhook``: ``expirationDate`` in epoch milliseconds (``int64`` in the schema)."""
    out: Json = {
        "id": hook.id,
        "url": hook.url,
        "events": list(hook.events),
        "jqlFilter": hook.jql_filter,
        "expirationDate": hook.expires_ms,
    }
    if hook.field_ids_filter is not None:
        out["fieldIdsFilter"] = list(hook.field_ids_filter)
    if hook.issue_property_keys_filter is not None:
        out["issuePropertyKeysFilter"] = list(hook.issue_property_keys_filter)
    return out


def _clauses(node: _Node) -> Iterable[_Clause]:
    if isinstance(node, _Clause):
        yield node
    elif isinstance(node, _And | _Or):
        for part in node.parts:
            yield from _clauses(part)
    else:
        yield from _clauses(node.part)


def _encode_token(fingerprint: int, key: SortKey) -> str:
    # Opaque to clients: the query's fingerprint and the last sort key served (a keyset
    # cursor), so pages stay consistent when issues change between requests, as in Jira.
    raw = _text([fingerprint, list(key)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, fingerprint: int) -> SortKey:
    try:
        padded = token + "=" * (-len(token) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded))
        token_fingerprint, key = decoded
        if token_fingerprint != fingerprint or not isinstance(key, list):
            raise ValueError("token belongs to another query")
        if not all(isinstance(k, int | float) and not isinstance(k, bool) for k in key):
            raise ValueError("malformed key")
    except (ValueError, TypeError, binascii.Error):
        raise ApiError(
            400, "The nextPageToken is invalid, expired, or belongs to a different query."
        ) from None
    return tuple(key)


# --------------------------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------------------------


def serve(host: str = "127.0.0.1", port: int = 8101, issues: int = 5000, seed: int = 7) -> None:
    run_on_loopback("Jira", lambda: JiraSimulator(issues=issues, seed=seed).app, host, port)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Jira Cloud simulator on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--issues", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"Jira simulator on http://{args.host}:{args.port} (Basic demo@example.com:demo-token)")
    serve(args.host, args.port, args.issues, args.seed)


if __name__ == "__main__":
    main()
