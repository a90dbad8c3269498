"""Query-string filters shared by the /v1 listings and the progress view.

Multi-valued filters accept repeated parameters and comma-separated lists alike
(``?tool=jira&tool=trello`` or ``?tool=jira,trello``), since BI tools produce both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, TypeVar

from fastapi import Path, Query
from pydantic import Field

from sync.errors import InvalidRequest
from sync.model import StatusCategory, Tool
from sync.store.queries import ItemFilters, RecordFilters

E = TypeVar("E", bound=StrEnum)


#: Row ids are 64-bit on both databases: a larger number is the client's mistake (a 422),
#: not the driver's overflow (a 500).
MAX_ID = 2**63 - 1
#: A row id in a path (``/v1/goals/{goal_id}``) or a request body.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a row id")]
BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]


def split_values(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def is_id(text: str) -> bool:
    """A row id as text; ``isdigit`` alone accepts "²" and other digits ``int`` refuses."""
    return text.isascii() and text.isdigit() and int(text) <= MAX_ID


def id_values(values: list[str] | None, field: str) -> list[int]:
    result = []
    for part in split_values(values):
        if not is_id(part):
            raise InvalidRequest(f"{field}: {part!r} is not a numeric id", field=field)
        result.append(int(part))
    return result


def enum_values(values: list[str] | None, kind: type[E], field: str) -> list[str]:
    result = []
    for part in split_values(values):
        try:
            result.append(kind(part).value)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise InvalidRequest(
                f"{field}: {part!r} is not one of {allowed}", field=field
            ) from None
    return result


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidRequest(f"{field} needs a time zone, e.g. 2026-11-01T00:00:00Z", field=field)
    return value


@dataclass
class CommonFilters:
    connection: Annotated[list[str] | None, Query(description="connection id(s)")] = None
    tool: Annotated[list[str] | None, Query(description="jira, trello, asana, ...")] = None
    project: Annotated[list[str] | None, Query(description="project id(s)")] = None
    updated_since: Annotated[
        datetime | None, Query(description="rows pmbridge changed at or after this time")
    ] = None
    include_deleted: Annotated[
        bool, Query(description="include tombstones (deleted or access lost)")
    ] = False
    due_before: Annotated[date | None, Query()] = None
    due_after: Annotated[date | None, Query()] = None

    def records(self) -> RecordFilters:
        return RecordFilters(
            connection_ids=id_values(self.connection, "connection"),
            tools=enum_values(self.tool, Tool, "tool"),
            project_ids=id_values(self.project, "project"),
            due_before=self.due_before,
            due_after=self.due_after,
            updated_since=_aware(self.updated_since, "updated_since"),
            include_deleted=self.include_deleted,
        )


@dataclass
class ItemQuery(CommonFilters):
    status_category: Annotated[
        list[str] | None, Query(description="todo, in_progress, done, cancelled")
    ] = None
    assignee: Annotated[list[str] | None, Query(description="person id(s) or e-mail(s)")] = None
    milestone: Annotated[list[str] | None, Query(description="milestone id(s)")] = None

    def items(self) -> ItemFilters:
        base = self.records()
        people = split_values(self.assignee)
        return ItemFilters(
            connection_ids=base.connection_ids,
            tools=base.tools,
            project_ids=base.project_ids,
            status_categories=enum_values(self.status_category, StatusCategory, "status_category"),
            assignee_ids=[int(p) for p in people if is_id(p)],
            assignee_emails=[p for p in people if not is_id(p)],
            milestone_ids=id_values(self.milestone, "milestone"),
            due_before=base.due_before,
            due_after=base.due_after,
            updated_since=base.updated_since,
            include_deleted=base.include_deleted,
        )
