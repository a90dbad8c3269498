"""Which pure functions map each tool's payloads, and which payload model each resource has
(so stored raw JSON can be re-validated and re-mapped when a vocabulary changes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from sync.connectors.asana import payloads as asana_payloads
from sync.connectors.jira import payloads as jira_payloads
from sync.connectors.pingcode import payloads as pingcode_payloads
from sync.connectors.trello import payloads as trello_payloads
from sync.connectors.worktile import payloads as worktile_payloads
from sync.mapping import asana, jira, pingcode, trello, worktile
from sync.mapping.vocabulary import Vocabulary
from sync.model import Milestone, Project, Resource, Tool, WorkItem


@dataclass(frozen=True, slots=True)
class ToolMapping:
    project: Callable[[Any, Vocabulary], Project]
    work_item: Callable[[Any, Vocabulary], WorkItem]
    milestone: Callable[[Any, Vocabulary], Milestone]
    payload_models: dict[Resource, type[BaseModel]]


MAPPINGS: dict[Tool, ToolMapping] = {
    Tool.ASANA: ToolMapping(
        project=asana.project,
        work_item=asana.work_item,
        milestone=asana.milestone,
        payload_models={
            Resource.PROJECTS: asana_payloads.AsanaProject,
            Resource.WORK_ITEMS: asana_payloads.AsanaTask,
            Resource.MILESTONES: asana_payloads.AsanaTask,
        },
    ),
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
    Tool.PINGCODE: ToolMapping(
        project=pingcode.project,
        work_item=pingcode.work_item,
        milestone=pingcode.milestone,
        payload_models={
            Resource.PROJECTS: pingcode_payloads.PingCodeProject,
            Resource.WORK_ITEMS: pingcode_payloads.PingCodeWorkItem,
            Resource.MILESTONES: pingcode_payloads.PingCodeMilestone,
        },
    ),
    Tool.TRELLO: ToolMapping(
        project=trello.project,
        work_item=trello.work_item,
        milestone=trello.milestone,
        payload_models={
            Resource.PROJECTS: trello_payloads.TrelloBoard,
            Resource.WORK_ITEMS: trello_payloads.TrelloCard,
            Resource.MILESTONES: trello_payloads.TrelloCard,
        },
    ),
    Tool.WORKTILE: ToolMapping(
        project=worktile.project,
        work_item=worktile.work_item,
        milestone=worktile.milestone,
        payload_models={
            Resource.PROJECTS: worktile_payloads.WorktileProject,
            Resource.WORK_ITEMS: worktile_payloads.WorktileTask,
            Resource.MILESTONES: worktile_payloads.WorktileTask,
        },
    ),
}
