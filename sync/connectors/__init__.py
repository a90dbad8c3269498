"""Connector registry: one class per tool, all implementing ``base.Connector``."""

from __future__ import annotations

from sync.connectors.base import Connector
from sync.connectors.jira.connector import JiraConnector
from sync.model import Tool

CONNECTORS: dict[Tool, type[Connector]] = {
    Tool.JIRA: JiraConnector,
}
