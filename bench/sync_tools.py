"""Full sync of each simulated tool into SQLite over real loopback HTTP, against a floor.

    python bench/sync_tools.py [--items 50000] [--tools trello,asana,worktile,pingcode]

For each tool: pmbridge's `run_sync(FULL)` (one interpreter), then the floor (another
interpreter): the exact GET requests pmbridge made, replayed with a plain httpx client,
decoding JSON and `executemany`-inserting every listed object's raw JSON into SQLite. Same
pages, same simulator process, no validation, mapping or history.

Issues 3 and 4 ask for the figures, not a threshold: items/s against the floor, and
requests against the least the vendor's page size allows for the work-item pages alone
(Asana adds one request per task with subtasks, which its API requires).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import ROOT, free_port, measure, peak_rss_mb

#: Items per list page each simulator serves at most (from the vendors' docs), to compute
#: the least number of requests a full sync can make. Trello lists cards in one request.
PAGE_SIZE = {"jira": 100, "trello": 0, "asana": 100, "worktile": 100, "pingcode": 100}


def _start(tool: str, items: int) -> tuple[Any, str]:
    import subprocess

    port = free_port()
    code = (
        "from sandbox.registry import SERVERS; from sync.model import Tool; "
        f"SERVERS[Tool({tool!r})](host='127.0.0.1', port={port}, items={items}, seed=7)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{tool} simulator exited: {process.stderr!r}")
        try:
            httpx.get(base + "/", timeout=1)
            return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{tool} simulator did not start")


def pmbridge(tool: str, base_url: str, database: Path, log: Path) -> dict[str, float]:
    from datetime import UTC, datetime

    from cryptography.fernet import Fernet

    from sandbox.registry import SIMULATORS
    from sync.engine.connections import add_connection
    from sync.engine.runner import SyncEnvironment, run_sync
    from sync.model import SyncKind, Tool
    from sync.runtime import tune_garbage_collector
    from sync.settings import Settings
    from sync.store.crypto import SecretBox
    from sync.store.database import make_engine, session_factory, unit_of_work
    from sync.store.migrate import upgrade

    handle = SIMULATORS[Tool(tool)](items=1)  # only for its credentials, scope and options
    requests: list[dict[str, Any]] = []
    original = httpx.AsyncClient.send

    async def recording_send(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> Any:
        response = await original(self, request, **kw)
        if request.method == "GET":
            requests.append({"url": str(request.url), "headers": dict(request.headers)})
        return response

    httpx.AsyncClient.send = recording_send  # type: ignore[method-assign]
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    sessions = session_factory(engine)
    box = SecretBox(Fernet.generate_key())
    with unit_of_work(sessions) as session:
        connection_id = add_connection(
            session,
            box,
            name="bench",
            tool=Tool(tool),
            base_url=base_url,
            credentials=dict(handle.credentials),
            scope=handle.scope,
            options={**handle.options, "rate_limit": {"requests": 100_000, "per_seconds": 1}},
            now=datetime.now(UTC),
        ).id
    env = SyncEnvironment(sessions=sessions, box=box, settings=Settings())
    tune_garbage_collector()  # as `pmbridge sync` and the worker do at start-up
    started = time.perf_counter()
    summary = asyncio.run(run_sync(env, connection_id, SyncKind.FULL))
    seconds = time.perf_counter() - started
    if summary.status.value != "succeeded":
        raise SystemExit(f"sync failed: {summary.errors}")
    log.write_text(json.dumps(requests))
    return {
        "items": float(summary.fetched),
        "seconds": seconds,
        "requests": float(summary.requests),
        "rss_mb": peak_rss_mb(),
    }


def _objects(body: Any) -> list[Any]:
    """The first list of objects in a page body: the page's records."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, list) and (not value or isinstance(value[0], dict)):
                return value
    return []


def floor(database: Path, log: Path) -> dict[str, float]:
    calls = json.loads(log.read_text())
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE record (n INTEGER PRIMARY KEY, raw TEXT)")
    items = 0
    started = time.perf_counter()
    with httpx.Client(timeout=60) as client:
        for call in calls:
            body = json.loads(client.get(call["url"], headers=call["headers"]).content)
            rows = [(json.dumps(o),) for o in _objects(body)]
            with connection:
                connection.executemany("INSERT INTO record (raw) VALUES (?)", rows)
            items += len(rows)
    seconds = time.perf_counter() - started
    return {"items": items, "seconds": seconds, "requests": len(calls), "rss_mb": peak_rss_mb()}


def run(tools: list[str], items: int) -> int:
    script = Path(__file__)
    print(f"Full sync, {items:,} work items per tool, loopback HTTP, SQLite")
    print(f"{'tool':10}{'':10}{'items/s':>9}{'seconds':>9}{'requests':>10}{'peak RSS':>10}")
    for tool in tools:
        process, base_url = _start(tool, items)
        try:
            with tempfile.TemporaryDirectory() as folder:
                log = Path(folder) / "requests.json"
                args = ["--tool", tool, "--base-url", base_url, "--log", str(log)]
                ours = measure(script, "pmbridge", args)
                base = measure(script, "floor", args)
        finally:
            process.terminate()
            process.wait(timeout=10)
        for label, figures in (("floor", base), ("pmbridge", ours)):
            rate = figures["items"] / figures["seconds"]
            print(
                f"{tool:10}{label:10}{rate:>9,.0f}{figures['seconds']:>9.1f}"
                f"{figures['requests']:>10.0f}{figures['rss_mb']:>8.0f}MB"
            )
        ratio = (ours["items"] / ours["seconds"]) / (base["items"] / base["seconds"])
        page = PAGE_SIZE.get(tool, 0)
        minimum = -(-items // page) if page else 1
        print(
            f"  {tool}: items/s {ratio:.0%} of the floor; requests {ours['requests']:.0f}, "
            f"work-item pages alone need {minimum}"
        )
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--tools", default="trello,asana,worktile,pingcode")
    parser.add_argument("--scenario", choices=["floor", "pmbridge"])
    parser.add_argument("--tool")
    parser.add_argument("--base-url")
    parser.add_argument("--log", type=Path)
    args = parser.parse_args()
    if args.scenario:
        with tempfile.TemporaryDirectory() as folder:
            database = Path(folder) / "bench.db"
            if args.scenario == "pmbridge":
                result = pmbridge(args.tool, args.base_url, database, args.log)
            else:
                result = floor(database, args.log)
        print(json.dumps(result))
        return
    raise SystemExit(run([t for t in args.tools.split(",") if t], args.items))


if __name__ == "__main__":
    main()
