"""Blocking links, read from the raw payloads the store keeps beside each work item.

The unified model carries a ``blocked`` flag (the tool's own flag, a "blocked" label or status,
as each mapping decides) but not the links between items. Until it does, the tools whose
payloads carry blocking links are read here, one small function per tool, and only for items
whose raw text contains the tool's marker (the store filters on it in SQL):

- Jira: ``fields.issuelinks`` whose type is "Blocks" (or reads "is blocked by"); the blocker
  is the link's ``inwardIssue``, whose embedded status category says whether it is finished.
- Asana: ``dependencies`` (the tasks this one depends on), when the connection asks for them.

Trello, Worktile and PingCode payloads, as synced, carry no blocking links: for them only the
flag counts. The right home for this is each tool's mapping (a ``blocked_by`` field of
``WorkItem``); then this module goes away.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Text a raw payload must contain for it to hold at least one blocking link (compact JSON,
#: as the store writes it).
RAW_MARKERS: Mapping[str, str] = {
    "jira": '"issuelinks":[{',
    "asana": '"dependencies":[{',
}


@dataclass(frozen=True, slots=True)
class BlockerRef:
    """An item this one waits for, as the tool names it."""

    vendor_id: str
    key: str | None = None
    #: Whether the tool's payload says the blocker is finished; ``None`` if it does not say.
    done: bool | None = None


def _jira(raw: Mapping[str, Any]) -> list[BlockerRef]:
    fields = raw.get("fields")
    if not isinstance(fields, Mapping):
        return []
    found = []
    for link in fields.get("issuelinks") or ():
        if not isinstance(link, Mapping):
            continue
        kind: Mapping[str, Any] = link["type"] if isinstance(link.get("type"), Mapping) else {}
        name = str(kind.get("name") or "").casefold()
        inward = str(kind.get("inward") or "").casefold()
        if name != "blocks" and "blocked by" not in inward:
            continue
        issue = link.get("inwardIssue")
        if not isinstance(issue, Mapping) or issue.get("id") is None:
            continue  # an outward link: this item blocks another one
        status = (issue.get("fields") or {}).get("status") or {}
        category = (status.get("statusCategory") or {}).get("key")
        found.append(
            BlockerRef(
                vendor_id=str(issue["id"]),
                key=issue.get("key"),
                done=None if category is None else category == "done",
            )
        )
    return found


def _asana(raw: Mapping[str, Any]) -> list[BlockerRef]:
    found = []
    for dependency in raw.get("dependencies") or ():
        if isinstance(dependency, Mapping) and dependency.get("gid"):
            completed = dependency.get("completed")
            found.append(
                BlockerRef(
                    vendor_id=str(dependency["gid"]),
                    key=dependency.get("name"),
                    done=completed if isinstance(completed, bool) else None,
                )
            )
    return found


_READERS = {"jira": _jira, "asana": _asana}


def blockers_in(tool: str, raw: Mapping[str, Any]) -> tuple[BlockerRef, ...]:
    """The items a work item's raw payload says block it (empty for tools without links)."""
    reader = _READERS.get(tool)
    return tuple(reader(raw)) if reader is not None else ()
