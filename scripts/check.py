"""What `make test` and CI run: lint, format check, mypy --strict, then pytest on SQLite and
on PostgreSQL. Green here means green in CI.

PostgreSQL: ``PMBRIDGE_TEST_POSTGRES_URL`` (default: the local server's ``pmbridge_test``
database, created if missing). If no server answers, the local cluster is started when this
machine has one; without PostgreSQL the second pass is skipped with a warning, unless
``PMBRIDGE_REQUIRE_POSTGRES=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/pmbridge_test"
TYPED = [
    *("sync", "api", "insights", "sandbox", "pmbridge", "migrations", "tests", "bench", "scripts"),
]


def run(*command: str, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(command), flush=True)
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)  # noqa: S603
    if result.returncode != 0:
        sys.exit(result.returncode)


def postgres_url() -> str | None:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(os.environ.get("PMBRIDGE_TEST_POSTGRES_URL", DEFAULT_PG))
    admin = url.set(database="postgres", drivername="postgresql")
    for attempt in range(2):
        try:
            dsn = admin.render_as_string(hide_password=False)
            with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as connection:
                exists = connection.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)
                ).fetchone()
                if not exists:
                    connection.execute(f'CREATE DATABASE "{url.database}"')
            return url.render_as_string(hide_password=False)
        except psycopg.OperationalError as error:
            if attempt == 0 and start_local_cluster():
                continue
            print(f"PostgreSQL unavailable: {error}".strip(), flush=True)
            return None
    return None


def start_local_cluster() -> bool:
    """Start this machine's cluster (Debian layout) if there is one; True if we tried."""
    ctl = shutil.which("pg_ctlcluster")
    versions = sorted(Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").exists() else []
    if not ctl or not versions:
        return False
    print(f"starting PostgreSQL {versions[-1].name}", flush=True)
    subprocess.run(  # noqa: S603
        [ctl, "--skip-systemctl-redirect", versions[-1].name, "main", "start"], check=False
    )
    time.sleep(2)
    return True


def main() -> None:
    run(str(BIN / "ruff"), "check", ".")
    run(str(BIN / "ruff"), "format", "--check", ".")
    run(str(BIN / "mypy"), "--strict", *TYPED)
    run(str(BIN / "pytest"), "-q", "-p", "no:cacheprovider")
    url = postgres_url()
    if url is None:
        if os.environ.get("PMBRIDGE_REQUIRE_POSTGRES") == "1":
            print("PostgreSQL is required (PMBRIDGE_REQUIRE_POSTGRES=1) but unavailable")
            sys.exit(1)
        print("WARNING: skipped the PostgreSQL pass; set PMBRIDGE_TEST_POSTGRES_URL to run it")
        return
    env = {**os.environ, "PMBRIDGE_TEST_DATABASE_URL": url, "PMBRIDGE_TEST_DB_ONLY": "1"}
    run(str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", env=env)


if __name__ == "__main__":
    main()
