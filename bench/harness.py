"""Shared plumbing for benchmarks: a simulator in its own process, measurements in their own
processes (so each peak RSS is that scenario's alone), and a printed comparison."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class SimulatorProcess:
    """``python -m sandbox.<module>`` on a free loopback port, until the block ends."""

    def __init__(self, module: str, *args: str, ready_path: str, auth: httpx.Auth) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._command = [sys.executable, "-m", module, "--port", str(self.port), *args]
        self._ready_path = ready_path
        self._auth = auth
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SimulatorProcess:
        self._process = subprocess.Popen(
            self._command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"simulator exited: {self._process.stderr!r}")
            try:
                response = httpx.get(self.base_url + self._ready_path, auth=self._auth, timeout=2)
                if response.status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("simulator did not become ready")

    def __exit__(self, *_exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)


def measure(script: Path, scenario: str, arguments: Sequence[str]) -> dict[str, Any]:
    """Run one scenario in a fresh interpreter and return the JSON line it prints last."""
    result = subprocess.run(
        [sys.executable, str(script), "--scenario", scenario, *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if result.returncode != 0:
        raise RuntimeError(f"{scenario} failed:\n{result.stderr[-3000:]}")
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def peak_rss_mb() -> float:
    import resource

    # ru_maxrss is kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
