"""The 5 x 5 grid: counts and ids per cell, drawn highest probability first."""

from __future__ import annotations

from insights.risks.matrix import build_grid
from insights.risks.settings import Bands


def test_the_grid_counts_risks_per_cell_and_names_them() -> None:
    grid = build_grid([(1, 5, 5), (2, 5, 5), (3, 1, 2), (4, 3, 4)], Bands())
    assert len(grid.cells) == 25
    top_right = grid.cells[4]
    assert (top_right.probability, top_right.impact, top_right.count) == (5, 5, 2)
    assert top_right.risk_ids == (1, 2)
    assert top_right.severity == "critical"
    cell = next(c for c in grid.cells if (c.probability, c.impact) == (3, 4))
    assert (cell.score, cell.severity, cell.risk_ids) == (12, "high", (4,))
    assert grid.total == 4
    assert grid.by_severity == {"critical": 2, "high": 1, "medium": 0, "low": 1}


def test_rows_run_from_probability_five_down_and_impact_one_up() -> None:
    cells = build_grid([], Bands()).cells
    assert [(c.probability, c.impact) for c in cells[:6]] == [
        (5, 1),
        (5, 2),
        (5, 3),
        (5, 4),
        (5, 5),
        (4, 1),
    ]
    assert all(c.count == 0 for c in cells)
