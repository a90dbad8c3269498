"""Vocabularies: defaults, then discovered facts, then the connection's overrides."""

import pytest

from sync.errors import InvalidRequest
from sync.mapping.vocabulary import Vocabulary
from sync.model import StatusCategory, Tool


def test_defaults_treat_wont_do_as_cancelled_in_any_case() -> None:
    vocabulary = Vocabulary.build(Tool.JIRA)
    assert vocabulary.override_for("Won't Do") is StatusCategory.CANCELLED
    assert vocabulary.override_for("CANCELLED") is StatusCategory.CANCELLED
    assert vocabulary.override_for("Done") is None


def test_overrides_win_over_discovered_facts() -> None:
    vocabulary = Vocabulary.build(
        Tool.JIRA,
        discovered={"estimate_field": "customfield_10016"},
        overrides={
            "estimate_field": "customfield_10028",
            "status_overrides": {"QA": "in_progress"},
        },
    )
    assert vocabulary.estimate_field == "customfield_10028"
    assert vocabulary.override_for("qa") is StatusCategory.IN_PROGRESS


def test_an_unknown_category_is_a_precise_error() -> None:
    with pytest.raises(InvalidRequest, match="'QA' -> 'almost'"):
        Vocabulary.build(Tool.JIRA, overrides={"status_overrides": {"QA": "almost"}})


def test_blocked_markers_are_configurable() -> None:
    vocabulary = Vocabulary.build(Tool.JIRA, overrides={"blocked_labels": ["Impediment"]})
    assert vocabulary.is_blocked(labels=("impediment",), status_name=None)
    assert not vocabulary.is_blocked(labels=("blocked",), status_name="Open")
    assert vocabulary.is_blocked(labels=(), status_name="Blocked")
