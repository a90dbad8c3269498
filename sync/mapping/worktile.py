"""Worktile payloads -> unified records. Pure: no I/O, no clock.

Status category (WORKTILE.md §6): ``task_state.type`` is an integer and ``3`` is every terminal
state (已完成 done, 关 closed, 报废清理 scrapped). So a type-3 state whose name is one of the
``cancelled_state_names`` (default :data:`CANCELLED_STATE_NAMES`) is *cancelled*, any other
type-3 state is *done*; ``1`` -> todo and ``2`` -> in_progress are inferred (UNVERIFIED) and
``state_type_categories`` can re-map them; other values fall back to the state's name, then
to todo. A connection's ``status_overrides`` by state name win over all of it.

Milestones are tasks of a milestone task type (see the connector): their due date is the
target, and a done state means reached.

Options read from the vocabulary (``extra``): ``time_zone`` (the day a ``{date, with_time: 0}``
falls on), ``members`` (uid -> display name, discovered), ``cancelled_state_names``,
``state_type_categories``; ``estimate_field`` names a numeric task property, if any.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sync.connectors.worktile.connector import DEFAULT_TIME_ZONE
from sync.connectors.worktile.payloads import WorktileDate, WorktileProject, WorktileTask
from sync.mapping.vocabulary import Vocabulary
from sync.model import Milestone, Person, Project, StatusCategory, WorkItem

#: ``task_state.type`` -> ours. Only 3 is verified (WORKTILE.md §6); 1 and 2 are inferred.
STATE_TYPE_CATEGORIES: Mapping[int, StatusCategory] = {
    1: StatusCategory.TODO,
    2: StatusCategory.IN_PROGRESS,
    3: StatusCategory.DONE,
}

#: Terminal (type 3) state names that mean "stopped", not "finished" (WORKTILE.md §6 names
#: 关 and 报废清理; the rest are their common spellings). Casefolded.
CANCELLED_STATE_NAMES: frozenset[str] = frozenset(
    {
        "关",
        "关闭",
        "已关闭",
        "报废",
        "报废清理",
        "已报废",
        "取消",
        "已取消",
        "作废",
        "已作废",
        "closed",
        "scrapped",
        "cancelled",
        "canceled",
        "won't do",
    }
)

#: For state types other than 1-3 (C2 guesses 0 = 未开始, 4 = 已取消; §6): the default
#: state names of the product, by name.
_CATEGORY_BY_NAME: Mapping[str, StatusCategory] = {
    "未开始": StatusCategory.TODO,
    "未激活": StatusCategory.TODO,
    "打开": StatusCategory.TODO,
    "进行中": StatusCategory.IN_PROGRESS,
    "已完成": StatusCategory.DONE,
    "已解决": StatusCategory.DONE,
    "已发布": StatusCategory.DONE,
    "已验收": StatusCategory.DONE,
}


def project(payload: WorktileProject, vocabulary: Vocabulary) -> Project:
    return Project(
        vendor_id=payload.id,
        key=payload.identifier,
        name=payload.name,
        # Inferred from the task link of §2 (UNVERIFIED).
        url=_link(vocabulary, f"/mission/projects/{payload.id}"),
        archived=payload.is_archived,
    )


def status_category(payload: WorktileTask, vocabulary: Vocabulary) -> StatusCategory:
    name = payload.task_state.name if payload.task_state else None
    override = vocabulary.override_for(name)
    if override is not None:
        return override
    folded = name.casefold() if name else None
    type_ = payload.state_category_type
    category = _type_categories(vocabulary).get(type_) if type_ is not None else None
    if category is None:
        category = _CATEGORY_BY_NAME.get(folded or "")
        if category is None:
            return (
                StatusCategory.CANCELLED
                if folded in _cancelled_names(vocabulary)
                else StatusCategory.TODO
            )
    if category is StatusCategory.DONE and folded in _cancelled_names(vocabulary):
        return StatusCategory.CANCELLED
    return category


def person(uid: str, vocabulary: Vocabulary) -> Person:
    """Worktile shows no e-mail for members (§4): people merge only by explicit alias."""
    members = vocabulary.extra.get("members")
    name = members.get(uid) if isinstance(members, Mapping) else None
    return Person(vendor_id=uid, display_name=name or None, email=None)


def work_item(payload: WorktileTask, vocabulary: Vocabulary) -> WorkItem:
    properties = payload.properties
    labels = tuple(tag.name for tag in properties.tag)
    category = status_category(payload, vocabulary)
    status_name = payload.task_state.name if payload.task_state else None
    zone = _zone(vocabulary)
    return WorkItem(
        vendor_id=payload.id,
        key=payload.identifier,
        project_vendor_id=payload.project_id,
        title=payload.title,
        status_name=status_name,
        status_category=category,
        updated_at=_time(payload.updated_at) or datetime.fromtimestamp(0, UTC),
        item_type=payload.task_type.name if payload.task_type else None,
        url=_task_link(payload, vocabulary),
        assignee=person(properties.assignee, vocabulary) if properties.assignee else None,
        start_date=_date(properties.start, zone),
        due_date=_date(properties.due, zone),
        created_at=_time(payload.created_at),
        completed_at=_time(payload.completed_at) if category is StatusCategory.DONE else None,
        estimate=_estimate(payload, vocabulary),
        labels=labels,
        priority=properties.priority.name if properties.priority else None,
        parent_vendor_id=payload.parent_id,
        blocked=vocabulary.is_blocked(labels=labels, status_name=status_name),
    )


def milestone(payload: WorktileTask, vocabulary: Vocabulary) -> Milestone:
    zone = _zone(vocabulary)
    reached = status_category(payload, vocabulary) is StatusCategory.DONE
    return Milestone(
        vendor_id=payload.id,
        project_vendor_id=payload.project_id,
        name=payload.title,
        start_date=_date(payload.properties.start, zone),
        due_date=_date(payload.properties.due, zone),
        reached=reached,
        reached_at=_time(payload.completed_at) if reached else None,
        archived=payload.is_archived,
        url=_task_link(payload, vocabulary),
    )


# -- helpers ----------------------------------------------------------------------------------
def _time(epoch: int | None) -> datetime | None:
    """Epoch seconds (WORKTILE.md §5) -> aware UTC; 0 means "not set"."""
    if not epoch:
        return None
    return datetime.fromtimestamp(epoch, UTC)


def _date(value: WorktileDate | None, zone: ZoneInfo) -> date | None:
    """``{date, with_time}``: the day the instant falls on in the tenant's zone."""
    if value is None or not value.date:
        return None
    return datetime.fromtimestamp(value.date, zone).date()


def _zone(vocabulary: Vocabulary) -> ZoneInfo:
    name = vocabulary.extra.get("time_zone") or DEFAULT_TIME_ZONE
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def _type_categories(vocabulary: Vocabulary) -> Mapping[int, StatusCategory]:
    custom = vocabulary.extra.get("state_type_categories")
    if not isinstance(custom, Mapping):
        return STATE_TYPE_CATEGORIES
    merged = dict(STATE_TYPE_CATEGORIES)
    for key, value in custom.items():
        merged[int(key)] = StatusCategory(value)
    return merged


def _cancelled_names(vocabulary: Vocabulary) -> frozenset[str]:
    custom = vocabulary.extra.get("cancelled_state_names")
    if custom is None:
        return CANCELLED_STATE_NAMES
    return frozenset(str(name).casefold() for name in custom)


def _estimate(payload: WorktileTask, vocabulary: Vocabulary) -> float | None:
    if vocabulary.estimate_field is None:
        return None
    value: Any = payload.properties.custom(vocabulary.estimate_field)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _task_link(payload: WorktileTask, vocabulary: Vocabulary) -> str | None:
    """``https://{tenant}.worktile.com/mission/projects/{project_id}/tasks/{task_id}`` (§2)."""
    if payload.project_id is None:
        return None
    return _link(vocabulary, f"/mission/projects/{payload.project_id}/tasks/{payload.id}")


def _link(vocabulary: Vocabulary, path: str) -> str | None:
    if not vocabulary.site_url:
        return None
    return vocabulary.site_url.rstrip("/") + path
