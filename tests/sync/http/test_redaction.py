"""Secrets in query strings never reach a log line."""

from __future__ import annotations

import logging

import httpx

from sync.http.redaction import RedactSecrets, redact_url


def test_secret_parameters_are_masked_and_the_rest_kept() -> None:
    url = "https://api.trello.com/1/boards/b1?key=k3y&token=t0k&fields=name"
    assert redact_url(url) == "https://api.trello.com/1/boards/b1?key=***&token=***&fields=name"
    plain = "https://open.pingcode.com/v1/project/projects?page_index=0"
    assert redact_url(plain) == plain


def test_the_httpx_log_filter_rewrites_url_arguments() -> None:
    url = httpx.URL("https://x.test/v1/auth/token?client_id=app&client_secret=s3cret")
    record = logging.LogRecord("httpx", logging.INFO, "", 0, "HTTP Request: %s", (url,), None)
    assert RedactSecrets().filter(record)
    assert "s3cret" not in record.getMessage()
    assert "client_id=app" in record.getMessage()


def test_the_filter_is_installed_by_the_shared_client() -> None:
    import sync.http.client  # noqa: F401 - importing installs the filter

    assert any(isinstance(f, RedactSecrets) for f in logging.getLogger("httpx").filters)
