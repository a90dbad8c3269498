"""Vocabularies: how a connection's words map to ours.

Defaults live in code, per tool; a connection's overrides (stored as JSON on the connection)
win over what the connector discovered, which wins over the defaults. Mapping functions take
the resolved :class:`Vocabulary` and nothing else, so they stay pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sync.errors import InvalidRequest
from sync.model import StatusCategory, Tool

#: Status names that mean "we stopped" rather than "we finished", in tools whose structure
#: files them as done (Jira's "Won't Do" lives in the done category). Casefolded.
_CANCELLED_NAMES = ("won't do", "wont do", "cancelled", "canceled", "rejected", "declined")

DEFAULT_STATUS_OVERRIDES: Mapping[Tool, Mapping[str, StatusCategory]] = {
    tool: dict.fromkeys(_CANCELLED_NAMES, StatusCategory.CANCELLED) for tool in Tool
}

#: Jira resolutions that close an issue without doing it.
_BLOCKED = frozenset({"blocked"})

CANCELLED_RESOLUTIONS = frozenset(
    {"won't do", "won't fix", "duplicate", "cannot reproduce", "declined", "rejected"}
)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    tool: Tool
    #: Casefolded vendor status name -> our category; beats the vendor's own structure.
    status_overrides: Mapping[str, StatusCategory] = field(default_factory=dict)
    #: Vendor field that carries the estimate (Jira: the story-points custom field).
    estimate_field: str | None = None
    #: Human-facing site, for links back to the tool.
    site_url: str | None = None
    blocked_labels: frozenset[str] = _BLOCKED
    blocked_statuses: frozenset[str] = _BLOCKED
    #: Anything else a tool's mapping reads (milestone list names, done lists, ...).
    extra: Mapping[str, Any] = field(default_factory=dict)

    def override_for(self, status_name: str | None) -> StatusCategory | None:
        if status_name is None:
            return None
        return self.status_overrides.get(status_name.casefold())

    def is_blocked(self, *, labels: tuple[str, ...], status_name: str | None) -> bool:
        if status_name is not None and status_name.casefold() in self.blocked_statuses:
            return True
        return any(label.casefold() in self.blocked_labels for label in labels)

    @classmethod
    def build(
        cls,
        tool: Tool,
        *,
        discovered: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Vocabulary:
        """Defaults, then what the connector discovered, then the connection's overrides."""
        merged: dict[str, Any] = {**(discovered or {}), **(overrides or {})}
        statuses = dict(DEFAULT_STATUS_OVERRIDES[tool])
        statuses.update(parse_status_overrides(merged.pop("status_overrides", None) or {}))
        blocked_labels = merged.pop("blocked_labels", None)
        blocked_statuses = merged.pop("blocked_statuses", None)
        return cls(
            tool=tool,
            status_overrides=statuses,
            estimate_field=merged.pop("estimate_field", None),
            site_url=merged.pop("site_url", None),
            blocked_labels=_casefold_set(blocked_labels),
            blocked_statuses=_casefold_set(blocked_statuses),
            extra=merged,
        )


def _casefold_set(values: Any) -> frozenset[str]:
    if values is None:
        return _BLOCKED
    return frozenset(str(v).casefold() for v in values)


def parse_status_overrides(raw: Mapping[str, Any]) -> dict[str, StatusCategory]:
    """Validate ``{"Status name": "category"}`` as an administrator wrote it."""
    parsed: dict[str, StatusCategory] = {}
    for name, category in raw.items():
        try:
            parsed[str(name).casefold()] = StatusCategory(category)
        except ValueError:
            allowed = ", ".join(c.value for c in StatusCategory)
            raise InvalidRequest(
                f"status override {name!r} -> {category!r}: category must be one of {allowed}",
                field="status_overrides",
            ) from None
    return parsed
