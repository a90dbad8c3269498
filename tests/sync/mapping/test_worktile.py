"""Worktile payloads map to unified records, read from payload files shaped as WORKTILE.md
shows them (see tests/payloads/worktile/README.md)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from sync.connectors.worktile.payloads import WorktileProject, WorktileTask
from sync.mapping import worktile
from sync.mapping.vocabulary import Vocabulary
from sync.model import StatusCategory, Tool

SITE = "https://sales-ops.worktile.com"
ZHANG = "4ef8aa38922766581e27a1c08a6a63ec"


def load(payloads: Path, name: str) -> Any:
    return json.loads((payloads / "worktile" / name).read_text())


@pytest.fixture
def vocabulary() -> Vocabulary:
    return Vocabulary.build(
        Tool.WORKTILE,
        discovered={
            "site_url": SITE,
            "time_zone": "Asia/Shanghai",
            "members": {ZHANG: "张伟"},
        },
    )


@pytest.fixture
def tasks(payloads: Path) -> list[WorktileTask]:
    items = load(payloads, "project-tasks.page.json")["items"]
    return [WorktileTask.model_validate(item) for item in items]


def test_a_done_course_maps_every_field(tasks: list[WorktileTask], vocabulary: Vocabulary) -> None:
    item = worktile.work_item(tasks[0], vocabulary)
    assert item.vendor_id == "6a5f00420cbc97d0fef79280"
    assert item.key == "ENB-42"
    assert item.project_vendor_id == "6a3a4b10e01f5057ca02135e"
    assert item.title == "录制 CRM 云产品讲解视频"
    assert item.item_type == "课程"
    assert (item.status_name, item.status_category) == ("已完成", StatusCategory.DONE)
    assert item.url == (
        f"{SITE}/mission/projects/6a3a4b10e01f5057ca02135e/tasks/6a5f00420cbc97d0fef79280"
    )
    assert item.labels == ("新人", "线上")
    assert item.priority == "高"
    assert item.updated_at == datetime(2026, 11, 14, 9, 30, tzinfo=UTC)
    assert item.created_at == datetime(2026, 10, 28, 2, 0, tzinfo=UTC)
    assert item.completed_at == datetime(2026, 11, 14, 9, 30, tzinfo=UTC)
    assert item.parent_vendor_id is None
    assert item.milestone_vendor_id is None
    assert item.blocked is False


def test_epoch_seconds_become_aware_utc_times(tasks: list[WorktileTask]) -> None:
    item = worktile.work_item(tasks[0], Vocabulary.build(Tool.WORKTILE))
    assert item.updated_at.tzinfo is UTC
    assert item.updated_at.timestamp() == 1794648600


def test_date_only_values_are_days_in_the_tenants_zone(
    tasks: list[WorktileTask], vocabulary: Vocabulary
) -> None:
    # Midnight 15 Nov in Shanghai is still 14 Nov in UTC: the zone decides the day.
    item = worktile.work_item(tasks[0], vocabulary)
    assert (item.start_date, item.due_date) == (date(2026, 11, 2), date(2026, 11, 15))
    default = worktile.work_item(tasks[0], Vocabulary.build(Tool.WORKTILE))
    assert default.due_date == date(2026, 11, 15)  # Asia/Shanghai is the default zone
    london = Vocabulary.build(Tool.WORKTILE, overrides={"time_zone": "Europe/London"})
    assert worktile.work_item(tasks[0], london).due_date == date(2026, 11, 14)


def test_the_assignee_comes_from_properties_with_the_members_display_name(
    tasks: list[WorktileTask], vocabulary: Vocabulary
) -> None:
    assignee = worktile.work_item(tasks[0], vocabulary).assignee
    assert assignee is not None
    assert (assignee.vendor_id, assignee.display_name, assignee.email) == (ZHANG, "张伟", None)
    unknown = worktile.work_item(tasks[1], vocabulary).assignee
    assert unknown is not None
    assert unknown.display_name is None


def test_a_closed_terminal_state_is_cancelled_not_done(
    tasks: list[WorktileTask], vocabulary: Vocabulary
) -> None:
    item = worktile.work_item(tasks[1], vocabulary)
    assert (item.status_name, item.status_category) == ("关闭", StatusCategory.CANCELLED)
    assert item.completed_at is None
    assert item.due_date is None


def test_wrapped_v2_properties_and_timed_due_dates_are_read(
    tasks: list[WorktileTask], vocabulary: Vocabulary
) -> None:
    item = worktile.work_item(tasks[2], vocabulary)
    assert item.status_category is StatusCategory.IN_PROGRESS
    assert item.assignee is not None
    assert item.assignee.vendor_id == ZHANG
    assert item.start_date == date(2026, 11, 16)
    assert item.due_date == date(2026, 11, 25)
    assert item.priority == "高"
    assert item.parent_vendor_id == "6a5f00420cbc97d0fef79280"
    assert item.blocked is True  # the "blocked" tag
    assert tasks[2].properties.participant == [ZHANG, "11e20b8f6b0d549b6f03675a1600a35a"]


def test_an_unassigned_archived_todo(tasks: list[WorktileTask], vocabulary: Vocabulary) -> None:
    assert tasks[3].is_archived is True
    item = worktile.work_item(tasks[3], vocabulary)
    assert item.status_category is StatusCategory.TODO
    assert item.assignee is None
    assert item.due_date == date(2026, 9, 30)


def test_an_undocumented_state_type_falls_back_to_the_state_name(
    tasks: list[WorktileTask], vocabulary: Vocabulary
) -> None:
    assert tasks[5].state_category_type == 4
    assert worktile.status_category(tasks[5], vocabulary) is StatusCategory.CANCELLED


def test_a_connection_override_beats_the_state_type(tasks: list[WorktileTask]) -> None:
    vocabulary = Vocabulary.build(
        Tool.WORKTILE, overrides={"status_overrides": {"进行中": "todo", "关闭": "done"}}
    )
    assert worktile.status_category(tasks[2], vocabulary) is StatusCategory.TODO
    assert worktile.status_category(tasks[1], vocabulary) is StatusCategory.DONE


def test_cancelled_state_names_and_state_types_are_options(tasks: list[WorktileTask]) -> None:
    vocabulary = Vocabulary.build(
        Tool.WORKTILE,
        overrides={"cancelled_state_names": ["已完成"], "state_type_categories": {"2": "todo"}},
    )
    assert worktile.status_category(tasks[0], vocabulary) is StatusCategory.CANCELLED
    assert worktile.status_category(tasks[1], vocabulary) is StatusCategory.DONE
    assert worktile.status_category(tasks[2], vocabulary) is StatusCategory.TODO


def test_a_milestone_task_maps_to_a_reached_milestone(
    tasks: list[WorktileTask], vocabulary: Vocabulary
) -> None:
    milestone = worktile.milestone(tasks[4], vocabulary)
    assert milestone.vendor_id == "6a5f00460cbc97d0fef79280"
    assert milestone.project_vendor_id == "6a3a4b10e01f5057ca02135e"
    assert milestone.name == "里程碑：课程体系上线"  # noqa: RUF001 - Chinese punctuation
    assert milestone.due_date == date(2026, 11, 1)
    assert milestone.reached is True
    assert milestone.reached_at == datetime(2026, 10, 31, 10, 0, tzinfo=UTC)
    assert milestone.archived is False
    assert milestone.url is not None


def test_an_open_milestone_is_not_reached(
    tasks: list[WorktileTask], vocabulary: Vocabulary
) -> None:
    open_one = tasks[3].model_copy(update={"is_archived": False})
    milestone = worktile.milestone(open_one, vocabulary)
    assert (milestone.reached, milestone.reached_at) == (False, None)


def test_the_reconstructed_task_of_the_notes_maps(payloads: Path) -> None:
    task = WorktileTask.model_validate(load(payloads, "task.reconstructed.json"))
    item = worktile.work_item(task, Vocabulary.build(Tool.WORKTILE))
    assert (item.key, item.title, item.status_category) == (
        "PRJ-12",
        "任务标题",
        StatusCategory.IN_PROGRESS,
    )
    assert item.assignee is not None
    assert item.assignee.vendor_id == "<uid>"
    assert item.completed_at is None  # 0 means "not completed"
    assert item.url is None  # no site_url: no links
    assert item.labels == ("…",)


def test_an_estimate_comes_from_a_configured_custom_property(tasks: list[WorktileTask]) -> None:
    raw = tasks[0].model_dump(by_alias=True)
    raw["properties"]["story_points"] = {"value": 5}
    raw["properties"]["qp_version"] = "v2"
    task = WorktileTask.model_validate(raw)
    vocabulary = Vocabulary.build(Tool.WORKTILE, overrides={"estimate_field": "story_points"})
    assert worktile.work_item(task, vocabulary).estimate == 5.0
    other = Vocabulary.build(Tool.WORKTILE, overrides={"estimate_field": "qp_version"})
    assert worktile.work_item(task, other).estimate is None  # not a number
    assert worktile.work_item(task, Vocabulary.build(Tool.WORKTILE)).estimate is None


def test_projects_map_with_identifier_and_archive_flag(
    payloads: Path, vocabulary: Vocabulary
) -> None:
    values = load(payloads, "projects.page.json")["value"]
    projects = [worktile.project(WorktileProject.model_validate(v), vocabulary) for v in values]
    assert [(p.vendor_id, p.key, p.name, p.archived) for p in projects] == [
        ("6a3a4b10e01f5057ca02135e", "ENB", "2027 销售赋能培训计划", False),
        ("6a3b9c90b774eb5248db40af", None, "New Hire Sales Bootcamp · 新人训练营", True),
    ]
    assert projects[0].url == f"{SITE}/mission/projects/6a3a4b10e01f5057ca02135e"
