"""Asana payloads -> unified records. Pure: no I/O, no clock.

Status: ``completed`` means done (or cancelled, when the connection maps the task's section
to cancelled). Otherwise the section the task sits in (in the project it is synced under)
decides, through the connection's ``status_overrides`` (section name -> category) and then
the defaults below; a section nobody mapped is todo.

Estimates: the number custom field named by the option ``estimate_field`` (its gid or its
name), else the first number field with one of :data:`ESTIMATE_FIELD_NAMES`. Priority: the
custom field named by the option ``priority_field`` (default "Priority"), by display value.
"""

from __future__ import annotations

from datetime import UTC, date

from sync.connectors.asana.payloads import (
    AsanaCustomFieldValue,
    AsanaProject,
    AsanaTask,
    AsanaUser,
)
from sync.mapping.vocabulary import Vocabulary
from sync.model import Milestone, Person, Project, StatusCategory, WorkItem

#: Section names (casefolded) and what they mean when nobody configured otherwise.
DEFAULT_SECTION_CATEGORIES: dict[str, StatusCategory] = {
    "in progress": StatusCategory.IN_PROGRESS,
    "doing": StatusCategory.IN_PROGRESS,
    "in review": StatusCategory.IN_PROGRESS,
    "review": StatusCategory.IN_PROGRESS,
    "done": StatusCategory.DONE,
    "complete": StatusCategory.DONE,
    "completed": StatusCategory.DONE,
}
#: Number custom fields read as the estimate when the option ``estimate_field`` is unset.
ESTIMATE_FIELD_NAMES = ("story points", "story point estimate", "estimate", "points")
DEFAULT_PRIORITY_FIELD = "priority"
_ITEM_TYPES = {"default_task": "task"}


def project(payload: AsanaProject, vocabulary: Vocabulary) -> Project:
    return Project(
        vendor_id=payload.gid,
        key=None,  # Asana projects have no short keys
        name=payload.name,
        url=payload.permalink_url,
        archived=payload.archived,
    )


def milestone(payload: AsanaTask, vocabulary: Vocabulary) -> Milestone:
    return Milestone(
        vendor_id=payload.gid,
        project_vendor_id=payload.pmbridge.project_gid,
        name=payload.name,
        # Milestones cannot have a start date (FACTS.md §3.2).
        due_date=_due(payload),
        reached=payload.completed,
        reached_at=payload.completed_at.astimezone(UTC) if payload.completed_at else None,
        url=payload.permalink_url,
    )


def person(payload: AsanaUser, email: str | None = None) -> Person:
    found = email or payload.email
    return Person(
        vendor_id=payload.gid,
        display_name=payload.name,
        email=found.lower() if found else None,
    )


def status_category(payload: AsanaTask, vocabulary: Vocabulary) -> StatusCategory:
    section = payload.section_in(payload.pmbridge.project_gid)
    override = vocabulary.override_for(section)
    if payload.completed:
        return (
            StatusCategory.CANCELLED
            if override is StatusCategory.CANCELLED
            else (StatusCategory.DONE)
        )
    if override is not None:
        return override
    if section is None:
        return StatusCategory.TODO
    return DEFAULT_SECTION_CATEGORIES.get(section.casefold(), StatusCategory.TODO)


def work_item(payload: AsanaTask, vocabulary: Vocabulary) -> WorkItem:
    section = payload.section_in(payload.pmbridge.project_gid)
    labels = tuple(tag.name for tag in payload.tags if tag.name)
    category = status_category(payload, vocabulary)
    finished = category in (StatusCategory.DONE, StatusCategory.CANCELLED)
    return WorkItem(
        vendor_id=payload.gid,
        key=None,  # Asana tasks have no keys; the gid is the identity
        project_vendor_id=payload.pmbridge.project_gid,
        title=payload.name,
        status_name=section,
        status_category=category,
        updated_at=payload.modified_at.astimezone(UTC),
        item_type=_ITEM_TYPES.get(payload.resource_subtype, payload.resource_subtype),
        url=payload.permalink_url,
        assignee=person(payload.assignee, payload.pmbridge.assignee_email)
        if payload.assignee
        else None,
        start_date=payload.start_on,
        due_date=_due(payload),
        created_at=payload.created_at.astimezone(UTC) if payload.created_at else None,
        completed_at=payload.completed_at.astimezone(UTC)
        if finished and payload.completed_at
        else None,
        estimate=_estimate(payload, vocabulary),
        labels=labels,
        priority=_priority(payload, vocabulary),
        parent_vendor_id=payload.parent.gid if payload.parent else None,
        blocked=vocabulary.is_blocked(labels=labels, status_name=section),
    )


def _due(payload: AsanaTask) -> date | None:
    """``due_on`` (the localised date); else the UTC date of ``due_at``."""
    if payload.due_on is not None:
        return payload.due_on
    if payload.due_at is not None:
        return payload.due_at.astimezone(UTC).date()
    return None


def _field(
    payload: AsanaTask, wanted: str | None, names: tuple[str, ...]
) -> AsanaCustomFieldValue | None:
    fields = payload.custom_fields
    if wanted is not None:
        folded = wanted.casefold()
        for value in fields:
            if value.gid == wanted or (value.name or "").casefold() == folded:
                return value
        return None
    for name in names:
        for value in fields:
            if (value.name or "").casefold() == name:
                return value
    return None


def _estimate(payload: AsanaTask, vocabulary: Vocabulary) -> float | None:
    value = _field(payload, vocabulary.estimate_field, ESTIMATE_FIELD_NAMES)
    if value is None or value.number_value is None:
        return None
    return float(value.number_value)


def _priority(payload: AsanaTask, vocabulary: Vocabulary) -> str | None:
    configured = vocabulary.extra.get("priority_field")
    value = _field(payload, str(configured or DEFAULT_PRIORITY_FIELD), ())
    if value is None:
        return None
    if value.enum_value is not None and value.enum_value.name:
        return value.enum_value.name
    return value.display_value or None
