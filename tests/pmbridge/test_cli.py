"""The command line, as an administrator uses it: keys, connections, sync, migrate."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pmbridge.cli import app
from pmbridge.demo import BackgroundServer
from sandbox.jira import JiraSimulator
from sync.settings import get_settings

runner = CliRunner()


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    get_settings.cache_clear()
    return {
        "PMBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "PMBRIDGE_SECRET_KEY_FILE": str(tmp_path / "cli.key"),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def jira_port() -> Iterator[int]:
    """A real Jira simulator on a loopback port, for the CLI's real HTTP path."""
    port = free_port()
    server = BackgroundServer(JiraSimulator(issues=60).app, port)
    server.start()
    yield port
    server.server.should_exit = True
    server.thread.join(timeout=5)


def test_keys_create_prints_the_key_last_and_stores_only_its_hash(
    environment: dict[str, str],
) -> None:
    result = runner.invoke(
        app, ["keys", "create", "--name", "bi", "--scope", "read"], env=environment
    )
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("pmb_")
    listed = runner.invoke(app, ["keys", "list"], env=environment)
    assert "bi\t" in listed.stdout
    assert key not in listed.stdout


def test_an_unknown_scope_is_refused(environment: dict[str, str]) -> None:
    result = runner.invoke(
        app, ["keys", "create", "--name", "x", "--scope", "god"], env=environment
    )
    assert result.exit_code == 1
    assert "unknown scope" in result.output


def test_connections_add_never_echoes_the_token(environment: dict[str, str]) -> None:
    result = runner.invoke(
        app,
        [
            "connections",
            "add",
            "jira",
            "--name",
            "sales",
            "--base-url",
            "https://example.atlassian.net",
            "--email",
            "me@example.com",
            "--api-token",
            "s3cr3t",
        ],
        env=environment,
    )
    assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["connections", "list"], env=environment)
    assert "sales\tjira\tactive" in listed.stdout
    assert "s3cr3t" not in result.output + listed.output


def test_plain_http_to_a_network_host_is_refused(environment: dict[str, str]) -> None:
    result = runner.invoke(
        app,
        [
            "connections",
            "add",
            "jira",
            "--name",
            "sales",
            "--base-url",
            "http://jira.example.com",
            "--email",
            "me@example.com",
            "--api-token",
            "t",
        ],
        env=environment,
    )
    assert result.exit_code == 1
    assert "clear text" in result.output


def test_sync_over_real_http_then_incremental_writes_nothing(
    environment: dict[str, str], jira_port: int
) -> None:
    added = runner.invoke(
        app,
        [
            "connections",
            "add",
            "jira",
            "--name",
            "sales",
            "--base-url",
            f"http://127.0.0.1:{jira_port}",
            "--email",
            "demo@example.com",
            "--api-token",
            "demo-token",
        ],
        env=environment,
    )
    assert added.exit_code == 0, added.output
    full = runner.invoke(app, ["sync", "sales", "--full"], env=environment)
    assert full.exit_code == 0, full.output
    assert "full sync succeeded" in full.output
    again = runner.invoke(app, ["sync", "sales"], env=environment)
    assert again.exit_code == 0, again.output
    assert " 0 written" in again.output
    census = runner.invoke(app, ["sync", "sales", "--census"], env=environment)
    assert "0 deleted" in census.output


def test_syncing_an_unknown_connection_says_so(environment: dict[str, str]) -> None:
    result = runner.invoke(app, ["sync", "nope"], env=environment)
    assert result.exit_code == 1
    assert "no connection 'nope'" in result.output


def test_full_and_census_together_are_refused(environment: dict[str, str]) -> None:
    result = runner.invoke(app, ["sync", "x", "--full", "--census"], env=environment)
    assert result.exit_code != 0
