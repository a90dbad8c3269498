"""Jira Cloud (platform REST v3)."""
