"""Consolidated progress: counts by status category, done percentages, overdue work, and how
fresh the data behind each number is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from sync.model import StatusCategory
from sync.store.queries import GroupBy, ItemFilters, connection_freshness, progress_groups


@dataclass(frozen=True, slots=True)
class Freshness:
    connection_id: int
    connection_name: str
    tool: str
    state: str
    last_success_at: datetime | None
    age_seconds: float | None


@dataclass(frozen=True, slots=True)
class GroupProgress:
    key: str | None
    label: str | None
    total: int
    todo: int
    in_progress: int
    done: int
    cancelled: int
    done_pct: float | None
    points_total: float
    points_done: float
    done_pct_points: float | None
    overdue: int
    freshness: list[Freshness]


@dataclass(frozen=True, slots=True)
class ProgressReport:
    group_by: str
    as_of: date
    groups: list[GroupProgress]


def ratio(part: float, whole: float) -> float | None:
    """A share rounded for people (4 places); ``None`` when there is nothing to divide by."""
    return round(part / whole, 4) if whole > 0 else None


def progress(
    session: Session, group_by: GroupBy, filters: ItemFilters, *, now: datetime
) -> ProgressReport:
    today = now.date()
    connections = connection_freshness(session)
    groups = []
    for group in progress_groups(session, group_by, filters, today=today):
        counts = group.counts
        cancelled = counts[StatusCategory.CANCELLED.value]
        done = counts[StatusCategory.DONE.value]
        groups.append(
            GroupProgress(
                key=group.key,
                label=group.label,
                total=group.total,
                todo=counts[StatusCategory.TODO.value],
                in_progress=counts[StatusCategory.IN_PROGRESS.value],
                done=done,
                cancelled=cancelled,
                # Cancelled work is neither done nor left to do: it leaves the denominator.
                done_pct=ratio(done, group.total - cancelled),
                points_total=group.points_total,
                points_done=group.points_done,
                done_pct_points=ratio(group.points_done, group.points_total),
                overdue=group.overdue,
                freshness=[
                    _freshness(connections[cid], now) for cid in sorted(set(group.connection_ids))
                ],
            )
        )
    return ProgressReport(group_by=group_by.value, as_of=today, groups=groups)


def _freshness(row: dict[str, Any], now: datetime) -> Freshness:
    last = row["last_success_at"]
    return Freshness(
        connection_id=row["id"],
        connection_name=row["name"],
        tool=row["tool"],
        state=row["state"],
        last_success_at=last,
        age_seconds=round((now - last).total_seconds(), 1) if last is not None else None,
    )
