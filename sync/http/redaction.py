"""Keeping secrets that travel in URLs (Trello's key/token, token endpoints' client secrets)
out of logs: httpx logs every request's full URL at INFO."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

#: Query parameters whose values are credentials in some vendor's API.
SECRET_PARAMS = frozenset(
    {"key", "token", "api_token", "access_token", "refresh_token", "client_secret", "secret"}
)


def redact_url(url: str) -> str:
    """``url`` with the values of secret query parameters replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(name in SECRET_PARAMS for name, _ in pairs):
        return url
    query = urlencode([(n, "***" if n in SECRET_PARAMS else v) for n, v in pairs], safe="*")
    return urlunsplit(parts._replace(query=query))


class RedactSecrets(logging.Filter):
    """Rewrites URL arguments of log records before any handler formats them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                redact_url(str(a)) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


def install() -> None:
    """Attach the filter to httpx's logger once per process."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactSecrets) for f in httpx_logger.filters):
        httpx_logger.addFilter(RedactSecrets())
