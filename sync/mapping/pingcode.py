"""PingCode payloads -> unified records. Pure: no I/O, no clock.

Status category comes from ``state.type`` (FACTS.md §5.6), overridable per connection by state
name (``status_overrides``) and by state type (option ``state_type_categories``). Epoch-second
dates (``start_at``, ``end_at``) become calendar days in the connection's ``time_zone``.
Milestones are versions (vendor id ``version:<id>``) or milestone-type work items (their own
id); see :mod:`sync.connectors.pingcode`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sync.connectors.pingcode.payloads import (
    PingCodeItemRef,
    PingCodeMilestone,
    PingCodeProject,
    PingCodeUser,
    PingCodeVersion,
    PingCodeWorkItem,
)
from sync.mapping.vocabulary import Vocabulary
from sync.model import Milestone, Person, Project, StatusCategory, WorkItem

#: ``state.type`` -> ours (FACTS.md §5.6).
CATEGORY_BY_STATE_TYPE: Mapping[str, StatusCategory] = {
    "pending": StatusCategory.TODO,
    "in_progress": StatusCategory.IN_PROGRESS,
    "completed": StatusCategory.DONE,
    "closed": StatusCategory.CANCELLED,
}
#: Version ``status`` that means the release is out (FACTS.md §5.2).
PUBLISHED = "published"
#: Vendor-id prefix that keeps versions apart from milestone work items.
VERSION_PREFIX = "version:"
# FACTS.md §5.1 says times are epoch seconds but not in which zone a date-only value (a due
# day) was meant; PingCode's home zone is the default, option ``time_zone`` overrides it.
DEFAULT_TIME_ZONE = "Asia/Shanghai"
#: Work-item types that are milestones (FACTS.md §5.2: system type "milestone (里程碑)"),
#: matched on type id or name, casefolded; option ``milestone_types`` overrides.
DEFAULT_MILESTONE_TYPES = ("milestone", "里程碑")
#: Field holding the estimate unless the connection names another (``estimate_field``).
DEFAULT_ESTIMATE_FIELD = "story_points"


def version_vendor_id(version_id: str) -> str:
    return VERSION_PREFIX + version_id


def is_milestone(payload: PingCodeItemRef, milestone_types: Any = None) -> bool:
    names = milestone_types if milestone_types is not None else DEFAULT_MILESTONE_TYPES
    wanted = {str(n).casefold() for n in names}
    return any(n.casefold() in wanted for n in payload.type_names())


def project(payload: PingCodeProject, vocabulary: Vocabulary) -> Project:
    return Project(
        vendor_id=payload.id,
        key=payload.identifier,
        name=payload.name,
        url=payload.html_url,
        archived=payload.is_archived,
    )


def milestone(
    payload: PingCodeVersion | PingCodeWorkItem | PingCodeMilestone, vocabulary: Vocabulary
) -> Milestone:
    if isinstance(payload, PingCodeMilestone):
        payload = payload.root
    if isinstance(payload, PingCodeVersion):
        return _version(payload, vocabulary)
    return _milestone_item(payload, vocabulary)


def _version(payload: PingCodeVersion, vocabulary: Vocabulary) -> Milestone:
    zone = _zone(vocabulary)
    project_id = payload.project.id if payload.project else payload.pmbridge_project_id
    return Milestone(
        vendor_id=version_vendor_id(payload.id),
        project_vendor_id=project_id,
        name=payload.name,
        description=payload.description or None,
        start_date=_day(payload.start_at, zone),
        due_date=_day(payload.end_at, zone),
        reached=payload.status == PUBLISHED,
        archived=payload.is_archived,
        url=payload.html_url,
    )


def _milestone_item(payload: PingCodeWorkItem, vocabulary: Vocabulary) -> Milestone:
    reached = status_category(payload, vocabulary) is StatusCategory.DONE
    return Milestone(
        vendor_id=payload.id,
        project_vendor_id=payload.project.id if payload.project else None,
        name=payload.title,
        # A milestone's start_at is ignored by PingCode (FACTS.md §5.2): only its day counts.
        due_date=_day(payload.end_at, _zone(vocabulary)),
        reached=reached,
        reached_at=_time(payload.completed_at) if reached and payload.completed_at else None,
        archived=payload.is_archived,
        url=payload.html_url,
    )


def person(payload: PingCodeUser) -> Person:
    return Person(
        vendor_id=payload.id,
        display_name=payload.display_name or payload.name,
        email=payload.email.lower() if payload.email else None,
    )


def status_category(payload: PingCodeWorkItem, vocabulary: Vocabulary) -> StatusCategory:
    override = vocabulary.override_for(payload.state.name)
    if override is not None:
        return override
    by_type = vocabulary.extra.get("state_type_categories") or {}
    configured = by_type.get(payload.state.type) if isinstance(by_type, Mapping) else None
    if configured is not None:
        return StatusCategory(configured)
    return CATEGORY_BY_STATE_TYPE.get(payload.state.type, StatusCategory.TODO)


def work_item(payload: PingCodeWorkItem, vocabulary: Vocabulary) -> WorkItem:
    zone = _zone(vocabulary)
    category = status_category(payload, vocabulary)
    labels = tuple(tag.name for tag in payload.tags if tag.name)
    parent = payload.parent.id if payload.parent else payload.parent_id
    type_names = payload.type_names()
    item_type = None
    if isinstance(payload.type, str):
        item_type = payload.type
    elif payload.type is not None:
        item_type = payload.type.name or payload.type.id
    return WorkItem(
        vendor_id=payload.id,
        key=payload.identifier,
        project_vendor_id=payload.project.id if payload.project else None,
        title=payload.title,
        status_name=payload.state.name,
        status_category=category,
        updated_at=_time(payload.updated_at),
        item_type=item_type or (type_names[0] if type_names else None),
        url=payload.html_url,
        assignee=person(payload.assignee) if payload.assignee else None,
        start_date=_day(payload.start_at, zone),
        due_date=_day(payload.end_at, zone),
        created_at=_time(payload.created_at) if payload.created_at else None,
        completed_at=_time(payload.completed_at)
        if category is StatusCategory.DONE and payload.completed_at
        else None,
        estimate=_estimate(payload, vocabulary),
        labels=labels,
        priority=payload.priority.name if payload.priority else None,
        parent_vendor_id=parent,
        milestone_vendor_id=version_vendor_id(payload.version.id) if payload.version else None,
        blocked=vocabulary.is_blocked(labels=labels, status_name=payload.state.name),
    )


def _estimate(payload: PingCodeWorkItem, vocabulary: Vocabulary) -> float | None:
    value = payload.field_value(vocabulary.estimate_field or DEFAULT_ESTIMATE_FIELD)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _zone(vocabulary: Vocabulary) -> ZoneInfo:
    name = vocabulary.extra.get("time_zone") or DEFAULT_TIME_ZONE
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def _time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _day(seconds: int | None, zone: ZoneInfo) -> date | None:
    # 0 reads as unset: no plan starts on 1 January 1970.
    if not seconds:
        return None
    return datetime.fromtimestamp(seconds, zone).date()
