"""Simulators by tool, behind the vendor-neutral :class:`sandbox.contract.Simulator` handle."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from sandbox import asana, jira, pingcode, trello, worktile
from sandbox.contract import Delivery, Simulator
from sandbox.jira import JiraSimulator
from sync.model import Tool


class JiraHandle:
    def __init__(self, *, items: int = 120, seed: int = 7) -> None:
        self.vendor = JiraSimulator(issues=items, projects=3, seed=seed)
        self.app: Any = self.vendor.app
        self.credentials: Mapping[str, str] = {
            "email": "demo@example.com",
            "api_token": "demo-token",
        }
        self.scope: tuple[str, ...] = ()
        self.options: Mapping[str, Any] = {}
        self.signs_body = True

    def work_item_ids(self) -> list[str]:
        hidden = {p.id for p in self.vendor.projects.values() if p.hidden}
        return [str(i.id) for i in self.vendor.issues.values() if i.project_id not in hidden]

    def touch_item(self, vendor_id: str, *, title: str) -> None:
        self.vendor.advance(timedelta(minutes=5).total_seconds())
        self.vendor.update_issue(vendor_id, summary=title)

    def delete_item(self, vendor_id: str) -> None:
        self.vendor.delete_issue(vendor_id)

    def delivery(self, vendor_id: str, *, secret: str, url: str) -> Delivery:
        issue = self.vendor.issues[int(vendor_id)]
        body = json.dumps(
            {
                "timestamp": int(self.vendor.clock().timestamp() * 1000),
                "webhookEvent": "jira:issue_updated",
                "issue": {"id": vendor_id, "key": issue.key},
            }
        ).encode()
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return Delivery(body=body, headers={"X-Hub-Signature": f"sha256={signature}"})


#: Handles for the contract suite and the demo: ``SIMULATORS[tool](items=N, seed=S)``.
SIMULATORS: dict[Tool, Callable[..., Simulator]] = {
    Tool.ASANA: asana.AsanaHandle,
    Tool.JIRA: JiraHandle,
    Tool.PINGCODE: pingcode.PingCodeHandle,
    Tool.TRELLO: trello.TrelloHandle,
    Tool.WORKTILE: worktile.WorktileHandle,
}

#: ``pmbridge sandbox TOOL``: ``SERVERS[tool](host=..., port=..., items=..., seed=...)``
#: runs the simulator under uvicorn on a loopback address.
SERVERS: dict[Tool, Callable[..., None]] = {
    Tool.ASANA: asana.serve,
    Tool.JIRA: lambda *, host, port, items, seed: jira.serve(
        host=host, port=port, issues=items, seed=seed
    ),
    Tool.PINGCODE: pingcode.serve,
    Tool.TRELLO: lambda *, host, port, items, seed: trello.serve(
        host=host, port=port, cards=items, seed=seed
    ),
    Tool.WORKTILE: worktile.serve,
}
