"""Jira payloads map to unified records, read from payload files shaped as the spec says."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from sync.connectors.jira.payloads import JiraIssue, JiraProject, JiraVersion
from sync.mapping import jira
from sync.mapping.vocabulary import Vocabulary
from sync.model import StatusCategory, Tool


def load(payloads: Path, name: str) -> Any:
    return json.loads((payloads / "jira" / name).read_text())


@pytest.fixture
def vocabulary() -> Vocabulary:
    return Vocabulary.build(
        Tool.JIRA,
        discovered={
            "estimate_field": "customfield_10016",
            "site_url": "https://sales-ops.atlassian.net",
        },
    )


@pytest.fixture
def issues(payloads: Path) -> list[JiraIssue]:
    return [JiraIssue.model_validate(i) for i in load(payloads, "search-jql.page.json")["issues"]]


def test_a_done_story_maps_every_field(issues: list[JiraIssue], vocabulary: Vocabulary) -> None:
    item = jira.work_item(issues[0], vocabulary)
    assert item.vendor_id == "10042"
    assert item.key == "CRM-42"
    assert item.project_vendor_id == "10000"
    assert item.title == "Migrate Q3 opportunities to Salesforce"
    assert item.item_type == "Story"
    assert item.url == "https://sales-ops.atlassian.net/browse/CRM-42"
    assert item.estimate == 5.0
    assert item.labels == ("crm", "q3")
    assert item.priority == "High"
    assert item.due_date == date(2026, 10, 31)
    assert item.milestone_vendor_id == "10100"
    assert item.updated_at == datetime(2026, 10, 29, 15, 5, 10, 481000, tzinfo=UTC)
    assert item.completed_at == datetime(2026, 10, 29, 15, 5, 10, 470000, tzinfo=UTC)
    assert item.blocked is False


def test_status_category_comes_from_the_category_key_never_the_localised_name(
    issues: list[JiraIssue], vocabulary: Vocabulary
) -> None:
    item = jira.work_item(issues[0], vocabulary)
    assert item.status_name == "Готово"
    assert item.status_category is StatusCategory.DONE


def test_assignee_email_is_lower_cased_for_merging_people(
    issues: list[JiraIssue], vocabulary: Vocabulary
) -> None:
    assignee = jira.work_item(issues[0], vocabulary).assignee
    assert assignee is not None
    assert assignee.email == "mia.krystof@example.com"
    assert assignee.display_name == "Mia Krystof"


def test_hidden_email_leaves_only_the_account(
    issues: list[JiraIssue], vocabulary: Vocabulary
) -> None:
    item = jira.work_item(issues[1], vocabulary)
    assert item.assignee is not None
    assert item.assignee.email is None
    assert item.status_category is StatusCategory.IN_PROGRESS
    assert item.parent_vendor_id == "10040"
    assert item.estimate is None
    assert item.completed_at is None


def test_a_blocked_label_sets_the_blocked_flag(
    issues: list[JiraIssue], vocabulary: Vocabulary
) -> None:
    assert jira.work_item(issues[1], vocabulary).blocked is True


def test_done_with_a_wont_do_resolution_is_cancelled(
    issues: list[JiraIssue], vocabulary: Vocabulary
) -> None:
    item = jira.work_item(issues[2], vocabulary)
    assert item.status_category is StatusCategory.CANCELLED
    assert item.completed_at is None
    assert item.estimate == 3.0  # integer story points are numbers too


def test_a_connection_override_beats_the_vendor_structure(issues: list[JiraIssue]) -> None:
    vocabulary = Vocabulary.build(
        Tool.JIRA, overrides={"status_overrides": {"In Progress": "todo"}}
    )
    assert jira.work_item(issues[1], vocabulary).status_category is StatusCategory.TODO


def test_without_a_site_url_there_is_no_link(issues: list[JiraIssue]) -> None:
    assert jira.work_item(issues[0], Vocabulary.build(Tool.JIRA)).url is None


def test_projects_map_from_the_spec_example(payloads: Path, vocabulary: Vocabulary) -> None:
    values = load(payloads, "project-search.from-oas.json")["values"]
    projects = [jira.project(JiraProject.model_validate(v), vocabulary) for v in values]
    assert [(p.vendor_id, p.key, p.name) for p in projects] == [
        ("10000", "EX", "Example"),
        ("10001", "ABC", "Alphabetical"),
    ]
    assert projects[0].url == "https://sales-ops.atlassian.net/browse/EX"


def test_versions_map_to_milestones(payloads: Path, vocabulary: Vocabulary) -> None:
    values = load(payloads, "project-version-page.from-oas.json")["values"]
    released, upcoming = (jira.milestone(JiraVersion.model_validate(v), vocabulary) for v in values)
    assert released.vendor_id == "10000"
    assert released.project_vendor_id == "10000"
    assert released.due_date == date(2010, 7, 6)
    assert released.reached is True
    assert upcoming.reached is False
    assert upcoming.due_date is None
