"""Asana payloads map to unified records, read from payload files shaped as the spec says."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from sync.connectors.asana.payloads import AsanaProject, AsanaTask
from sync.mapping import asana
from sync.mapping.vocabulary import Vocabulary
from sync.model import StatusCategory, Tool

CRM = "1208400000000497"
ENABLEMENT = "1208400000000555"


def load(payloads: Path, name: str) -> Any:
    return json.loads((payloads / "asana" / name).read_text())


def task(raw: dict[str, Any], *, project: str | None = CRM, email: str | None = None) -> AsanaTask:
    """A task as the connector hands it over: the vendor's JSON plus pmbridge's context."""
    return AsanaTask.model_validate(
        {**raw, "pmbridge": {"project_gid": project, "assignee_email": email}}
    )


@pytest.fixture
def page(payloads: Path) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = load(payloads, "project-tasks.page.json")["data"]
    return data


def vocabulary(**options: Any) -> Vocabulary:
    return Vocabulary.build(
        Tool.ASANA, discovered={"site_url": "https://app.asana.com"}, overrides=options
    )


def test_a_completed_task_in_a_done_section_maps_every_field(page: list[dict[str, Any]]) -> None:
    item = asana.work_item(task(page[0], email="Noor.Aziz@Northwind.example"), vocabulary())

    assert item.vendor_id == "1208400000001025"
    assert item.key is None
    assert item.project_vendor_id == CRM
    assert item.title == "Map opportunity fields from SugarCRM to HubSpot"
    assert (item.status_name, item.status_category) == ("Done", StatusCategory.DONE)
    assert item.item_type == "task"
    assert item.url == "https://app.asana.com/1/1208400000000000/task/1208400000001025"
    assert item.updated_at == datetime(2026, 10, 29, 15, 5, 10, 481000, tzinfo=UTC)
    assert item.created_at == datetime(2026, 9, 1, 8, 12, tzinfo=UTC)
    assert item.completed_at == datetime(2026, 10, 29, 15, 5, 10, 470000, tzinfo=UTC)
    assert (item.start_date, item.due_date) == (date(2026, 10, 20), date(2026, 10, 31))
    assert item.estimate == 5.0
    assert item.priority == "High"
    assert item.labels == ("data quality",)
    assert item.parent_vendor_id is None
    assert item.milestone_vendor_id is None
    assert item.blocked is False


def test_the_assignee_email_comes_from_the_context_lower_cased(
    page: list[dict[str, Any]],
) -> None:
    assignee = asana.work_item(task(page[0], email="Noor.Aziz@Northwind.example"), vocabulary())
    assert assignee.assignee is not None
    assert (assignee.assignee.vendor_id, assignee.assignee.display_name) == (
        "1208400000000181",
        "Noor Aziz",
    )
    assert assignee.assignee.email == "noor.aziz@northwind.example"
    unresolved = asana.work_item(task(page[0]), vocabulary()).assignee
    assert unresolved is not None
    assert unresolved.email is None


def test_a_subtask_in_no_project_takes_its_parents_project_and_due_at_date(
    page: list[dict[str, Any]],
) -> None:
    item = asana.work_item(task(page[1]), vocabulary())

    assert item.project_vendor_id == CRM
    assert item.parent_vendor_id == "1208400000001025"
    # No section anywhere: todo, and no name to show.
    assert (item.status_name, item.status_category) == (None, StatusCategory.TODO)
    # due_at 23:30 UTC: its UTC date (due_on is the localised date when Asana gives one).
    assert item.due_date == date(2026, 11, 25)
    assert (item.assignee, item.estimate, item.priority) == (None, None, None)


@pytest.mark.parametrize(
    ("home", "section", "category"),
    [
        (CRM, "In progress", StatusCategory.IN_PROGRESS),
        (ENABLEMENT, "Backlog", StatusCategory.TODO),
    ],
)
def test_a_task_in_two_projects_takes_the_section_of_the_project_it_is_synced_under(
    page: list[dict[str, Any]], home: str, section: str, category: StatusCategory
) -> None:
    item = asana.work_item(task(page[2], project=home), vocabulary())
    assert (item.project_vendor_id, item.status_name, item.status_category) == (
        home,
        section,
        category,
    )


def test_a_blocked_tag_marks_the_item_blocked_and_empty_fields_stay_empty(
    page: list[dict[str, Any]],
) -> None:
    item = asana.work_item(task(page[2]), vocabulary())
    assert item.blocked is True
    assert item.labels == ("Blocked", "emea")
    assert (item.estimate, item.priority, item.completed_at) == (None, None, None)


def test_a_completed_task_in_a_wont_do_section_is_cancelled(page: list[dict[str, Any]]) -> None:
    item = asana.work_item(task(page[4]), vocabulary())
    assert item.status_category is StatusCategory.CANCELLED
    assert item.item_type == "approval"
    assert item.completed_at == datetime(2026, 11, 2, 12, tzinfo=UTC)


def test_section_overrides_beat_the_defaults_but_not_completion(
    page: list[dict[str, Any]],
) -> None:
    words = vocabulary(status_overrides={"Backlog": "in_progress", "Done": "todo"})
    assert asana.work_item(task(page[2], project=ENABLEMENT), words).status_category is (
        StatusCategory.IN_PROGRESS
    )
    # Completed is Asana's own fact: a section mapped to todo does not reopen the task.
    assert asana.work_item(task(page[0]), words).status_category is StatusCategory.DONE


@pytest.mark.parametrize(
    ("section", "category"),
    [
        ("Doing", StatusCategory.IN_PROGRESS),
        ("in progress", StatusCategory.IN_PROGRESS),
        ("Review", StatusCategory.IN_PROGRESS),
        ("Done", StatusCategory.DONE),
        ("Next Actions", StatusCategory.TODO),
        ("Cancelled", StatusCategory.CANCELLED),
    ],
)
def test_default_section_meanings_for_open_tasks(
    page: list[dict[str, Any]], section: str, category: StatusCategory
) -> None:
    raw = {
        **page[2],
        "memberships": [{"project": {"gid": CRM}, "section": {"gid": "1", "name": section}}],
    }
    assert asana.status_category(task(raw), vocabulary()) is category


@pytest.mark.parametrize(
    ("option", "expected"),
    [("1208400000000403", 5.0), ("story POINTS", 5.0), ("Effort", None), (None, 5.0)],
)
def test_the_estimate_field_is_chosen_by_gid_or_name(
    page: list[dict[str, Any]], option: str | None, expected: float | None
) -> None:
    words = vocabulary(estimate_field=option) if option else vocabulary()
    assert asana.work_item(task(page[0]), words).estimate == expected


def test_the_priority_field_is_configurable(page: list[dict[str, Any]]) -> None:
    assert asana.work_item(task(page[0]), vocabulary(priority_field="Story points")).priority == "5"
    assert asana.work_item(task(page[0]), vocabulary(priority_field="Severity")).priority is None


def test_a_milestone_maps_to_a_reached_milestone(page: list[dict[str, Any]]) -> None:
    reached = asana.milestone(task(page[3]), vocabulary())
    assert reached.vendor_id == "1208400000000824"
    assert reached.project_vendor_id == CRM
    assert reached.name == "Cutover weekend"
    assert (reached.start_date, reached.due_date) == (None, date(2026, 11, 15))
    assert reached.reached is True
    assert reached.reached_at == datetime(2026, 11, 15, 17, tzinfo=UTC)
    assert reached.url == "https://app.asana.com/1/1208400000000000/task/1208400000000824"


def test_the_specs_example_task_maps(payloads: Path) -> None:
    example = task(load(payloads, "task.TaskResponse.from-oas.json")["data"], project="12345")
    item = asana.work_item(example, vocabulary())
    assert (item.vendor_id, item.title, item.status_name) == ("12345", "Buy catnip", "Next Actions")
    assert item.status_category is StatusCategory.TODO
    assert item.due_date == date(2019, 9, 15)
    assert item.labels == ("Grade A",)
    # Its custom field is called "Status": no estimate unless the connection names it.
    assert item.estimate is None
    assert asana.work_item(example, vocabulary(estimate_field="12345")).estimate == 5.2


def test_projects_map_with_archive_flag_and_no_key(payloads: Path) -> None:
    first, second = (
        asana.project(AsanaProject.model_validate(p), vocabulary())
        for p in load(payloads, "projects.page.json")["data"]
    )
    assert (first.vendor_id, first.key, first.name, first.archived) == (
        CRM,
        None,
        "CRM Migration",
        False,
    )
    assert first.url == "https://app.asana.com/1/1208400000000000/project/1208400000000497"
    assert second.archived is True


def test_stored_raw_json_with_the_context_revalidates_to_the_same_payload(
    page: list[dict[str, Any]],
) -> None:
    original = task(page[0], email="noor.aziz@northwind.example")
    stored = json.loads(json.dumps(original.model_dump(mode="json")))
    assert AsanaTask.model_validate(stored) == original
