"""Tables of the risk register: risks, their change history, their links, per-goal thresholds.

Links are polymorphic rows ``(risk_id, target_type, target_id)`` with ``target_type`` one of
``goal``, ``milestone`` or ``item``, and no foreign key on the target: goals live in their own
module, and a link must not stop a tool's record or a goal from being deleted. Targets are
checked when a link is written; a link whose target has gone reads as ``exists: false``.
Signals are computed, never stored: a risk keeps only the key of the signal it was promoted
from and the signal as it was then.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sync.store.tables import Base
from sync.store.types import BigId, Json


class Risk(Base):
    __tablename__ = "risk"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(64))
    probability: Mapped[int] = mapped_column(Integer)
    impact: Mapped[int] = mapped_column(Integer)
    #: probability x impact, stored so listings filter and sort by band in SQL; the band
    #: itself is computed on read, since bands are configurable.
    score: Mapped[int] = mapped_column(Integer, index=True)
    #: A person's name or e-mail, like a goal's owner.
    owner: Mapped[str | None] = mapped_column(String(320))
    #: avoid, mitigate, transfer or accept.
    response: Mapped[str | None] = mapped_column(String(16))
    #: resolved, owned, accepted or mitigated.
    roam: Mapped[str | None] = mapped_column(String(16))
    #: open or closed.
    status: Mapped[str] = mapped_column(String(16), index=True)
    review_date: Mapped[date | None] = mapped_column(Date)
    residual_probability: Mapped[int | None] = mapped_column(Integer)
    residual_impact: Mapped[int | None] = mapped_column(Integer)
    residual_score: Mapped[int | None] = mapped_column(Integer)
    contingency_trigger: Mapped[str | None] = mapped_column(Text)
    contingency_measures: Mapped[str | None] = mapped_column(Text)
    contingency_owner: Mapped[str | None] = mapped_column(String(320))
    contingency_steps: Mapped[list[Any]] = mapped_column(Json, default=list)
    #: ``kind:type:id`` of the signal this risk was promoted from; it covers that signal.
    source_signal_key: Mapped[str | None] = mapped_column(String(160), index=True)
    #: The signal as it read when promoted (reason, since, facts).
    source_signal: Mapped[dict[str, Any] | None] = mapped_column(Json)
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(index=True)
    updated_by: Mapped[str | None] = mapped_column(String(100))
    closed_at: Mapped[datetime | None]


class RiskLink(Base):
    __tablename__ = "risk_link"
    __table_args__ = (
        UniqueConstraint("risk_id", "target_type", "target_id"),
        Index(None, "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    risk_id: Mapped[int] = mapped_column(ForeignKey("risk.id", ondelete="CASCADE"))
    #: goal, milestone or item.
    target_type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(BigId)
    created_at: Mapped[datetime]


class RiskChange(Base):
    """Append-only: who changed what of a risk, and when."""

    __tablename__ = "risk_change"
    __table_args__ = (Index(None, "risk_id", "changed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    risk_id: Mapped[int] = mapped_column(ForeignKey("risk.id", ondelete="CASCADE"))
    changed_at: Mapped[datetime]
    #: The API key's name.
    changed_by: Mapped[str | None] = mapped_column(String(100))
    #: created, promoted or updated.
    action: Mapped[str] = mapped_column(String(16))
    #: ``{field: {"old": ..., "new": ...}}``, JSON values (ISO dates).
    changes: Mapped[dict[str, Any]] = mapped_column(Json)


class RiskGoalThreshold(Base):
    """A goal's overrides of the signal thresholds; null columns keep the global setting."""

    __tablename__ = "risk_goal_threshold"

    #: No foreign key: goals are another module's table (see the module docstring).
    goal_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    due_soon_days: Mapped[int | None] = mapped_column(Integer)
    stale_days: Mapped[int | None] = mapped_column(Integer)
    scope_creep_pct: Mapped[float | None] = mapped_column(Float)
    forecast_slip_days: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(100))
