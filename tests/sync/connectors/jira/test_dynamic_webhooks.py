"""Jira dynamic webhooks through the connector (respx): registering, refreshing, listing and
deleting them with the exact requests the spec describes, answers validated at the edge, and
the Bearer JWT their deliveries carry verified beside the admin webhooks' X-Hub-Signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
import respx

from sync.connectors.base import ConnectionConfig, ExpiringWebhooks, WebhookRequest
from sync.connectors.jira.connector import JWT_LEEWAY, WEBHOOK_EVENTS, JiraConnector
from sync.errors import ContractBroken, InvalidRequest, WebhookRejected
from sync.http.client import VendorClient, VendorRejected
from sync.http.retry import RetryPolicy
from tests.fakes import FakeClock, FakeSleep

CLOUD = "https://api.atlassian.com/ex/jira/7f3c1d2e-0000-4b5a-9c8d-112233445566"
CLIENT_SECRET = "oauth-app-client-secret-0123456789abcdef"
WEBHOOK_SECRET = "admin-webhook-secret-0123456789abcdef"
CREDENTIALS = {"access_token": "oauth-access-token", "client_secret": CLIENT_SECRET}
RECEIVER = "https://pmbridge.example.com/webhooks/7"
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def connector(
    sleep: FakeSleep, clock: FakeClock, *, scope: tuple[str, ...] = ("CRM", "PIPE"), **options: Any
) -> JiraConnector:
    config = ConnectionConfig(base_url=CLOUD, credentials=CREDENTIALS, scope=scope, options=options)
    client = VendorClient(
        tool="jira",
        base_url=CLOUD,
        rate_limit=JiraConnector.rate_limit,
        auth=JiraConnector.auth(config),
        retry=RetryPolicy(sleep=sleep),
        clock=clock,
    )
    return JiraConnector(client, config)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def hook(webhook_id: int, expires: datetime = NOW + timedelta(days=30)) -> dict[str, Any]:
    return {
        "id": webhook_id,
        "url": RECEIVER,
        "events": ["jira:issue_updated"],
        "jqlFilter": 'project IN ("CRM")',
        "expirationDate": ms(expires),
    }


# -- registering ------------------------------------------------------------------------------
@respx.mock
async def test_registering_posts_one_webhook_with_the_issue_events_and_the_filter(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    route = respx.post(f"{CLOUD}/rest/api/3/webhook").mock(
        return_value=httpx.Response(
            200, json={"webhookRegistrationResult": [{"createdWebhookId": 1000}]}
        )
    )
    webhook_id = await connector(sleep, clock).register_dynamic_webhook(
        RECEIVER, 'project IN ("CRM", "PIPE")'
    )

    assert webhook_id == 1000
    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer oauth-access-token"
    assert json.loads(request.content) == {
        "url": RECEIVER,
        "webhooks": [
            {
                "events": ["jira:issue_created", "jira:issue_updated", "jira:issue_deleted"],
                "jqlFilter": 'project IN ("CRM", "PIPE")',
            }
        ],
    }


@respx.mock
async def test_the_events_are_a_connection_option(sleep: FakeSleep, clock: FakeClock) -> None:
    route = respx.post(f"{CLOUD}/rest/api/3/webhook").mock(
        return_value=httpx.Response(
            200, json={"webhookRegistrationResult": [{"createdWebhookId": 5}]}
        )
    )
    jira = connector(sleep, clock, webhook_events=["jira:issue_updated", "jira:version_released"])
    await jira.register_dynamic_webhook(RECEIVER, 'project IN ("CRM")')
    sent = json.loads(route.calls.last.request.content)
    assert sent["webhooks"][0]["events"] == ["jira:issue_updated", "jira:version_released"]
    # The default is the spec's issue events only: no version or sprint events.
    assert WEBHOOK_EVENTS == ("jira:issue_created", "jira:issue_updated", "jira:issue_deleted")


@pytest.mark.parametrize("events", ["jira:issue_updated", [], [""], [3]])
def test_a_malformed_events_option_is_refused(
    sleep: FakeSleep, clock: FakeClock, events: Any
) -> None:
    with pytest.raises(InvalidRequest, match="webhook_events") as caught:
        connector(sleep, clock, webhook_events=events).webhook_events()
    assert caught.value.details["field"] == "options.webhook_events"


@respx.mock
async def test_an_entry_jira_refused_is_an_error_with_jiras_reasons(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.post(f"{CLOUD}/rest/api/3/webhook").mock(
        return_value=httpx.Response(
            200,
            json={
                "webhookRegistrationResult": [{"errors": ["The clause watchCount is unsupported"]}]
            },
        )
    )
    with pytest.raises(VendorRejected, match="The clause watchCount is unsupported") as caught:
        await connector(sleep, clock).register_dynamic_webhook(RECEIVER, "watchCount = 1")
    assert caught.value.details["errors"] == ["The clause watchCount is unsupported"]
    assert caught.value.endpoint == "POST /rest/api/3/webhook"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"webhookRegistrationResult": "created"}, "webhookRegistrationResult"),
        ({}, "webhookRegistrationResult"),
        ({"webhookRegistrationResult": [{"createdWebhookId": "ten"}]}, "createdWebhookId"),
        ({"webhookRegistrationResult": []}, "1 webhook registered, 0 results"),
    ],
    ids=["not a list", "missing", "id not a number", "no result"],
)
@respx.mock
async def test_a_malformed_registration_answer_breaks_the_contract(
    sleep: FakeSleep, clock: FakeClock, answer: dict[str, Any], reason: str
) -> None:
    respx.post(f"{CLOUD}/rest/api/3/webhook").mock(return_value=httpx.Response(200, json=answer))
    with pytest.raises(ContractBroken) as caught:
        await connector(sleep, clock).register_dynamic_webhook(RECEIVER, 'project IN ("CRM")')
    assert caught.value.tool == "jira"
    assert caught.value.endpoint == "POST /rest/api/3/webhook"
    assert reason in caught.value.details["reason"]


@respx.mock
async def test_the_filter_names_the_projects_in_scope_quoted(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    values = [
        {"id": "10000", "key": "CRM", "name": "CRM"},
        {"id": "10001", "key": "PIPE", "name": "Pipeline"},
    ]
    search = respx.get(f"{CLOUD}/rest/api/3/project/search").mock(
        return_value=httpx.Response(200, json={"isLast": True, "values": values})
    )
    assert await connector(sleep, clock).webhook_filter() == 'project IN ("CRM", "PIPE")'
    assert search.calls.last.request.url.params.get_list("keys") == ["CRM", "PIPE"]


@respx.mock
async def test_no_visible_project_means_nothing_to_watch(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.get(f"{CLOUD}/rest/api/3/project/search").mock(
        return_value=httpx.Response(200, json={"isLast": True, "values": []})
    )
    with pytest.raises(InvalidRequest, match="no projects"):
        await connector(sleep, clock).webhook_filter()


# -- refreshing, listing, deleting --------------------------------------------------------
@respx.mock
async def test_refreshing_sends_the_ids_and_answers_the_new_expiry(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    later = NOW + timedelta(days=30)
    route = respx.put(f"{CLOUD}/rest/api/3/webhook/refresh").mock(
        return_value=httpx.Response(200, json={"expirationDate": ms(later)})
    )
    assert await connector(sleep, clock).refresh_dynamic_webhooks([1000, 1001]) == later
    assert json.loads(route.calls.last.request.content) == {"webhookIds": [1000, 1001]}


@respx.mock
async def test_an_expiry_written_as_in_the_specs_example_is_read_too(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    # The schema says int64; the spec's example shows "2019-06-01T12:42:30.000+0000".
    respx.put(f"{CLOUD}/rest/api/3/webhook/refresh").mock(
        return_value=httpx.Response(200, json={"expirationDate": "2019-06-01T12:42:30.000+0000"})
    )
    expiry = await connector(sleep, clock).refresh_dynamic_webhooks([1])
    assert expiry == datetime(2019, 6, 1, 12, 42, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "answer", [{}, {"expirationDate": None}, {"expirationDate": "soon"}, {"expirationDate": True}]
)
@respx.mock
async def test_a_malformed_refresh_answer_breaks_the_contract(
    sleep: FakeSleep, clock: FakeClock, answer: dict[str, Any]
) -> None:
    respx.put(f"{CLOUD}/rest/api/3/webhook/refresh").mock(
        return_value=httpx.Response(200, json=answer)
    )
    with pytest.raises(ContractBroken) as caught:
        await connector(sleep, clock).refresh_dynamic_webhooks([1])
    assert caught.value.endpoint == "PUT /rest/api/3/webhook/refresh"
    assert caught.value.details["reason"].startswith("expirationDate")


@respx.mock
async def test_listing_pages_with_start_at_until_the_last_page(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    route = respx.get(f"{CLOUD}/rest/api/3/webhook").mock(
        side_effect=[
            httpx.Response(200, json={"startAt": 0, "isLast": False, "values": [hook(1000)]}),
            httpx.Response(200, json={"startAt": 1, "isLast": True, "values": [hook(1001)]}),
        ]
    )
    found = await connector(sleep, clock).dynamic_webhooks()

    assert [(w.id, w.jqlFilter, w.expirationDate) for w in found] == [
        (1000, 'project IN ("CRM")', NOW + timedelta(days=30)),
        (1001, 'project IN ("CRM")', NOW + timedelta(days=30)),
    ]
    pages = [dict(call.request.url.params) for call in route.calls]
    assert pages == [
        {"startAt": "0", "maxResults": "100"},
        {"startAt": "1", "maxResults": "100"},
    ]


@respx.mock
async def test_a_malformed_listed_webhook_breaks_the_contract(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    broken = hook(1000)
    del broken["jqlFilter"]
    respx.get(f"{CLOUD}/rest/api/3/webhook").mock(
        return_value=httpx.Response(200, json={"isLast": True, "values": [broken]})
    )
    with pytest.raises(ContractBroken) as caught:
        await connector(sleep, clock).dynamic_webhooks()
    assert caught.value.endpoint == "GET /rest/api/3/webhook"
    assert caught.value.details["reason"].startswith("jqlFilter")


@respx.mock
async def test_deleting_sends_the_ids_and_takes_jiras_empty_202(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    route = respx.delete(f"{CLOUD}/rest/api/3/webhook").mock(return_value=httpx.Response(202))
    await connector(sleep, clock).delete_dynamic_webhooks([1000])
    assert json.loads(route.calls.last.request.content) == {"webhookIds": [1000]}


# -- verifying deliveries ---------------------------------------------------------------------
BODY = json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"id": "10001"}}).encode()


def token(*, secret: str = CLIENT_SECRET, **claims: Any) -> str:
    values: dict[str, Any] = {"iss": "jira", "exp": ms(NOW + timedelta(minutes=3)) // 1000}
    values.update(claims)
    return jwt.encode({k: v for k, v in values.items() if v is not None}, secret, "HS256")


def bearer(value: str, *, at: datetime | None = NOW) -> WebhookRequest:
    return WebhookRequest(BODY, {"Authorization": f"Bearer {value}"}, received_at=at)


def unsigned(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_a_jwt_signed_with_the_client_secret_verifies(sleep: FakeSleep, clock: FakeClock) -> None:
    connector(sleep, clock).verify_webhook(bearer(token()), CLIENT_SECRET)
    # Within the leeway after exp, and with claims nobody requires: still fine.
    late = NOW + timedelta(minutes=3, seconds=JWT_LEEWAY - 1)
    connector(sleep, clock).verify_webhook(bearer(token(), at=late), CLIENT_SECRET)
    connector(sleep, clock).verify_webhook(bearer(token(iss=None, aud="app")), CLIENT_SECRET)
    odd = token(sub=5, jti=7, iat=ms(NOW + timedelta(days=1)) // 1000)  # unchecked claims
    connector(sleep, clock).verify_webhook(bearer(odd), CLIENT_SECRET)


def tampered() -> str:
    header, _payload, signature = token().split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"exp": 4_102_444_800}).encode())
    return f"{header}.{forged.decode().rstrip('=')}.{signature}"


@pytest.mark.parametrize(
    ("request_", "match"),
    [
        (bearer(token(secret="another-apps-client-secret-0123456789")), "does not verify"),
        (bearer(token(), at=NOW + timedelta(minutes=3, seconds=JWT_LEEWAY + 1)), "expired"),
        (bearer(token(exp=None)), "no exp"),
        (bearer(token(exp="tomorrow")), "exp is not a number"),
        (bearer(token(nbf=ms(NOW + timedelta(hours=1)) // 1000)), "not valid yet"),
        (bearer(unsigned({"exp": 4_102_444_800})), "does not verify"),
        (bearer(tampered()), "does not verify"),
        (bearer("not.a.jwt"), "does not verify"),
        (bearer(""), "does not verify"),
        (WebhookRequest(BODY, {}), "missing X-Hub-Signature"),
        (WebhookRequest(BODY, {"Authorization": "Basic ZGVtbw=="}), "missing X-Hub-Signature"),
    ],
    ids=[
        "wrong secret",
        "expired",
        "no exp",
        "exp not a number",
        "not yet valid",
        "alg none",
        "tampered payload",
        "garbage",
        "empty token",
        "no header",
        "basic auth header",
    ],
)
def test_a_forged_or_stale_jwt_is_rejected(
    sleep: FakeSleep, clock: FakeClock, request_: WebhookRequest, match: str
) -> None:
    with pytest.raises(WebhookRejected, match=match):
        connector(sleep, clock).verify_webhook(request_, CLIENT_SECRET)


def test_without_a_receipt_time_the_wall_clock_decides(sleep: FakeSleep, clock: FakeClock) -> None:
    jira = connector(sleep, clock)
    jira.verify_webhook(bearer(token(exp=4_102_444_800), at=None), CLIENT_SECRET)  # year 2100
    with pytest.raises(WebhookRejected, match="expired"):
        jira.verify_webhook(bearer(token(exp=946_684_800), at=None), CLIENT_SECRET)  # year 2000


def test_admin_webhooks_keep_their_hmac_and_a_jwt_key_cannot_stand_in(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    signature = hmac.new(WEBHOOK_SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    admin = WebhookRequest(BODY, {"X-Hub-Signature": f"sha256={signature}"}, received_at=NOW)
    jira = connector(sleep, clock)
    jira.verify_webhook(admin, WEBHOOK_SECRET)
    with pytest.raises(WebhookRejected, match="X-Hub-Signature does not match"):
        jira.verify_webhook(admin, CLIENT_SECRET)
    # A JWT signed with the admin webhook's secret is not one the client secret verifies.
    with pytest.raises(WebhookRejected, match="does not verify"):
        jira.verify_webhook(bearer(token(secret=WEBHOOK_SECRET)), CLIENT_SECRET)


def test_only_an_oauth_app_registers_webhooks_that_expire_after_thirty_days(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    assert isinstance(connector(sleep, clock), ExpiringWebhooks)
    assert JiraConnector.registers_webhooks(CREDENTIALS)
    assert not JiraConnector.registers_webhooks({"email": "ops@example.com", "api_token": "t"})
    assert JiraConnector.webhook_lifetime == timedelta(days=30)
