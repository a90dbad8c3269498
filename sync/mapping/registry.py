"""Which pure functions map each tool's payloads, and which payload model each resource has
(so stored raw JSON can be re-validated and re-mapped when a vocabulary changes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from sync.connectors.jira import payloads as jira_payloads
from sync.mapping import jira
from sync.mapping.vocabulary import Vocabulary
from sync.model import Milestone, Project, Resource, Tool, WorkItem


@dataclass(frozen=True, slots=True)
class ToolMapping:
    project: Callable[[Any, Vocabulary], Project]
    work_item: Callable[[Any, Vocabulary], WorkItem]
    milestone: Callable[[Any, Vocabulary], Milestone]
    payload_models: dict[Resource, type[BaseModel]]


MAPPINGS: dict[Tool, ToolMapping] = {
    Tool.JIRA: ToolMapping(
        project=jira.project,
        work_item=jira.work_item,
        milestone=jira.milestone,
        payload_models={
            Resource.PROJECTS: jira_payloads.JiraProject,
            Resource.WORK_ITEMS: jira_payloads.JiraIssue,
            Resource.MILESTONES: jira_payloads.JiraVersion,
        },
    ),
}
