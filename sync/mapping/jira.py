"""Jira Cloud payloads -> unified records. Pure: no I/O, no clock."""

from __future__ import annotations

from sync.connectors.jira.payloads import JiraIssue, JiraProject, JiraUser, JiraVersion
from sync.mapping.vocabulary import CANCELLED_RESOLUTIONS, Vocabulary
from sync.model import Milestone, Person, Project, StatusCategory, WorkItem

#: ``statusCategory.key`` -> ours (FACTS.md §1.6); ``undefined`` ("No Category") reads as todo.
_CATEGORY_BY_KEY = {
    "new": StatusCategory.TODO,
    "indeterminate": StatusCategory.IN_PROGRESS,
    "done": StatusCategory.DONE,
    "undefined": StatusCategory.TODO,
}


def project(payload: JiraProject, vocabulary: Vocabulary) -> Project:
    return Project(
        vendor_id=payload.id,
        key=payload.key,
        name=payload.name,
        url=_link(vocabulary, f"/browse/{payload.key}"),
        archived=payload.archived,
    )


def milestone(payload: JiraVersion, vocabulary: Vocabulary) -> Milestone:
    project_id = str(payload.projectId) if payload.projectId is not None else None
    return Milestone(
        vendor_id=payload.id,
        project_vendor_id=project_id,
        name=payload.name,
        description=payload.description or None,
        start_date=payload.startDate,
        due_date=payload.releaseDate,
        reached=payload.released,
        archived=payload.archived,
        url=_link(vocabulary, f"/projects/{project_id}/versions/{payload.id}")
        if project_id
        else None,
    )


def person(payload: JiraUser) -> Person:
    return Person(
        vendor_id=payload.accountId,
        display_name=payload.displayName,
        email=payload.emailAddress.lower() if payload.emailAddress else None,
    )


def status_category(payload: JiraIssue, vocabulary: Vocabulary) -> StatusCategory:
    fields = payload.fields
    override = vocabulary.override_for(fields.status.name)
    if override is not None:
        return override
    category = _CATEGORY_BY_KEY.get(fields.status.statusCategory.key, StatusCategory.TODO)
    resolution = fields.resolution.name.casefold() if fields.resolution else None
    if category is StatusCategory.DONE and resolution in CANCELLED_RESOLUTIONS:
        return StatusCategory.CANCELLED
    return category


def work_item(payload: JiraIssue, vocabulary: Vocabulary) -> WorkItem:
    fields = payload.fields
    labels = tuple(fields.labels)
    category = status_category(payload, vocabulary)
    return WorkItem(
        vendor_id=payload.id,
        key=payload.key,
        project_vendor_id=fields.project.id if fields.project else None,
        title=fields.summary,
        status_name=fields.status.name,
        status_category=category,
        updated_at=fields.updated,
        item_type=fields.issuetype.name if fields.issuetype else None,
        url=_link(vocabulary, f"/browse/{payload.key}"),
        assignee=person(fields.assignee) if fields.assignee else None,
        due_date=fields.duedate,
        created_at=fields.created,
        completed_at=fields.resolutiondate if category is StatusCategory.DONE else None,
        estimate=_estimate(payload, vocabulary),
        labels=labels,
        priority=fields.priority.name if fields.priority else None,
        parent_vendor_id=fields.parent.id if fields.parent else None,
        milestone_vendor_id=fields.fixVersions[0].id if fields.fixVersions else None,
        blocked=vocabulary.is_blocked(labels=labels, status_name=fields.status.name),
    )


def _estimate(payload: JiraIssue, vocabulary: Vocabulary) -> float | None:
    if vocabulary.estimate_field is None:
        return None
    value = payload.fields.custom(vocabulary.estimate_field)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _link(vocabulary: Vocabulary, path: str) -> str | None:
    if not vocabulary.site_url:
        return None
    return vocabulary.site_url.rstrip("/") + path
