"""What every /v1 listing shares: opaque keyset cursors, JSON pages, and CSV for BI tools."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from api.filters import MAX_ID
from sync.errors import InvalidRequest


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after = value["after"]
        if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= MAX_ID:
            raise ValueError("after must be a non-negative integer")
    except (ValueError, KeyError, TypeError):
        raise InvalidRequest(
            "cursor is not one this API issued; pass next_cursor from the previous page",
            field="cursor",
        ) from None
    return after


def wants_csv(request: Request, format_: Format | None) -> bool:
    if format_ is not None:
        return format_ is Format.CSV
    accept = request.headers.get("accept", "")
    return "text/csv" in accept


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    text = str(value)
    # Spreadsheets execute cells starting with these; a vendor title must never run as a formula.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def csv_response(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], *, next_cursor: str | None, name: str
) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    headers = {"Content-Disposition": f'inline; filename="{name}.csv"'}
    if next_cursor:
        headers["X-Next-Cursor"] = next_cursor
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def page_of(
    rows: list[dict[str, Any]], limit: int, convert: Callable[[dict[str, Any]], Any]
) -> tuple[list[Any], str | None]:
    """Trim the look-ahead row and compute the next cursor (``None`` on the last page)."""
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["id"]) if more and rows else None
    return [convert(r) for r in rows], next_cursor
