"""Connector registry: one class per tool, all implementing ``base.Connector``."""

from __future__ import annotations

from sync.connectors.asana.connector import AsanaConnector
from sync.connectors.base import Connector
from sync.connectors.jira.connector import JiraConnector
from sync.connectors.pingcode.connector import PingCodeConnector
from sync.connectors.trello.connector import TrelloConnector
from sync.connectors.worktile.connector import WorktileConnector
from sync.model import Tool

CONNECTORS: dict[Tool, type[Connector]] = {
    Tool.ASANA: AsanaConnector,
    Tool.JIRA: JiraConnector,
    Tool.PINGCODE: PingCodeConnector,
    Tool.TRELLO: TrelloConnector,
    Tool.WORKTILE: WorktileConnector,
}
