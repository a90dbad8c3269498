"""The 5 x 5 probability x impact matrix of open risks, and the same grid after responses
(residual probability and impact)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from insights.risks.goal_facts import GoalFacts
from insights.risks.register import LEVELS, risk_ids_for_goals, score
from insights.risks.settings import Bands, RiskSettings
from sync.store import risks as store


@dataclass(frozen=True, slots=True)
class Cell:
    probability: int
    impact: int
    score: int
    severity: str
    count: int
    risk_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Grid:
    #: All 25 cells, highest probability first, then impact ascending: the grid as drawn.
    cells: list[Cell]
    total: int
    #: Open risks by band.
    by_severity: dict[str, int]


@dataclass(frozen=True, slots=True)
class Matrix:
    as_of: date
    goal_ids: list[int]
    inherent: Grid
    residual: Grid
    #: Open risks without a residual assessment: not in the residual grid.
    residual_unassessed: list[int]


def build_grid(points: Iterable[tuple[int, int, int]], bands: Bands) -> Grid:
    """``points`` are ``(risk_id, probability, impact)``."""
    ids: dict[tuple[int, int], list[int]] = {(p, i): [] for p in LEVELS for i in LEVELS}
    for risk_id, probability, impact in points:
        ids[(probability, impact)].append(risk_id)
    cells = [
        Cell(
            probability=p,
            impact=i,
            score=score(p, i),
            severity=bands.of(score(p, i)).value,
            count=len(ids[(p, i)]),
            risk_ids=tuple(sorted(ids[(p, i)])),
        )
        for p in reversed(LEVELS)
        for i in LEVELS
    ]
    by_severity: dict[str, int] = {}
    for cell in cells:
        by_severity[cell.severity] = by_severity.get(cell.severity, 0) + cell.count
    return Grid(cells=cells, total=sum(c.count for c in cells), by_severity=by_severity)


def risk_matrix(
    session: Session,
    *,
    goal_ids: Sequence[int] = (),
    now: datetime,
    settings: RiskSettings,
    goal_facts: GoalFacts,
) -> Matrix:
    """Open risks on the grid; with ``goal_ids``, those linked to the goals or their scope."""
    restrict = risk_ids_for_goals(session, goal_ids, goal_facts) if goal_ids else None
    rows = store.open_risk_scores(session, restrict)
    inherent = build_grid(((r, p, i) for r, p, i, _, _ in rows), settings.bands)
    residual = build_grid(
        ((r, rp, ri) for r, _, _, rp, ri in rows if rp is not None and ri is not None),
        settings.bands,
    )
    unassessed = [r for r, _, _, rp, ri in rows if rp is None or ri is None]
    return Matrix(
        as_of=now.date(),
        goal_ids=sorted(goal_ids),
        inherent=inherent,
        residual=residual,
        residual_unassessed=unassessed,
    )
