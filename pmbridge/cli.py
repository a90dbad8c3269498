"""``pmbridge``: serve, migrate, connect tools, sync, manage keys, run simulators and the demo."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Annotated

import typer
from rich.console import Console

from api.services import Services
from sync.engine.connections import add_connection
from sync.engine.runner import RunSummary, run_sync
from sync.errors import PmbridgeError
from sync.model import SyncKind, Tool
from sync.runtime import tune_garbage_collector
from sync.settings import Settings
from sync.store import connections as connection_store
from sync.store import keys
from sync.store.database import unit_of_work
from sync.store.migrate import upgrade

app = typer.Typer(no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False)
connections_app = typer.Typer(no_args_is_help=True, help="Connections to PM tools.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys for the REST API.")
app.add_typer(connections_app, name="connections")
app.add_typer(keys_app, name="keys")

console = Console(stderr=True)

#: CLI flag -> credential field, per the connectors' ``check_credentials``.
CREDENTIAL_FLAGS = (
    "email",
    "api_token",
    "access_token",
    "key",
    "token",
    "client_id",
    "client_secret",
    "webhook_secret",
)


def _configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _services(*, migrate: bool = False) -> Services:
    services = Services.build(Settings())
    if migrate or services.engine.dialect.name == "sqlite":
        # The embedded default migrates itself; PostgreSQL deployments run `pmbridge migrate`.
        upgrade(services.engine)
    tune_garbage_collector()  # as every command that opens the database does, imports done
    return services


def _fail(error: PmbridgeError) -> typer.Exit:
    console.print(f"[red]error:[/red] {error.message}")
    console.print(f"[dim]next: {error.action}[/dim]")
    return typer.Exit(code=1)


@app.command()
def migrate() -> None:
    """Apply database migrations (PMBRIDGE_DATABASE_URL)."""
    _configure_logging()
    try:
        _services(migrate=True)
    except PmbridgeError as error:
        raise _fail(error) from None
    console.print("database is at the latest migration")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="API only; run `pmbridge worker` processes")
    ] = False,
) -> None:
    """Serve the REST and admin API, with a background worker in-process (webhook
    deliveries and scheduled syncs) unless --no-worker."""
    import uvicorn

    from api.app import create_app
    from sync.engine.worker import Worker, WorkerThread

    _configure_logging()
    try:
        services = _services()
    except PmbridgeError as error:
        raise _fail(error) from None
    api = create_app(services)
    settings = services.settings.worker
    api.state.worker_settings = settings
    thread = None
    if not no_worker:
        background = Worker(services.sync, settings)
        api.state.on_delivery = background.wake  # a delivery is applied without waiting a poll
        thread = WorkerThread(background)
        thread.start()
    try:
        uvicorn.run(api, host=host, port=port, log_level="info")
    finally:
        if thread is not None:
            thread.stop()


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="do what is due now, then exit")] = False,
    concurrency: Annotated[
        int | None, typer.Option(help="connections worked on at once (PMBRIDGE_WORKER_*)")
    ] = None,
) -> None:
    """Run a worker alone: apply webhook deliveries and poll connections on their schedules.
    On PostgreSQL run as many as you like; leases give each connection to one at a time.
    SIGINT/SIGTERM stop it gracefully (a running sync gets a grace period)."""
    import signal

    from sync.engine.worker import Worker

    _configure_logging()
    try:
        services = _services()
        settings = services.settings.worker
        if concurrency is not None:
            settings = settings.model_copy(update={"concurrency": max(concurrency, 1)})
    except PmbridgeError as error:
        raise _fail(error) from None
    background = Worker(services.sync, settings)

    async def run() -> None:
        if once:
            report = await background.run_once()
            console.print(
                f"worker {background.owner}: {len(report.connections)} connections, "
                f"{report.applied} deliveries applied, {report.retried} retried, "
                f"{report.dead} dead, {len(report.runs)} syncs"
            )
            return
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, background.stop)
        console.print(f"worker {background.owner} running; Ctrl-C stops it")
        await background.run()

    asyncio.run(run())


@connections_app.command("add")
def connections_add(
    tool: Annotated[Tool, typer.Argument(help="which PM tool")],
    name: Annotated[str, typer.Option(help="a name to refer to this connection by")],
    base_url: Annotated[str | None, typer.Option(help="https site URL (Jira: your site)")] = None,
    email: Annotated[str | None, typer.Option(help="Jira: the account's e-mail")] = None,
    api_token: Annotated[str | None, typer.Option(help="Jira: API token; - reads stdin")] = None,
    access_token: Annotated[str | None, typer.Option(help="OAuth/PAT bearer token")] = None,
    key: Annotated[str | None, typer.Option(help="Trello: API key")] = None,
    token: Annotated[str | None, typer.Option(help="Trello: token; - reads stdin")] = None,
    client_id: Annotated[str | None, typer.Option(help="Worktile/PingCode client id")] = None,
    client_secret: Annotated[str | None, typer.Option(help="client secret; - reads stdin")] = None,
    webhook_secret: Annotated[
        str | None, typer.Option(help="secret webhooks are signed with")
    ] = None,
    scope: Annotated[str, typer.Option(help="comma-separated project keys; empty = all")] = "",
    estimate_field: Annotated[str | None, typer.Option(help="field that holds estimates")] = None,
) -> None:
    """Add a connection; credentials are encrypted at rest and never shown again."""
    given = {
        "email": email,
        "api_token": api_token,
        "access_token": access_token,
        "key": key,
        "token": token,
        "client_id": client_id,
        "client_secret": client_secret,
        "webhook_secret": webhook_secret,
    }
    credentials = {}
    for field in CREDENTIAL_FLAGS:
        value = given[field]
        if value == "-":
            value = sys.stdin.readline().strip()
        if value:
            credentials[field] = value
    options = {"estimate_field": estimate_field} if estimate_field else {}
    try:
        services = _services()
        with unit_of_work(services.sessions) as session:
            connection = add_connection(
                session,
                services.box,
                name=name,
                tool=tool,
                base_url=base_url,
                credentials=credentials,
                scope=[s for s in scope.split(",") if s.strip()],
                options=options,
                now=services.clock(),
            )
            console.print(f"added connection {connection.id} {connection.name!r} ({tool.value})")
    except PmbridgeError as error:
        raise _fail(error) from None


@connections_app.command("list")
def connections_list() -> None:
    """List connections and their state (never their credentials)."""
    services = _services()
    with services.sessions() as session:
        for c in connection_store.list_connections(session):
            last = c.last_success_at.isoformat() if c.last_success_at else "never"
            typer.echo(f"{c.id}\t{c.name}\t{c.tool}\t{c.state}\t{c.base_url}\tlast sync: {last}")


def print_summary(summary: RunSummary) -> None:
    colour = "green" if summary.status.value == "succeeded" else "red"
    console.print(
        f"[{colour}]{summary.kind.value} sync {summary.status.value}[/{colour}]: "
        f"{summary.fetched} fetched, {summary.upserted} written, {summary.unchanged} unchanged, "
        f"{summary.deleted} deleted, {summary.access_lost} access lost; "
        f"{summary.pages} pages, {summary.requests} requests (run {summary.run_id})"
    )
    for error in summary.errors:
        console.print(f"[red]  {error['type']}:[/red] {error['message']}")
        console.print(f"[dim]  next: {error['action']}[/dim]")


@app.command()
def sync(
    connection: Annotated[str, typer.Argument(help="connection name or id")],
    full: Annotated[bool, typer.Option("--full", help="re-read everything")] = False,
    census: Annotated[bool, typer.Option("--census", help="find deletions by id")] = False,
) -> None:
    """Sync one connection: incremental by default."""
    from pmbridge.progress import SyncProgress

    if full and census:
        raise typer.BadParameter("choose --full or --census, not both")
    kind = SyncKind.FULL if full else SyncKind.CENSUS if census else SyncKind.INCREMENTAL
    _configure_logging()
    try:
        services = _services()
        with SyncProgress(console) as progress:
            services.sync.on_progress = progress.update
            summary = asyncio.run(run_sync(services.sync, connection, kind))
    except PmbridgeError as error:
        raise _fail(error) from None
    print_summary(summary)
    if summary.status.value != "succeeded":
        raise typer.Exit(code=1)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="who or what uses the key")],
    scope: Annotated[list[str], typer.Option(help="read, write or admin (repeatable)")],
) -> None:
    """Create an API key. The key is printed once, as the last line."""
    try:
        services = _services()
        with unit_of_work(services.sessions) as session:
            row, plaintext = keys.create_key(session, name=name, scopes=scope, now=services.clock())
            console.print(f"created key {row.name!r} with scopes {', '.join(row.scopes)}")
    except PmbridgeError as error:
        raise _fail(error) from None
    typer.echo(plaintext)


@keys_app.command("list")
def keys_list() -> None:
    """List keys by name, prefix and scopes (never the keys)."""
    services = _services()
    with services.sessions() as session:
        for row in keys.list_keys(session):
            state = "revoked" if row.revoked_at else "active"
            typer.echo(f"{row.name}\t{row.prefix}…\t{','.join(row.scopes)}\t{state}")


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument()]) -> None:
    """Revoke a key by name."""
    services = _services()
    with unit_of_work(services.sessions) as session:
        if not keys.revoke_key(session, name, now=services.clock()):
            raise typer.BadParameter(f"no active key named {name!r}")
    console.print(f"revoked {name!r}")


@keys_app.command("secret")
def keys_secret() -> None:
    """Print a new PMBRIDGE_SECRET_KEY (for PostgreSQL deployments)."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


@app.command()
def sandbox(
    tool: Annotated[Tool, typer.Argument(help="which vendor to simulate")],
    port: Annotated[int, typer.Option()] = 8101,
    issues: Annotated[int, typer.Option(help="how many work items to generate")] = 5000,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Run a vendor simulator on loopback (its credentials are in the README)."""
    from sandbox.registry import SERVERS

    if tool not in SERVERS:
        raise typer.BadParameter(f"no simulator for {tool.value} yet")
    SERVERS[tool](host="127.0.0.1", port=port, items=issues, seed=seed)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="API port")] = 8000,
    sandbox_port: Annotated[int, typer.Option(help="Jira simulator port")] = 8101,
    issues: Annotated[int, typer.Option(help="issues in the simulated Jira")] = 2000,
) -> None:
    """The whole product against built-in simulators, on an embedded SQLite database."""
    from pmbridge.demo import run_demo

    _configure_logging()
    tune_garbage_collector()
    run_demo(console, port=port, sandbox_port=sandbox_port, issues=issues)


def main() -> None:  # pragma: no cover - console-script entry
    app()
