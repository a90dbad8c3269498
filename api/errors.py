"""The one place where errors become HTTP responses: ``{"error": {type, message, action, ...}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sync.errors import (
    ConfigurationError,
    Conflict,
    CredentialsRejected,
    InvalidRequest,
    NotFound,
    PmbridgeError,
    RateLimited,
    VendorError,
    WebhookRejected,
)

logger = logging.getLogger("pmbridge.api")

STATUS_BY_ERROR: tuple[tuple[type[PmbridgeError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (InvalidRequest, 422),
    (ConfigurationError, 422),
    (WebhookRejected, 401),
    (RateLimited, 503),
    (CredentialsRejected, 502),
    (VendorError, 502),
)


def status_for(error: PmbridgeError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500


def error_body(kind: str, message: str, **fields: object) -> dict[str, object]:
    return {"error": {"type": kind, "message": message, **fields}}


def _problem(problem: Any) -> dict[str, Any]:
    location = problem["loc"]
    if problem.get("type") == "json_invalid":
        # The location is a character offset into the body, not a field.
        reason = problem.get("ctx", {}).get("error", "")
        return {
            "field": None,
            "location": "body",
            "message": f"the body is not valid JSON (at character {location[-1]}: {reason})",
        }
    return {
        "field": ".".join(str(p) for p in location if p not in ("body", "query")),
        "location": str(location[0]) if location else None,
        "message": problem["msg"],
    }


def install(app: FastAPI) -> None:
    @app.exception_handler(PmbridgeError)
    async def pmbridge_error(_request: Request, error: PmbridgeError) -> JSONResponse:
        status = status_for(error)
        if status >= 500:
            logger.warning("request failed: %s", error)
        return JSONResponse({"error": jsonable_encoder(error.to_dict())}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [_problem(problem) for problem in error.errors()]
        first: dict[str, Any] = problems[0] if problems else {"field": None, "message": "invalid"}
        return JSONResponse(
            error_body(
                "InvalidRequest",
                f"{first['field']}: {first['message']}"
                if first["field"]
                else str(first["message"]),
                action="correct the request",
                problems=problems,
            ),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed"}
        return JSONResponse(
            error_body(kind.get(error.status_code, "HTTPError"), str(error.detail)),
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )
