"""Goal rollups over 200,000 items, on SQLite and PostgreSQL, against plain SQL.

    python bench/rollups.py [--items 200000] [--goals 200] [--backend sqlite|postgresql|both]

Data: 5 connections (one per tool), 100 projects, 500 milestones, 40 people and the items,
bulk-inserted with the driver (executemany on SQLite, COPY on PostgreSQL), then ANALYZE.
200 goals through the domain layer with a mix of scopes: a project, a project and a label,
two projects, a connection's bugs, a connection's items with a label, a milestone, an
assignee, and overlapping selector pairs; items_done, points_done and milestones_reached.

Measured in the same run, per backend:
  * one goal's rollup: ``GET /v1/goals/{id}/rollup`` through the real ASGI app (auth, SQL,
    provenance, plan, serialisation), each of the 200 goals, several rounds;
  * the portfolio: ``GET /v1/goals?include=rollup&limit=200``, several rounds;
  * the floor: the plain SQL aggregate counting the same items (live, not cancelled, and
    done) for each goal's scope, hand-written and run on the bare DBAPI cursor; for the
    portfolio, those 200 aggregates back to back.
Every rollup's item counts are checked against the floor's. For scale, each round also
times ``GET /v1/goals/{id}`` (the same HTTP, auth and session, no rollup): the fixed cost
of any request, which the bare-cursor floor does not pay.

Targets (issue 6): each p50 and p95 within 3x of its floor; one rollup's p95 < 50 ms on
SQLite. PostgreSQL: ``PMBRIDGE_BENCH_POSTGRES_URL`` (default: the local server's
``pmbridge_bench_goals`` database, created if missing; its ``public`` schema is rebuilt).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import measure, verdict

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TOOLS = ("jira", "trello", "asana", "worktile", "pingcode")
LABELS = ("q4", "emea", "apac", "churn", "upsell", "blocked")
TYPES = ("Task", "Story", "Bug", "Epic", "Sub-task")
STATUSES = ("done",) * 4 + ("todo",) * 3 + ("in_progress",) * 2 + ("cancelled",)
PROJECTS_PER_CONNECTION = 20
MILESTONES_PER_PROJECT = 5
PEOPLE = 40
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/pmbridge_bench_goals"
ITEM_COLUMNS = (
    "connection_id",
    "tool",
    "vendor_id",
    "key",
    "project_id",
    "title",
    "item_type",
    "status_name",
    "status_category",
    "assignee_id",
    "vendor_updated_at",
    "completed_at",
    "estimate",
    "labels",
    "milestone_id",
    "blocked",
    "raw",
    "content_hash",
    "deleted_at",
    "access_lost_at",
    "first_seen_at",
    "recorded_at",
)


# -- data ----------------------------------------------------------------------------------
def _engine(backend: str, folder: Path) -> Any:
    from sqlalchemy import text

    from sync.store.database import make_engine
    from sync.store.migrate import upgrade

    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    else:
        engine = make_engine(_postgres_url())
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    return engine


def _postgres_url() -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(os.environ.get("PMBRIDGE_BENCH_POSTGRES_URL", DEFAULT_PG))
    admin = url.set(database="postgres", drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as pg:
        if not pg.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)
        ).fetchone():
            pg.execute(f'CREATE DATABASE "{url.database}"')
    return url.render_as_string(hide_password=False)


def _records(engine: Any, box: Any) -> dict[str, Any]:
    """Connections, projects, milestones and people, through SQLAlchemy (a few hundred rows)."""
    from sqlalchemy import insert, select

    from sync.model import Tool
    from sync.store import tables as t
    from sync.store.connections import create_connection
    from sync.store.database import session_factory, unit_of_work

    sessions = session_factory(engine)
    with unit_of_work(sessions) as session:
        connections = []
        for tool in TOOLS:
            c = create_connection(
                session,
                box,
                name=f"bench-{tool}",
                tool=Tool(tool),
                base_url="http://127.0.0.1:9",
                credentials={"token": "bench"},
                now=NOW,
            )
            c.last_success_at = NOW - timedelta(hours=1)
            connections.append(c.id)
        session.flush()
        session.execute(
            insert(t.Project),
            [
                {
                    "connection_id": c,
                    "vendor_id": f"P{c}-{n}",
                    "key": f"P{c}{n}",
                    "name": f"Project {c}-{n}",
                    "archived": False,
                    "raw": "{}",
                    "content_hash": "0" * 32,
                    "first_seen_at": NOW,
                    "recorded_at": NOW,
                }
                for c in connections
                for n in range(PROJECTS_PER_CONNECTION)
            ],
        )
        projects = list(session.execute(select(t.Project.id, t.Project.connection_id)))
        session.execute(
            insert(t.Milestone),
            [
                {
                    "connection_id": c,
                    "vendor_id": f"M{p}-{n}",
                    "project_id": p,
                    "name": f"Release {p}.{n}",
                    "due_date": date(2026, 11, 1) + timedelta(days=15 * n),
                    "reached": n < 2,
                    "reached_at": NOW - timedelta(days=10) if n < 2 else None,
                    "archived": False,
                    "raw": "{}",
                    "content_hash": "0" * 32,
                    "first_seen_at": NOW - timedelta(days=90),
                    "recorded_at": NOW,
                }
                for p, c in projects
                for n in range(MILESTONES_PER_PROJECT)
            ],
        )
        session.execute(
            insert(t.Person),
            [
                {"display_name": f"Rep {n}", "email": f"rep{n}@example.com", "created_at": NOW}
                for n in range(PEOPLE)
            ],
        )
        milestones: dict[int, list[int]] = {}
        for m, p in session.execute(select(t.Milestone.id, t.Milestone.project_id)):
            milestones.setdefault(p, []).append(m)
        people = list(session.scalars(select(t.Person.id)))
    return {
        "connections": connections,
        "projects": [(p, c) for p, c in projects],
        "milestones": milestones,
        "people": people,
    }


def _items(world: dict[str, Any], count: int, backend: str) -> list[tuple[Any, ...]]:
    rng = random.Random(42)
    tool_of = dict(zip(world["connections"], TOOLS, strict=True))
    projects, milestones, people = world["projects"], world["milestones"], world["people"]
    sqlite = backend == "sqlite"

    def when(moment: datetime | None) -> Any:
        if moment is None or not sqlite:
            return moment
        return moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

    # Laid out as syncs write them: connection after connection (each syncs on its own),
    # and within a connection its projects interleaved, as a cross-project search returns them.
    per_connection: dict[int, list[int]] = {}
    for project, connection in projects:
        per_connection.setdefault(connection, []).append(project)
    order = [
        (per_connection[c][n % len(per_connection[c])], c)
        for c in world["connections"]
        for n in range(count // len(world["connections"]))
    ]
    order += [projects[n % len(projects)] for n in range(count - len(order))]
    rows = []
    for n, (project, connection) in enumerate(order):
        status = rng.choice(STATUSES)
        roll = rng.random()
        labels = [] if roll < 0.4 else rng.sample(LABELS, 1 if roll < 0.8 else 2)
        updated = NOW - timedelta(days=rng.random() * 120)
        lifecycle = rng.random()
        rows.append(
            (
                connection,
                tool_of[connection],
                str(n),
                f"K-{n}",
                project,
                f"Item {n}",
                rng.choice(TYPES),
                status,
                status,
                rng.choice(people) if rng.random() < 0.8 else None,
                when(updated),
                when(updated) if status == "done" else None,
                float(rng.choice((1, 2, 3, 5, 8, 13))) if rng.random() < 0.7 else None,
                json.dumps(labels),
                rng.choice(milestones[project]) if rng.random() < 0.6 else None,
                False,
                "{}",
                "0" * 32,
                when(NOW - timedelta(days=1)) if lifecycle < 0.01 else None,
                when(NOW - timedelta(days=2)) if 0.01 <= lifecycle < 0.015 else None,
                when(NOW - timedelta(days=130)),
                when(NOW),
            )
        )
    return rows


def _bulk_insert(engine: Any, rows: list[tuple[Any, ...]]) -> None:
    columns = ", ".join(ITEM_COLUMNS)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            marks = ", ".join("?" for _ in ITEM_COLUMNS)
            cursor.executemany(f"INSERT INTO work_item ({columns}) VALUES ({marks})", rows)  # noqa: S608
        else:
            with cursor.copy(f"COPY work_item ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def _goals(engine: Any, world: dict[str, Any], count: int) -> None:
    """Goals through the domain layer, so their scopes are validated like any other."""
    from insights.goals.definitions import SelectorDraft, create_goal
    from sync.store.database import session_factory, unit_of_work

    rng = random.Random(7)
    projects = world["projects"]
    connections = world["connections"]
    shapes: list[Callable[[], tuple[str, list[SelectorDraft]]]] = [
        lambda: ("items_done", [SelectorDraft(project_id=rng.choice(projects)[0])]),
        lambda: (
            "points_done",
            [SelectorDraft(project_id=rng.choice(projects)[0], labels=(rng.choice(LABELS),))],
        ),
        lambda: (
            "items_done",
            [SelectorDraft(project_id=p) for p, _ in rng.sample(projects, 2)],
        ),
        lambda: (
            "items_done",
            [SelectorDraft(connection_id=rng.choice(connections), item_types=("Bug",))],
        ),
        lambda: (
            "points_done",
            [SelectorDraft(connection_id=rng.choice(connections), labels=(rng.choice(LABELS),))],
        ),
        lambda: (
            "items_done",
            [SelectorDraft(milestone_id=rng.choice(world["milestones"][rng.choice(projects)[0]]))],
        ),
        lambda: (
            "items_done",
            [
                SelectorDraft(
                    connection_id=rng.choice(connections), assignee_id=rng.choice(world["people"])
                )
            ],
        ),
        lambda: (  # overlapping: a project, and its label across the connection
            "items_done",
            [
                SelectorDraft(project_id=(pc := rng.choice(projects))[0]),
                SelectorDraft(connection_id=pc[1], labels=("q4",)),
            ],
        ),
        lambda: ("milestones_reached", [SelectorDraft(project_id=rng.choice(projects)[0])]),
    ]
    sessions = session_factory(engine)
    with unit_of_work(sessions) as session:
        for n in range(count):
            metric, scope = shapes[n % len(shapes)]()
            create_goal(
                session,
                {
                    "title": f"Goal {n}",
                    "owner": "ops@example.com",
                    "metric": metric,
                    "start_date": date(2026, 10, 1),
                    "due_date": date(2027, 1, 31),
                    "status": "active",
                },
                scope,
                now=NOW,
            )


# -- the floor: plain SQL over the same items ----------------------------------------------
def _floor_sql(selectors: Sequence[Any], dialect: str, milestones: bool) -> str:
    def label(value: str) -> str:
        if dialect == "postgresql":
            return f"labels @> '{json.dumps([value])}'"
        return f"EXISTS (SELECT 1 FROM json_each(labels) WHERE value = '{value}')"  # noqa: S608

    clauses = []
    for s in selectors:
        parts = []
        if s.connection_id is not None:
            parts.append(f"connection_id = {int(s.connection_id)}")
        if s.project_id is not None:
            parts.append(f"project_id = {int(s.project_id)}")
        if s.milestone_id is not None:
            parts.append(f"{'id' if milestones else 'milestone_id'} = {int(s.milestone_id)}")
        if s.assignee_id is not None:
            parts.append(f"assignee_id = {int(s.assignee_id)}")
        if s.item_types:
            parts.append("item_type IN (" + ", ".join(f"'{k}'" for k in s.item_types) + ")")
        parts.extend(label(v) for v in s.labels)
        clauses.append("(" + " AND ".join(parts) + ")")
    scope = " OR ".join(clauses)
    if milestones:
        return (
            "SELECT count(*), coalesce(sum(CASE WHEN reached THEN 1 ELSE 0 END), 0) "  # noqa: S608
            f"FROM milestone WHERE deleted_at IS NULL AND access_lost_at IS NULL AND ({scope})"
        )
    return (
        "SELECT count(*), coalesce(sum(CASE WHEN status_category = 'done' THEN 1 ELSE 0 END), 0) "  # noqa: S608
        "FROM work_item WHERE deleted_at IS NULL AND access_lost_at IS NULL "
        f"AND status_category <> 'cancelled' AND ({scope})"
    )


def _shape(selectors: Sequence[Any], metric: str) -> str:
    """A goal's kind of scope, e.g. ``connection+labels`` or ``project | connection+labels``."""
    names = ("connection_id", "project_id", "milestone_id", "assignee_id", "labels", "item_types")
    parts = [
        "+".join(n.removesuffix("_id") for n in names if getattr(s, n) not in (None, ()))
        for s in selectors
    ]
    prefix = "milestones of " if metric == "milestones_reached" else ""
    return prefix + " | ".join(parts)


def _percentiles(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered) * 1000,
        "p95": ordered[max(0, round(0.95 * len(ordered)) - 1)] * 1000,
    }


def scenario(backend: str, items: int, goals: int, rounds: int) -> dict[str, Any]:
    import httpx
    from cryptography.fernet import Fernet

    from api.app import create_app
    from api.services import Services
    from sync.engine.runner import SyncEnvironment
    from sync.runtime import tune_garbage_collector
    from sync.settings import Settings
    from sync.store import goals as goal_store
    from sync.store import keys
    from sync.store.crypto import SecretBox
    from sync.store.database import session_factory, unit_of_work

    with tempfile.TemporaryDirectory() as folder:
        engine = _engine(backend, Path(folder))
        box = SecretBox(Fernet.generate_key())
        started = time.perf_counter()
        world = _records(engine, box)
        rows = _items(world, items, backend)
        _bulk_insert(engine, rows)
        load_seconds = time.perf_counter() - started
        _goals(engine, world, goals)
        sessions = session_factory(engine)
        with unit_of_work(sessions) as session:
            _row, api_key = keys.create_key(session, name="bench", scopes=["read"], now=NOW)
            goal_rows = goal_store.list_goals(
                session, goal_store.GoalFilters(), after_id=None, limit=goals
            )
            ids = [g.id for g in goal_rows]
            metrics = {g.id: g.metric for g in goal_rows}
            selectors = goal_store.selectors_of(session, ids)
        floors = {
            g: _floor_sql(selectors[g], engine.dialect.name, metrics[g] == "milestones_reached")
            for g in ids
        }
        shapes = {g: _shape(selectors[g], metrics[g]) for g in ids}
        by_shape: dict[str, tuple[list[float], list[float]]] = {}
        settings = Settings(database_url=str(engine.url), api_page_max=1000)
        services = Services(
            settings=settings,
            engine=engine,
            sessions=sessions,
            box=box,
            sync=SyncEnvironment(sessions=sessions, box=box, settings=settings, clock=lambda: NOW),
            clock=lambda: NOW,
        )
        raw = engine.raw_connection()
        cursor = raw.cursor()

        def floor(goal_id: int) -> tuple[int, int]:
            cursor.execute(floors[goal_id])
            counted, done = cursor.fetchone()
            raw.rollback()
            return int(counted), int(done)

        async def run() -> dict[str, Any]:
            transport = httpx.ASGITransport(app=create_app(services))
            tune_garbage_collector()  # as `pmbridge serve` does
            headers = {"Authorization": f"Bearer {api_key}"}
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                ours: list[float] = []
                plain: list[float] = []
                bare: list[float] = []
                portfolio: list[float] = []
                portfolio_plain: list[float] = []
                mismatches = []
                for round_ in range(rounds + 1):  # round 0 warms caches and is not counted
                    order = list(ids)
                    random.Random(round_).shuffle(order)
                    for goal_id in order:
                        t0 = time.perf_counter()
                        response = await http.get(f"/v1/goals/{goal_id}/rollup", headers=headers)
                        t1 = time.perf_counter()
                        counted, done = floor(goal_id)
                        t2 = time.perf_counter()
                        await http.get(f"/v1/goals/{goal_id}", headers=headers)
                        t3 = time.perf_counter()
                        body = response.json()
                        if (body["scope_items"], body["done_items"]) != (counted, done):
                            mismatches.append(goal_id)
                        if round_:
                            ours.append(t1 - t0)
                            plain.append(t2 - t1)
                            bare.append(t3 - t2)
                            mine, floor_times = by_shape.setdefault(shapes[goal_id], ([], []))
                            mine.append(t1 - t0)
                            floor_times.append(t2 - t1)
                    t0 = time.perf_counter()
                    response = await http.get(
                        f"/v1/goals?include=rollup&limit={goals}", headers=headers
                    )
                    t1 = time.perf_counter()
                    for goal_id in ids:
                        floor(goal_id)
                    t2 = time.perf_counter()
                    if len(response.json()["data"]) != len(ids):
                        mismatches.append(-1)
                    if round_:
                        portfolio.append(t1 - t0)
                        portfolio_plain.append(t2 - t1)
            return {
                "rollup": _percentiles(ours),
                "rollup_floor": _percentiles(plain),
                "api_floor": _percentiles(bare),
                "portfolio": _percentiles(portfolio),
                "portfolio_floor": _percentiles(portfolio_plain),
                "mismatches": len(set(mismatches)),
                "shapes": {
                    shape: {
                        "goals": sum(1 for g in ids if shapes[g] == shape),
                        "rollup_p50": _percentiles(mine)["p50"],
                        "floor_p50": _percentiles(floor_times)["p50"],
                    }
                    for shape, (mine, floor_times) in sorted(by_shape.items())
                },
            }

        try:
            result = asyncio.run(run())
        finally:
            raw.close()
            engine.dispose()
    result |= {
        "backend": backend,
        "items": items,
        "goals": goals,
        "load_seconds": load_seconds,
    }
    return result


# -- report --------------------------------------------------------------------------------
def report(results: Sequence[dict[str, Any]]) -> int:
    checks: list[tuple[str, bool]] = []
    for r in results:
        print(
            f"\n{r['backend']}: {r['goals']} goals over {r['items']:,} items "
            f"(bulk load {r['load_seconds']:.1f} s)"
        )
        print(f"{'':34}{'p50 ms':>9}{'p95 ms':>9}")
        for label, key in (
            ("one rollup (GET .../rollup)", "rollup"),
            ("  plain SQL aggregate", "rollup_floor"),
            ("  GET /v1/goals/{id} (no rollup)", "api_floor"),
            ("portfolio (?include=rollup)", "portfolio"),
            ("  plain SQL, one per goal", "portfolio_floor"),
        ):
            print(f"{label:34}{r[key]['p50']:>9.2f}{r[key]['p95']:>9.2f}")
        print(f"\n{'one rollup by kind of scope':34}{'goals':>6}{'p50 ms':>9}{'SQL p50':>9}")
        for shape, figures in r["shapes"].items():
            print(
                f"{shape:34}{figures['goals']:>6}{figures['rollup_p50']:>9.2f}"
                f"{figures['floor_p50']:>9.2f}"
            )
        for what in ("rollup", "portfolio"):
            for p in ("p50", "p95"):
                ratio = r[what][p] / r[f"{what}_floor"][p]
                checks.append(
                    (
                        f"{r['backend']} {what} {p} {ratio:.2f}x the plain SQL (target <= 3x)",
                        ratio <= 3,
                    )
                )
        if r["backend"] == "sqlite":
            p95 = r["rollup"]["p95"]
            checks.append((f"sqlite one rollup p95 {p95:.1f} ms (target < 50 ms)", p95 < 50))
        checks.append(
            (
                f"{r['backend']} rollup counts equal the plain SQL's ({r['mismatches']} differ)",
                r["mismatches"] == 0,
            )
        )
    print()
    for label, ok in checks:
        print(f"  {verdict(ok)}  {label}")
    return 0 if all(ok for _label, ok in checks) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--goals", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds over every goal")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--scenario", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    common = ["--items", str(args.items), "--goals", str(args.goals), "--rounds", str(args.rounds)]
    if args.scenario:
        result = scenario(args.scenario, args.items, args.goals, args.rounds)
        print(json.dumps(result))
        return
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = [measure(Path(__file__), backend, common) for backend in backends]
    raise SystemExit(report(results))


if __name__ == "__main__":
    main()
