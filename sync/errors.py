"""One error tree, grouped by what the caller should do next.

Every error carries structured fields (``details``) so the engine can record it on a sync run
and the API can turn it into a response in one place without parsing messages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class PmbridgeError(Exception):
    """Root of every error pmbridge raises on purpose."""

    #: What an operator should do next, in a few words; shown in sync runs and API errors.
    action: str = "see the message"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": type(self).__name__,
            "message": self.message,
            "action": self.action,
            **{k: _jsonable(v) for k, v in self.details.items()},
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class ConfigurationError(PmbridgeError):
    """The service or a connection is configured in a way that cannot work."""

    action = "fix the configuration named in the message"


class InsecureBaseUrl(ConfigurationError):
    """Credentials would cross a network in clear text."""

    action = "use an https:// base URL (plain http is only for loopback simulators)"


class NotFound(PmbridgeError):
    action = "check the identifier"


class Conflict(PmbridgeError):
    action = "choose another name or update the existing record"


class InvalidRequest(PmbridgeError):
    """A client sent something we can name precisely as wrong."""

    action = "correct the request"


class SyncError(PmbridgeError):
    """Anything that stops or degrades a sync."""


class VendorError(SyncError):
    """The vendor answered in a way that stops this request."""

    def __init__(self, message: str, *, tool: str, endpoint: str, **details: Any) -> None:
        super().__init__(message, tool=tool, endpoint=endpoint, **details)
        self.tool = tool
        self.endpoint = endpoint


class RateLimited(VendorError):
    action = "wait until retry_at, then resume; the connection is throttled until then"

    def __init__(
        self, message: str, *, tool: str, endpoint: str, retry_at: datetime | None
    ) -> None:
        super().__init__(message, tool=tool, endpoint=endpoint, retry_at=retry_at)
        self.retry_at = retry_at


class VendorUnavailable(VendorError):
    action = "the vendor is down or unreachable; the sync will be retried later"


class CredentialsRejected(VendorError):
    action = "a person must reconnect: update the connection's credentials"


class AccessLost(VendorError):
    """A scoped resource (a project, a board) became invisible to our credentials."""

    action = "grant the connection access again, or remove the resource from its scope"


class ContractBroken(VendorError):
    """A vendor page failed validation: nothing from it is stored, the cursor stays."""

    action = "report to the pmbridge maintainers; the page is skipped and the cursor kept"


class WebhookRejected(SyncError):
    action = "check the webhook secret configured in the tool"


class MappingProblem(SyncError):
    """One record could not be mapped; the rest of the page continues."""

    action = "check the record named; it was skipped"
