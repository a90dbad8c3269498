"""PingCode payloads map to unified records, read from payload files shaped as FACTS.md §5
documents them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from sync.connectors.pingcode.payloads import (
    PingCodeMilestone,
    PingCodeProject,
    PingCodeVersion,
    PingCodeWorkItem,
)
from sync.mapping import pingcode
from sync.mapping.vocabulary import Vocabulary
from sync.model import StatusCategory, Tool


def load(payloads: Path, name: str) -> Any:
    return json.loads((payloads / "pingcode" / name).read_text())


@pytest.fixture
def vocabulary() -> Vocabulary:
    return Vocabulary.build(
        Tool.PINGCODE,
        discovered={
            "time_zone": "Asia/Shanghai",
            "milestone_types": ["milestone", "里程碑"],
            "estimate_field": "story_points",
        },
    )


@pytest.fixture
def items(payloads: Path) -> list[PingCodeWorkItem]:
    values = load(payloads, "work_items.page.json")["values"]
    return [PingCodeWorkItem.model_validate(v) for v in values]


def test_a_completed_story_maps_every_field(
    items: list[PingCodeWorkItem], vocabulary: Vocabulary
) -> None:
    item = pingcode.work_item(items[0], vocabulary)
    assert item.vendor_id == "6a625eb326e875555790f82e"
    assert item.key == "CPQ-1"
    assert item.project_vendor_id == "6a55fa906b4cb2424a23d596"
    assert item.title == "多币种报价 (USD)"
    assert item.item_type == "story"
    assert item.status_name == "已完成"
    assert item.status_category is StatusCategory.DONE
    # Epoch seconds: times in UTC, date-only values on the connection's calendar.
    assert item.updated_at == datetime(2026, 11, 4, 9, 45, 2, tzinfo=UTC)
    assert item.created_at == datetime(2026, 10, 20, 6, 3, 11, tzinfo=UTC)
    assert item.completed_at == datetime(2026, 11, 4, 9, 45, tzinfo=UTC)
    assert item.start_date == date(2026, 10, 26)
    assert item.due_date == date(2026, 11, 5)
    assert item.estimate == 5.0
    assert item.labels == ("多币种", "pricing")
    assert item.priority == "高 High"
    assert item.parent_vendor_id == "6a61f0aa00000000000000e1"
    assert item.milestone_vendor_id == "version:6a5b4090922766581e27a1c0"
    assert item.blocked is False


def test_the_assignee_keeps_the_display_name_and_a_lower_cased_email(
    items: list[PingCodeWorkItem], vocabulary: Vocabulary
) -> None:
    assignee = pingcode.work_item(items[0], vocabulary).assignee
    assert assignee is not None
    assert (assignee.vendor_id, assignee.display_name, assignee.email) == (
        "685280109531985d5d9dc9f8",
        "Emma Tan",
        "emma.tan@quotes.example.com",
    )


@pytest.mark.parametrize(
    ("index", "category"),
    [
        (0, StatusCategory.DONE),  # completed
        (1, StatusCategory.IN_PROGRESS),  # in_progress
        (2, StatusCategory.CANCELLED),  # closed
        (5, StatusCategory.TODO),  # pending
    ],
)
def test_status_category_comes_from_state_type(
    items: list[PingCodeWorkItem], vocabulary: Vocabulary, index: int, category: StatusCategory
) -> None:
    assert pingcode.work_item(items[index], vocabulary).status_category is category


def test_a_state_name_override_beats_the_state_type(items: list[PingCodeWorkItem]) -> None:
    vocabulary = Vocabulary.build(Tool.PINGCODE, overrides={"status_overrides": {"已关闭": "done"}})
    assert pingcode.work_item(items[2], vocabulary).status_category is StatusCategory.DONE


def test_a_state_type_can_be_remapped_for_a_connection(items: list[PingCodeWorkItem]) -> None:
    vocabulary = Vocabulary.build(
        Tool.PINGCODE, overrides={"state_type_categories": {"closed": "done"}}
    )
    assert pingcode.work_item(items[2], vocabulary).status_category is StatusCategory.DONE


def test_a_type_object_a_blocked_state_and_missing_fields(
    items: list[PingCodeWorkItem], vocabulary: Vocabulary
) -> None:
    item = pingcode.work_item(items[1], vocabulary)
    assert item.item_type == "事务 Issue"
    assert item.blocked is True
    assert item.assignee is None
    assert (item.start_date, item.due_date, item.estimate, item.completed_at) == (
        None,
        None,
        None,
        None,
    )


def test_a_closed_item_has_no_completion_time(
    items: list[PingCodeWorkItem], vocabulary: Vocabulary
) -> None:
    item = pingcode.work_item(items[2], vocabulary)
    assert item.completed_at is None
    assert items[2].is_archived is True  # archived stays a live item: see the connector


def test_the_estimate_field_may_be_a_custom_property(items: list[PingCodeWorkItem]) -> None:
    vocabulary = Vocabulary.build(Tool.PINGCODE, overrides={"estimate_field": "estimated_workload"})
    assert pingcode.work_item(items[0], vocabulary).estimate == 16.0


def test_dates_follow_the_connections_time_zone(items: list[PingCodeWorkItem]) -> None:
    berlin = Vocabulary.build(Tool.PINGCODE, overrides={"time_zone": "Europe/Berlin"})
    # 2026-11-05 23:59:59 in Shanghai is still the 5th in Berlin; 2026-10-26 00:00 is the 25th.
    item = pingcode.work_item(items[0], berlin)
    assert (item.start_date, item.due_date) == (date(2026, 10, 25), date(2026, 11, 5))


def test_milestone_work_items_are_recognised_by_type(
    items: list[PingCodeWorkItem], vocabulary: Vocabulary
) -> None:
    assert [pingcode.is_milestone(i) for i in items] == [False, False, False, True, True, False]
    assert pingcode.is_milestone(items[1], ["事务 issue"]) is True


def test_a_milestone_work_item_maps_to_a_milestone(
    items: list[PingCodeWorkItem], vocabulary: Vocabulary
) -> None:
    upcoming = pingcode.milestone(items[3], vocabulary)
    assert upcoming.vendor_id == "6a61f43034b9b5df9e7769b1"
    assert upcoming.project_vendor_id == "6a589d901738f7d93d9c1724"
    assert upcoming.name == "UAT 完成 UAT complete"
    assert upcoming.start_date is None  # PingCode ignores a milestone's start_at
    assert upcoming.due_date == date(2026, 12, 2)
    assert (upcoming.reached, upcoming.reached_at) == (False, None)

    reached = pingcode.milestone(items[4], vocabulary)
    assert reached.reached is True
    assert reached.reached_at == datetime(2026, 9, 11, 9, 0, tzinfo=UTC)


def test_versions_map_to_prefixed_milestones(payloads: Path, vocabulary: Vocabulary) -> None:
    values = load(payloads, "versions.page.json")["values"]
    versions = [
        PingCodeVersion.model_validate(v).model_copy(update={"pmbridge_project_id": "p1"})
        for v in values
    ]
    beta, ga, later = (pingcode.milestone(v, vocabulary) for v in versions)
    assert beta.vendor_id == "version:6a589d9095e60af593bd04cf"
    assert beta.project_vendor_id == "p1"
    assert (beta.start_date, beta.due_date) == (date(2026, 9, 21), date(2026, 10, 31))
    assert beta.reached is True
    assert ga.reached is False
    assert (later.start_date, later.due_date, later.description) == (None, None, None)


def test_stored_raw_json_revalidates_into_either_milestone_kind(
    payloads: Path, vocabulary: Vocabulary
) -> None:
    version_raw = load(payloads, "versions.page.json")["values"][0]
    item_raw = load(payloads, "work_items.page.json")["values"][3]
    as_version = pingcode.milestone(PingCodeMilestone.model_validate(version_raw), vocabulary)
    as_item = pingcode.milestone(PingCodeMilestone.model_validate(item_raw), vocabulary)
    assert as_version.vendor_id.startswith("version:")
    assert as_item.vendor_id == item_raw["id"]


def test_projects_map_with_their_identifier_and_archive_flag(
    payloads: Path, vocabulary: Vocabulary
) -> None:
    values = load(payloads, "projects.page.json")["values"]
    projects = [pingcode.project(PingCodeProject.model_validate(v), vocabulary) for v in values]
    assert [(p.key, p.archived) for p in projects] == [("QT", False), ("CPQ", True)]
    assert projects[0].name == "报价工具 2.0 发布计划 Quotation Tool 2.0 Release"


def test_the_documented_bodies_validate(payloads: Path) -> None:
    from sync.connectors.pingcode.payloads import PingCodeError, PingCodeToken

    token = PingCodeToken.model_validate(load(payloads, "token.json"))
    assert (token.token_type, token.expires_in) == ("Bearer", 2592000)
    assert PingCodeError.model_validate(load(payloads, "rate-limited.429.json")).code == "100038"
