"""Blocking links read from the raw payloads each tool sends."""

from __future__ import annotations

from typing import Any

import orjson

from insights.risks.blockers import RAW_MARKERS, BlockerRef, blockers_in
from tests.builders_risks import jira_raw


def test_jira_inward_blocks_links_name_the_blockers_and_their_state() -> None:
    raw = jira_raw("10001", ("10002", "CRM-2", "indeterminate"), ("10003", "CRM-3", "done"))
    assert blockers_in("jira", raw) == (
        BlockerRef("10002", "CRM-2", done=False),
        BlockerRef("10003", "CRM-3", done=True),
    )


def test_jira_outward_and_other_links_block_nothing() -> None:
    raw: dict[str, Any] = {
        "id": "10001",
        "fields": {
            "issuelinks": [
                {  # this issue blocks CRM-5: not blocked by it
                    "type": {"name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
                    "outwardIssue": {"id": "10005", "key": "CRM-5"},
                },
                {
                    "type": {"name": "Relates", "inward": "relates to", "outward": "relates to"},
                    "inwardIssue": {"id": "10006", "key": "CRM-6"},
                },
            ]
        },
    }
    assert blockers_in("jira", raw) == ()


def test_a_renamed_blocking_link_type_is_recognised_by_its_wording() -> None:
    raw = jira_raw("10001", ("10002", "CRM-2", "new"))
    raw["fields"]["issuelinks"][0]["type"] = {"name": "Dependency", "inward": "is blocked by"}
    assert [b.key for b in blockers_in("jira", raw)] == ["CRM-2"]


def test_asana_dependencies_are_blockers() -> None:
    raw = {"gid": "1", "dependencies": [{"gid": "2", "resource_type": "task"}]}
    assert blockers_in("asana", raw) == (BlockerRef("2"),)


def test_tools_without_links_and_malformed_payloads_yield_nothing() -> None:
    assert blockers_in("trello", {"id": "x", "issuelinks": [{"inwardIssue": {"id": "1"}}]}) == ()
    assert blockers_in("jira", {"id": "1", "fields": None}) == ()
    assert blockers_in("jira", {"id": "1", "fields": {"issuelinks": ["junk", None]}}) == ()


def test_the_raw_markers_match_compact_json_with_a_link() -> None:
    text = orjson.dumps(jira_raw("1", ("2", "CRM-2", "new"))).decode()
    assert RAW_MARKERS["jira"] in text
    assert RAW_MARKERS["jira"] not in orjson.dumps(jira_raw("1")).decode()
