"""Sustained signed webhook deliveries against a running ``pmbridge serve`` on loopback,
against a floor, in the same run.

    python bench/webhooks.py [--deliveries 3000] [--concurrency 16] [--database-url URL]

pmbridge: ``POST /webhooks/{id}`` on the real server stack (uvicorn, FastAPI, the receiver:
size limit, raw-body HMAC verification, de-duplication key, one inbox insert) with the
in-process worker applying deliveries as they arrive (re-fetching each named issue from a
Jira simulator over loopback HTTP, mapping, upsert). Floor: the same server process
answering ``POST /bench/floor``, which inserts the raw body into a table of the same
database and answers; no verification, no lookup, nothing applied afterwards.

Each delivery follows a change in the simulator (a renamed issue), so the benchmark also
measures the delay from receipt (the 2xx) to the new title being visible in ``/v1/items``,
for a sample of deliveries, while the load runs; and it checks that every delivery was
applied and that every issue ends with the simulator's title.

Targets (issue 5): accepted deliveries/s >= 60% of the floor's requests/s, p99 < 50 ms,
every delivery applied. Polling is turned off for the connection (its options) so the run
measures the webhook path alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import Request

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import free_port, verdict  # noqa: E402

SECRET = "bench-webhook-secret"  # noqa: S105 - a benchmark's made-up secret
SCRIPT = Path(__file__).resolve()


# -- the server process -----------------------------------------------------------------------
def serve(port: int) -> None:
    """``pmbridge serve`` (API + in-process worker), plus the floor endpoint."""
    import uvicorn
    from fastapi.responses import JSONResponse
    from sqlalchemy import text
    from starlette.concurrency import run_in_threadpool

    from api.app import create_app
    from api.services import Services
    from sync.engine.worker import Worker, WorkerThread
    from sync.runtime import tune_garbage_collector
    from sync.settings import Settings

    services = Services.build(Settings())
    app = create_app(services)
    settings = services.settings.worker
    worker = Worker(services.sync, settings)
    app.state.worker_settings = settings
    app.state.on_delivery = worker.wake
    insert = text("INSERT INTO bench_floor (body) VALUES (:body)")

    def store(body: bytes) -> None:
        with services.engine.begin() as connection:
            connection.execute(insert, {"body": body})

    @app.post("/bench/floor", include_in_schema=False)
    async def floor(request: Request) -> JSONResponse:
        await run_in_threadpool(store, await request.body())
        return JSONResponse({"status": "accepted"})

    # First in the route table, where create_app puts the receivers: both pay the same
    # route matching, so the ratio measures the receiver and the worker, not route order.
    app.router.routes.insert(0, app.router.routes.pop())

    tune_garbage_collector()  # as `pmbridge serve` does
    thread = WorkerThread(worker)
    thread.start()
    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    finally:
        thread.stop()


# -- the vendor process -------------------------------------------------------------------------
def simulate(port: int, issues: int) -> None:
    """The Jira simulator in its own process, plus two controls for the benchmark: rename an
    issue (a change the tool then announces) and read the current titles."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse as Answer
    from starlette.routing import Mount, Route

    from sandbox.registry import JiraHandle

    jira = JiraHandle(items=issues)

    async def rename(request: Request) -> Answer:
        jira.touch_item(request.query_params["issue"], title=request.query_params["title"])
        return Answer({"ok": True})

    async def titles(_request: Request) -> Answer:
        return Answer({str(i): issue.summary for i, issue in jira.vendor.issues.items()})

    app = Starlette(
        routes=[
            Route("/bench/rename", rename, methods=["POST"]),
            Route("/bench/titles", titles),
            Mount("/", app=jira.app),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start(*arguments: str, **environment: str) -> subprocess.Popen[bytes]:
    """This script in another interpreter (the server, the vendor)."""
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *arguments],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **environment},
    )


# -- the load -----------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def phase(
    client: httpx.AsyncClient,
    count: int,
    concurrency: int,
    request: Callable[[int], Awaitable[httpx.Response]],
) -> dict[str, Any]:
    """``count`` requests from ``concurrency`` loops; latency per request, rate overall."""
    latencies: list[float] = []
    failures = 0
    queue = iter(range(count))

    async def loop() -> None:
        nonlocal failures
        for n in queue:
            started = time.perf_counter()
            response = await request(n)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "requests": count,
        "failures": failures,
        "per_second": count / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "seconds": elapsed,
        "latencies": latencies,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from cryptography.fernet import Fernet
    from sqlalchemy import func, select, text

    from sandbox.registry import JiraHandle
    from sync.engine.connections import add_connection
    from sync.engine.runner import run_sync
    from sync.model import SyncKind, Tool
    from sync.settings import Settings
    from sync.store import keys
    from sync.store import tables as t
    from sync.store.crypto import SecretBox
    from sync.store.database import make_engine, session_factory, unit_of_work
    from sync.store.inbox_tables import WebhookDelivery
    from sync.store.migrate import upgrade

    workdir = Path(tempfile.mkdtemp(prefix="pmbridge-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    secret_key = Fernet.generate_key().decode()

    # The vendor in its own process; a local copy with the same seed builds the deliveries.
    jira = JiraHandle(items=args.issues)
    sim_port = free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    vendor_process = start("--simulate", "--port", str(sim_port), "--issues", str(args.issues))
    vendor = httpx.AsyncClient(base_url=sim_url, timeout=30)
    for _ in range(300):
        try:
            if (await vendor.get("/bench/titles")).status_code == 200:
                break
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)

    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    blob = "BYTEA" if engine.dialect.name == "postgresql" else "BLOB"
    key_type = "BIGSERIAL" if engine.dialect.name == "postgresql" else "INTEGER"
    with engine.begin() as connection:
        connection.execute(
            text(f"CREATE TABLE bench_floor (id {key_type} PRIMARY KEY, body {blob} NOT NULL)")
        )
    settings = Settings(database_url=url, secret_key=secret_key)
    sessions = session_factory(engine)
    box = SecretBox(secret_key.encode())
    from sync.engine.runner import SyncEnvironment

    env = SyncEnvironment(sessions=sessions, box=box, settings=settings)
    now = datetime.now(UTC)
    with unit_of_work(sessions) as session:
        connection_id = add_connection(
            session,
            box,
            name="bench-jira",
            tool=Tool.JIRA,
            base_url=sim_url,
            credentials={**jira.credentials, "webhook_secret": SECRET},
            options={
                "rate_limit": {"requests": 2000, "per_seconds": 1},
                "sync_every_minutes": 0,
                "census_every_hours": 0,
            },
            now=now,
        ).id
        _row, read_key = keys.create_key(session, name="bench", scopes=["read"], now=now)
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    print(f"synced {summary.fetched} records from the simulator ({summary.status.value})")

    port = free_port()
    server = start(
        "--serve",
        "--port",
        str(port),
        PMBRIDGE_DATABASE_URL=url,
        PMBRIDGE_SECRET_KEY=secret_key,
    )
    base = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=args.concurrency + 4)
    try:
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
            for _ in range(300):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            issues = jira.work_item_ids()[: args.pool]
            # Every delivery is built before the clock starts (a new vendor timestamp each, so
            # each is a new delivery); the floor posts the same bodies. Both loops then do the
            # same client-side work, except the renames of the sampled deliveries.
            total = args.deliveries + 200
            prepared = []
            for n in range(total):
                issue = issues[n % len(issues)]
                jira.touch_item(issue, title=f"bench {n}")
                prepared.append((issue, jira.delivery(issue, secret=SECRET, url="")))

            async def floor_request(n: int) -> httpx.Response:
                return await client.post("/bench/floor", content=prepared[n][1].body)

            sent_at: dict[int, tuple[str, float]] = {}
            visible_after: dict[int, float] = {}
            offset = [0]

            async def webhook_request(n: int) -> httpx.Response:
                n += offset[0]
                issue, delivery = prepared[n]
                sampled = n % args.sample_every == 0
                if sampled:  # a change in the tool, which this delivery announces
                    await vendor.post(
                        "/bench/rename", params={"issue": issue, "title": f"bench {n}"}
                    )
                response = await client.post(
                    f"/webhooks/{connection_id}", content=delivery.body, headers=delivery.headers
                )
                if sampled:
                    sent_at[n] = (issue, time.perf_counter())
                return response

            stop_polling = asyncio.Event()

            async def watch_commits() -> None:
                """Under load, watch the database the API reads (a committed row is what
                /v1/items returns) instead of loading the server with polls of its own."""
                while not stop_polling.is_set():
                    since = datetime.now(UTC) - timedelta(seconds=2)
                    with sessions() as session:
                        rows = session.execute(
                            select(t.WorkItem.vendor_id, t.WorkItem.title).where(
                                t.WorkItem.recorded_at >= since
                            )
                        ).all()
                    seen = time.perf_counter()
                    shown = {
                        vendor_id: int(title.split()[1])
                        for vendor_id, title in rows
                        if title.startswith("bench ")
                    }
                    for n, (issue, _at) in list(sent_at.items()):
                        if n not in visible_after and shown.get(issue, -1) >= n:
                            visible_after[n] = seen
                    await asyncio.sleep(args.poll_ms / 1000)

            async def drain() -> float:
                """Seconds until no delivery is pending or being applied."""
                started = time.monotonic()
                while time.monotonic() - started < args.drain_seconds:
                    with sessions() as session:
                        waiting = session.scalar(
                            select(func.count())
                            .select_from(WebhookDelivery)
                            .where(WebhookDelivery.state.in_(["pending", "processing"]))
                        )
                    if not waiting:
                        break
                    await asyncio.sleep(0.1)
                return time.monotonic() - started

            # Warm both paths up (imports, caches, connections), then alternate floor and
            # webhook rounds so a noisy neighbour on the machine hits both alike.
            await phase(client, 100, args.concurrency, floor_request)
            await phase(client, 200, args.concurrency, webhook_request)
            await drain()
            offset[0] = 200
            sent_at.clear()
            watcher = asyncio.create_task(watch_commits())
            per_round = args.deliveries // args.rounds
            floors, hooks = [], []
            floor_cpu: list[float] = []
            hook_cpu: list[float] = []
            for round_ in range(args.rounds):
                floor_offset = round_ * per_round

                async def floor_round(n: int, base: int = floor_offset) -> httpx.Response:
                    return await floor_request(base + n)

                # The worker finishes the last round's deliveries first: applying them is
                # pmbridge's cost, which the floor's round must not be charged with.
                await drain()
                cpu = cpu_seconds(server.pid)
                floors.append(await phase(client, per_round, args.concurrency, floor_round))
                floor_cpu.append(cpu_seconds(server.pid) - cpu)
                cpu = cpu_seconds(server.pid)
                hooks.append(await phase(client, per_round, args.concurrency, webhook_request))
                offset[0] += per_round
                if round_ < args.rounds - 1:
                    await drain()  # the applying is the webhooks' cost
                    hook_cpu.append(cpu_seconds(server.pid) - cpu)

            # Every delivery applied: nothing left pending, every issue at the vendor's title.
            drained = await drain()
            hook_cpu.append(cpu_seconds(server.pid) - cpu)
            await asyncio.sleep(0.2)
            stop_polling.set()
            await watcher

            # Receipt to visible through the API itself, one delivery at a time.
            api_delays = []
            headers = {"Authorization": f"Bearer {read_key}"}
            for k in range(args.api_samples):
                issue = issues[k % len(issues)]
                n = total + k
                await vendor.post("/bench/rename", params={"issue": issue, "title": f"bench {n}"})
                jira.touch_item(issue, title=f"bench {n}")
                delivery = jira.delivery(issue, secret=SECRET, url="")
                since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
                await client.post(
                    f"/webhooks/{connection_id}", content=delivery.body, headers=delivery.headers
                )
                received = time.perf_counter()
                while time.perf_counter() - received < 10:
                    page = await client.get(
                        "/v1/items", params={"updated_since": since}, headers=headers
                    )
                    if any(i["title"] == f"bench {n}" for i in page.json()["data"]):
                        api_delays.append((time.perf_counter() - received) * 1000)
                        break
                    await asyncio.sleep(0.005)
            sent_total = total + args.api_samples
        expected = (await vendor.get("/bench/titles")).json()
    finally:
        server.terminate()
        server.wait(timeout=60)
        await vendor.aclose()
        vendor_process.terminate()
        vendor_process.wait(timeout=60)

    with sessions() as session:
        by_state: dict[str, int] = {
            str(row[0]): int(row[1])
            for row in session.execute(
                select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)
            )
        }
        titles: dict[str, str] = {
            str(row[0]): str(row[1])
            for row in session.execute(
                select(t.WorkItem.vendor_id, t.WorkItem.title).where(
                    t.WorkItem.vendor_id.in_(issues)
                )
            )
        }
    stale = sorted(i for i in issues if titles.get(i) != expected[i])
    delays = [
        (visible_after[n] - sent) * 1000 for n, (_i, sent) in sent_at.items() if n in visible_after
    ]
    floor, webhooks = merge(floors), merge(hooks)
    return {
        "floor": floor,
        "webhooks": webhooks,
        "ratio": webhooks["per_second"] / floor["per_second"],
        "round_ratios": [
            h["per_second"] / f["per_second"] for f, h in zip(floors, hooks, strict=True)
        ],
        "stored": sum(by_state.values()),
        "states": by_state,
        "sent": sent_total,
        "stale_issues": len(stale),
        "drain_seconds": drained,
        "visible_samples": len(delays),
        "samples": len(sent_at),
        "visible_p50_ms": percentile(delays, 0.5),
        "visible_p99_ms": percentile(delays, 0.99),
        "visible_max_ms": max(delays) if delays else float("nan"),
        "visible_mean_ms": statistics.fmean(delays) if delays else float("nan"),
        "api_visible_samples": len(api_delays),
        "api_visible_p50_ms": percentile(api_delays, 0.5),
        "api_visible_p99_ms": percentile(api_delays, 0.99),
        "database": engine.dialect.name,
        # Server CPU (all threads) per request: a steadier figure than the rates on a busy
        # machine, for comparing changes; the targets are the rates.
        "floor_cpu_us": sum(floor_cpu) / floor["requests"] * 1e6 if floor_cpu else None,
        "webhook_cpu_us": sum(hook_cpu) / webhooks["requests"] * 1e6 if hook_cpu else None,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def merge(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [x for r in rounds for x in r["latencies"]]
    seconds = sum(r["seconds"] for r in rounds)
    count = sum(r["requests"] for r in rounds)
    return {
        "requests": count,
        "failures": sum(r["failures"] for r in rounds),
        "per_second": count / seconds,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "seconds": seconds,
    }


def report(result: dict[str, Any]) -> bool:
    floor, hooks = result["floor"], result["webhooks"]
    applied = result["states"].get("done", 0)
    every = (
        applied == result["sent"] == result["stored"]
        and result["stale_issues"] == 0
        and not hooks["failures"]
    )
    checks = [
        ("rate >= 60% of floor", result["ratio"] >= 0.60),
        ("p99 < 50 ms", hooks["p99_ms"] < 50),
        ("every delivery applied", every),
    ]
    print(f"\nwebhook ingestion on {result['database']}")
    print(f"{'':24}{'per second':>12}{'p50 ms':>10}{'p99 ms':>10}{'failures':>10}")
    for name, numbers in (("floor (raw insert)", floor), ("pmbridge webhooks", hooks)):
        print(
            f"{name:24}{numbers['per_second']:12.0f}{numbers['p50_ms']:10.2f}"
            f"{numbers['p99_ms']:10.2f}{numbers['failures']:10.0f}"
        )
    print(f"ratio: {result['ratio']:.0%} of the floor")
    print(
        f"applied: {applied} of {result['sent']} sent ({result['states']}); "
        f"{result['stale_issues']} issues behind the simulator; "
        f"inbox drained {result['drain_seconds']:.1f} s after the last delivery"
    )
    print(
        f"receipt -> committed (what /v1/items reads), under load "
        f"({result['visible_samples']}/{result['samples']} samples): "
        f"p50 {result['visible_p50_ms']:.0f} ms, p99 {result['visible_p99_ms']:.0f} ms, "
        f"max {result['visible_max_ms']:.0f} ms"
    )
    print(
        f"receipt -> visible through GET /v1/items, one at a time "
        f"({result['api_visible_samples']} samples): p50 {result['api_visible_p50_ms']:.0f} ms, "
        f"p99 {result['api_visible_p99_ms']:.0f} ms"
    )
    print("ratio per round: " + ", ".join(f"{r:.0%}" for r in result["round_ratios"]))
    if result["floor_cpu_us"] is not None:
        print(
            f"server CPU per request: floor {result['floor_cpu_us']:.0f} us, webhook "
            f"{result['webhook_cpu_us']:.0f} us (receiving and applying it)"
        )
    for name, ok in checks:
        print(f"  {verdict(ok)}  {name}")
    print(json.dumps(result, default=str))
    return all(ok for _name, ok in checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--issues", type=int, default=500, help="issues in the simulator")
    parser.add_argument("--pool", type=int, default=200, help="issues the deliveries rename")
    parser.add_argument("--sample-every", type=int, default=10)
    parser.add_argument("--poll-ms", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=4, help="alternating floor/webhook rounds")
    parser.add_argument("--api-samples", type=int, default=30)
    parser.add_argument("--drain-seconds", type=float, default=120.0)
    parser.add_argument(
        "--database-url", help="default: a new SQLite file; a PostgreSQL URL is reset first!"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--simulate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port)
        return
    if args.simulate:
        simulate(args.port, args.issues)
        return
    ok = report(asyncio.run(run(args)))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
