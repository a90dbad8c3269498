"""Retry-After parsing: delta-seconds and HTTP dates, per RFC 9110 §10.2.3."""

from datetime import UTC, datetime

import pytest

from sync.http.retry import parse_retry_after, retry_after_from_headers

NOW = datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-3", 0.0),
        ("Fri, 20 Nov 2026 09:00:30 GMT", 30.0),
        ("Fri, 20 Nov 2026 08:59:00 GMT", 0.0),
        ("", None),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_accepts_seconds_and_http_dates(
    value: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_vendor_specific_headers_are_read_in_declared_order() -> None:
    headers = {"x-pc-retry-after": "12", "Retry-After": "3"}
    assert retry_after_from_headers(headers, ("x-pc-retry-after", "Retry-After"), NOW) == 12
    assert (
        retry_after_from_headers({"Retry-After": "3"}, ("x-pc-retry-after", "Retry-After"), NOW)
        == 3
    )
    assert retry_after_from_headers({}, ("Retry-After",), NOW) is None
