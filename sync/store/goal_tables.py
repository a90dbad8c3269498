"""Tables of SMART goals: the goal, its scope selectors, pushed measurements, daily snapshots.

A goal's scope is a list of selectors (rows of ``goal_selector``): within a selector every
given field must match, across selectors any. Selectors are rows rather than a JSON column
so each reference (connection, project, milestone, person) is a real foreign key: a selector
can never name a connection that does not exist.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sync.store.tables import Base
from sync.store.types import BigId, Json


class Goal(Base):
    __tablename__ = "goal"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    #: A person's name or e-mail: goals are owned by people, who need not be in any tool.
    owner: Mapped[str | None] = mapped_column(String(320))
    #: items_done, points_done, milestones_reached or numeric.
    metric: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str | None] = mapped_column(String(64))
    baseline: Mapped[float] = mapped_column(Float)
    #: Null means "all of the scope" (item and milestone metrics only).
    target: Mapped[float | None] = mapped_column(Float)
    start_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    #: No cascade: a goal with children cannot be deleted (the API says so with a 409).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("goal.id"), index=True)
    #: This goal's weight in its parent's rollup.
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    relevance: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    confidence: Mapped[float | None] = mapped_column(Float)
    #: Where progress comes from: the goal's own scope ("scope") or its children ("children").
    progress_from: Mapped[str] = mapped_column(String(16), default="scope")
    #: Variance (progress - expected) below which the goal is at risk / off track.
    at_risk_below: Mapped[float | None] = mapped_column(Float)
    off_track_below: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class GoalSelector(Base):
    """One selector of a goal's scope; null fields do not constrain."""

    __tablename__ = "goal_selector"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("goal.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("connection.id", ondelete="CASCADE")
    )
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    milestone_id: Mapped[int | None] = mapped_column(ForeignKey("milestone.id", ondelete="CASCADE"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    #: The item must carry every one of these labels.
    labels: Mapped[list[Any]] = mapped_column(Json, default=list)
    #: The item's type must be one of these.
    item_types: Mapped[list[Any]] = mapped_column(Json, default=list)


class GoalMeasurement(Base):
    """A value of a ``numeric`` goal pushed through the API; the latest is the current value."""

    __tablename__ = "goal_measurement"
    __table_args__ = (Index(None, "goal_id", "measured_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("goal.id", ondelete="CASCADE"))
    value: Mapped[float] = mapped_column(Float)
    measured_at: Mapped[datetime]
    source: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime]


class GoalSnapshot(Base):
    """What the rollup said on one day: one row per goal and day, rewritten if taken again."""

    __tablename__ = "goal_snapshot"
    __table_args__ = (UniqueConstraint("goal_id", "day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("goal.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    taken_at: Mapped[datetime]
    value: Mapped[float] = mapped_column(Float)
    target: Mapped[float | None] = mapped_column(Float)
    progress: Mapped[float | None] = mapped_column(Float)
    expected_progress: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str | None] = mapped_column(String(16))
    #: The scope line: items (or milestones) counted and points, and how many are done.
    scope_items: Mapped[int] = mapped_column(Integer)
    done_items: Mapped[int] = mapped_column(Integer)
    scope_points: Mapped[float] = mapped_column(Float)
    done_points: Mapped[float] = mapped_column(Float)
    #: The whole rollup as served that day, so ``?as_of=`` answers exactly what was reported.
    rollup: Mapped[dict[str, Any]] = mapped_column(Json)
