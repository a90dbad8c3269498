"""One settings object: top-level knobs and the sections (worker, risk) from PMBRIDGE_*."""

from __future__ import annotations

import pytest

from sync.settings import Settings


def test_every_section_reads_its_own_prefix_and_top_level_names_still_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PMBRIDGE_WORKER_POLL_SECONDS", "0.25")
    monkeypatch.setenv("PMBRIDGE_WORKER_PUBLIC_URL", "https://pmbridge.example.com")
    monkeypatch.setenv("PMBRIDGE_RISK_DUE_SOON_DAYS", "3")
    monkeypatch.setenv("PMBRIDGE_HTTP_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("PMBRIDGE_API_KEY_CACHE_SECONDS", "0")
    settings = Settings()
    assert settings.worker.poll_seconds == 0.25
    assert settings.worker.public_url == "https://pmbridge.example.com"
    assert settings.risk.due_soon_days == 3
    assert (settings.http_max_attempts, settings.api_key_cache_seconds) == (2, 0)
