"""Forecasts: when will a goal reach its target, at the pace its scope has recently kept?

The scope's daily throughput over a window (completions from ``item_change``, milestones
reached, or a numeric goal's daily change) is resampled day by day in a seeded Monte Carlo
simulation until the remaining work is done. Percentiles of the simulated finishing days give
the 50th (even odds) and 85th (cautious) percentile dates; the share of runs finishing by the
due date is the probability of making it. With too little history there is no date, and the
forecast says why instead of inventing one.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy.orm import Session

from insights.goals.model import GoalDef, Metric
from insights.goals.rollup import Rollup, RollupReader
from sync.store import goals as store

PLACES = 4


class ForecastVerdict(StrEnum):
    FORECAST = "forecast"
    ACHIEVED = "achieved"
    STALLED = "stalled"
    INSUFFICIENT_HISTORY = "insufficient_history"
    NO_TARGET = "no_target"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True, slots=True)
class ForecastSettings:
    #: Days of history whose daily throughput is resampled (full days, ending yesterday).
    window_days: int = 28
    trials: int = 2000
    seed: int = 0
    #: Fewer days of recorded history than this: no forecast.
    min_history_days: int = 7
    #: Simulations stop here; a finish beyond it is "not within the horizon".
    horizon_days: int = 3 * 365


DEFAULT_SETTINGS = ForecastSettings()


@dataclass(frozen=True, slots=True)
class DailyThroughput:
    day: date
    value: float


@dataclass(frozen=True, slots=True)
class Forecast:
    goal_id: int
    metric: str
    as_of: date
    verdict: str
    reason: str
    window_days: int
    #: Days of the window with recorded history behind them (the samples resampled).
    history_days: int
    trials: int
    seed: int
    current: float | None
    target: float | None
    remaining: float | None
    due_date: date | None
    days_left: int | None
    completed_in_window: float
    recent_pace_per_week: float | None
    pace_needed_per_week: float | None
    p50_date: date | None
    p85_date: date | None
    probability_by_due: float | None
    daily: list[DailyThroughput] = field(default_factory=list)


# -- pure ----------------------------------------------------------------------------------
def daily_series(events: Iterable[tuple[date, float]], start: date, end: date) -> list[float]:
    """Per-day sums of ``events`` for each day in [start, end), zeros included."""
    days = (end - start).days
    series = [0.0] * max(days, 0)
    for day, value in events:
        offset = (day - start).days
        if 0 <= offset < days:
            series[offset] += value
    return series


def simulate(
    remaining: float, samples: Sequence[float], *, trials: int, seed: int, horizon_days: int
) -> list[int | None]:
    """For each trial, the day (1 = tomorrow) the remaining work is done, or ``None`` if not
    within the horizon. Each simulated day draws one of the sampled days at random."""
    rng = random.Random(seed)  # noqa: S311 - a seeded simulation, not a secret
    results: list[int | None] = []
    for _ in range(trials):
        total, day = 0.0, 0
        while total < remaining and day < horizon_days:
            for value in rng.choices(samples, k=min(64, horizon_days - day)):
                day += 1
                total += value
                if total >= remaining:
                    break
        results.append(day if total >= remaining else None)
    return results


def percentile(days: Sequence[int | None], p: float) -> int | None:
    """Nearest-rank percentile; ``None`` (never within the horizon) ranks last."""
    if not days:
        return None
    ordered = sorted(days, key=lambda d: math.inf if d is None else d)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def _per_week(value: float) -> float:
    return round(value * 7, 2)


def forecast_from(
    goal: GoalDef,
    *,
    today: date,
    current: float | None,
    target: float | None,
    samples: Sequence[float],
    window_start: date,
    history_days: int,
    settings: ForecastSettings,
) -> Forecast:
    """The forecast from a goal's numbers and its recent daily throughput (pure).

    ``samples`` are the last ``history_days`` days of the window, oldest first, in the
    direction of the goal (a goal that lowers a number counts decreases as progress).
    """
    due = goal.due_date
    days_left = None if due is None else (due - today).days
    direction = 1.0 if target is None or target >= goal.baseline else -1.0
    remaining = None
    if current is not None and target is not None:
        remaining = round(max(0.0, (target - current) * direction), 10)
    completed = round(sum(samples), PLACES)
    recent = _per_week(completed / len(samples)) if samples else None
    needed = None
    if remaining is not None and days_left is not None and days_left > 0:
        needed = _per_week(remaining / days_left)
    daily = [
        DailyThroughput(window_start + timedelta(days=settings.window_days - len(samples) + i), v)
        for i, v in enumerate(samples)
    ]

    def result(
        verdict: ForecastVerdict,
        reason: str,
        *,
        p50: int | None = None,
        p85: int | None = None,
        probability: float | None = None,
    ) -> Forecast:
        return Forecast(
            goal_id=goal.id,
            metric=goal.metric.value,
            as_of=today,
            verdict=verdict.value,
            reason=reason,
            window_days=settings.window_days,
            history_days=history_days,
            trials=settings.trials,
            seed=settings.seed,
            current=current,
            target=target,
            remaining=remaining,
            due_date=due,
            days_left=days_left,
            completed_in_window=completed,
            recent_pace_per_week=recent,
            pace_needed_per_week=needed,
            p50_date=None if p50 is None else today + timedelta(days=p50),
            p85_date=None if p85 is None else today + timedelta(days=p85),
            probability_by_due=probability,
            daily=daily,
        )

    if remaining is None:
        return result(
            ForecastVerdict.NO_TARGET, "no target to forecast towards: set the goal's target"
        )
    if remaining <= 0:
        return result(
            ForecastVerdict.ACHIEVED,
            "the target is reached",
            p50=0,
            p85=0,
            probability=None if due is None else 1.0,
        )
    if history_days < settings.min_history_days:
        return result(
            ForecastVerdict.INSUFFICIENT_HISTORY,
            f"only {history_days} day(s) of history in the scope, {settings.min_history_days} "
            "needed: no date can be forecast honestly yet; check again after more syncs",
        )
    if completed <= 0:
        return result(
            ForecastVerdict.STALLED,
            f"nothing was completed in the last {history_days} days: at this pace the target "
            f"is never reached (needs {needed if needed is not None else remaining} "
            f"{'per week' if needed is not None else 'more'})",
            probability=None if due is None else 0.0,
        )
    days = simulate(
        remaining,
        samples,
        trials=settings.trials,
        seed=settings.seed,
        horizon_days=settings.horizon_days,
    )
    p50, p85 = percentile(days, 0.5), percentile(days, 0.85)
    probability = None
    if days_left is not None:
        probability = round(
            sum(1 for d in days if d is not None and d <= days_left) / len(days), PLACES
        )
    if p50 is None:
        reason = (
            f"at the recent pace ({recent}/week) most runs do not finish within "
            f"{settings.horizon_days} days"
        )
    else:
        reason = (
            f"{settings.trials} runs resampling {history_days} days of throughput "
            f"(recent pace {recent}/week"
            + (f", needed {needed}/week" if needed is not None else "")
            + ")"
        )
    return result(ForecastVerdict.FORECAST, reason, p50=p50, p85=p85, probability=probability)


# -- reading the store ---------------------------------------------------------------------
def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _history(
    session: Session, goal: GoalDef, today: date, window_start: date
) -> tuple[list[tuple[date, float]], datetime | None]:
    """Dated throughput events in the goal's direction, and when the history begins."""
    since, until = _midnight(window_start), _midnight(today)
    if goal.metric is Metric.NUMERIC:
        rows = store.measurements_of(session, goal.id, until=until - timedelta(microseconds=1))
        if not rows:
            return [], None
        # Each day's change of the end-of-day value, the baseline standing before the first.
        by_day: dict[date, float] = {}
        for m in rows:
            by_day[m.measured_at.date()] = m.value
        events, previous = [], goal.baseline
        for day in sorted(by_day):
            if day >= window_start:
                events.append((day, by_day[day] - previous))
            previous = by_day[day]
        return events, rows[0].measured_at
    if goal.metric is Metric.MILESTONES_REACHED:
        milestones = [m for m in store.scope_milestones(session, goal.selectors) if not m.deleted]
        events = [
            (m.reached_at.date(), 1.0)
            for m in milestones
            if m.reached and m.reached_at is not None and since <= m.reached_at < until
        ]
        starts = [m.first_seen_at for m in milestones] + [
            m.reached_at for m in milestones if m.reached_at is not None
        ]
        return events, min(starts) if starts else None
    changes = store.completion_events(session, goal.selectors, since=since, until=until)
    if goal.metric is Metric.POINTS_DONE:
        events = [(c.at.date(), c.delta * (c.estimate or 0.0)) for c in changes]
    else:
        events = [(c.at.date(), float(c.delta)) for c in changes]
    return events, store.history_start(session, goal.selectors)


def forecast_goal(
    session: Session,
    goal_id: int,
    *,
    now: datetime,
    settings: ForecastSettings = DEFAULT_SETTINGS,
    reader: RollupReader | None = None,
) -> Forecast:
    reader = reader or RollupReader(session, now=now)
    goal = reader.goal(goal_id)
    rollup: Rollup = reader.rollup(goal_id)
    today = now.date()
    window_start = today - timedelta(days=settings.window_days)
    if goal.from_children:
        empty = forecast_from(
            goal,
            today=today,
            current=None,
            target=None,
            samples=[],
            window_start=window_start,
            history_days=0,
            settings=settings,
        )
        return dataclasses.replace(
            empty,
            verdict=ForecastVerdict.NOT_APPLICABLE.value,
            reason="progress rolls up from child goals: see each child's forecast",
        )
    events, began = _history(session, goal, today, window_start)
    history_days = 0
    if began is not None:
        history_days = max(0, min(settings.window_days, (today - began.date()).days))
    direction = 1.0 if rollup.target is None or rollup.target >= goal.baseline else -1.0
    series = daily_series(((d, v * direction) for d, v in events), window_start, today)
    samples = series[len(series) - history_days :] if history_days else []
    return forecast_from(
        goal,
        today=today,
        current=rollup.current,
        target=rollup.target,
        samples=samples,
        window_start=window_start,
        history_days=history_days,
        settings=settings,
    )
