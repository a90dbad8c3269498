"""The Jira simulator's dynamic webhooks behave as the spec describes: apps only, 30 days of
life from registration or refresh, unknown ids ignored, and JWT-signed deliveries queued for
every registered webhook whose filter matches a changed issue."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from sandbox.contract import Delivery, Outgoing
from sandbox.deliveries import dispatch
from sandbox.jira import DEFAULT_NOW, JiraSimulator

API = "/rest/api/3"
CLIENT_SECRET = "simulated-oauth-app-client-secret-01234"
RECEIVER = "http://127.0.0.1:8000/webhooks/1"
THIRTY_DAYS_MS = 30 * 86_400_000


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture
def sim() -> JiraSimulator:
    return JiraSimulator(issues=60, seed=7, client_secret=CLIENT_SECRET)


@pytest.fixture
async def app(sim: JiraSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """An OAuth 2.0 app's client: a bearer token."""
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://jira.test",
        headers={"Authorization": "Bearer demo-token"},
    ) as client:
        yield client


async def register(app: httpx.AsyncClient, *webhooks: dict[str, Any]) -> httpx.Response:
    return await app.post(f"{API}/webhook", json={"url": RECEIVER, "webhooks": list(webhooks)})


def details(jql: str = "project = CRM", *events: str) -> dict[str, Any]:
    return {"events": list(events or ["jira:issue_updated"]), "jqlFilter": jql}


def issue_in(sim: JiraSimulator, project_key: str) -> str:
    project = sim.projects[project_key]
    return next(i.key for i in sim.issues.values() if i.project_id == project.id)


def claims(delivery: Delivery, secret: str = CLIENT_SECRET) -> dict[str, Any]:
    scheme, _, token = delivery.headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    decoded: dict[str, Any] = jwt.decode(
        token, secret, algorithms=["HS256"], options={"verify_exp": False}
    )
    return decoded


# -- apps only --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/webhook", None),
        ("POST", "/webhook", {"url": RECEIVER, "webhooks": [details()]}),
        ("DELETE", "/webhook", {"webhookIds": [10000]}),
        ("PUT", "/webhook/refresh", {"webhookIds": [10000]}),
    ],
)
async def test_a_user_with_basic_auth_is_not_an_app_and_gets_403(
    sim: JiraSimulator, method: str, path: str, body: dict[str, Any] | None
) -> None:
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://jira.test", auth=("demo@example.com", "demo-token")
    ) as user:
        response = await user.request(method, f"{API}{path}", json=body)
    assert response.status_code == 403
    assert response.json() == {
        "errorMessages": ["Only Connect and OAuth 2.0 apps can use this operation."],
        "errors": {},
    }
    assert sim.webhooks == {}


# -- registering ------------------------------------------------------------------------------
async def test_registering_answers_a_result_per_webhook_in_order(
    app: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    response = await register(
        app,
        details('project IN ("CRM", "PIPE")', "jira:issue_created", "jira:issue_updated"),
        details("summary ~ renewal"),
        details("project = NOPE"),
        details("project = CRM AND status != Done", "jira:issue_deleted"),
        details("project = CRM ORDER BY key"),
        details("project = CRM AND updated > -1d"),
    )
    assert response.status_code == 200
    assert response.json() == {
        "webhookRegistrationResult": [
            {"createdWebhookId": 10000},
            {"errors": ["The clause summary is unsupported"]},
            {"errors": ["The value 'NOPE' does not exist for the field 'project'."]},
            {"createdWebhookId": 10001},
            {"errors": ["The clause ORDER BY is unsupported"]},
            {"errors": ["The clause updated is unsupported"]},
        ]
    }
    assert sorted(sim.webhooks) == [10000, 10001]
    first = sim.webhooks[10000]
    assert (first.url, first.events, first.jql_filter) == (
        RECEIVER,
        ("jira:issue_created", "jira:issue_updated"),
        'project IN ("CRM", "PIPE")',
    )
    assert first.expires_ms == ms(DEFAULT_NOW) + THIRTY_DAYS_MS


@pytest.mark.parametrize(
    "body",
    [
        {"webhooks": [details()]},
        {"url": RECEIVER},
        {"url": RECEIVER, "webhooks": [details()], "secret": "x"},
        {"url": RECEIVER, "webhooks": [{"events": ["jira:issue_updated"]}]},
        {"url": RECEIVER, "webhooks": [{"jqlFilter": "project = CRM"}]},
        {"url": RECEIVER, "webhooks": [details("project = CRM", "jira:version_released")]},
        {"url": RECEIVER, "webhooks": [{**details(), "name": "mine"}]},
    ],
    ids=[
        "no url",
        "no webhooks",
        "unknown field",
        "no jqlFilter",
        "no events",
        "event outside the spec's enum",
        "unknown webhook field",
    ],
)
async def test_a_body_outside_the_schema_is_a_400(
    app: httpx.AsyncClient, sim: JiraSimulator, body: dict[str, Any]
) -> None:
    response = await app.post(f"{API}/webhook", json=body)
    assert response.status_code == 400
    assert response.json()["errorMessages"]
    assert sim.webhooks == {}


# -- listing, refreshing, deleting, expiring -----------------------------------------------
async def test_listing_pages_the_apps_webhooks_with_their_expiry_in_epoch_ms(
    app: httpx.AsyncClient,
) -> None:
    await register(app, details(), details("project = PIPE"), details("project = ENBL"))
    first = (await app.get(f"{API}/webhook", params={"maxResults": 2})).json()
    second = (await app.get(f"{API}/webhook", params={"startAt": 2, "maxResults": 2})).json()

    assert (first["isLast"], first["total"], second["isLast"]) == (False, 3, True)
    assert first["values"][0] == {
        "id": 10000,
        "url": RECEIVER,
        "events": ["jira:issue_updated"],
        "jqlFilter": "project = CRM",
        "expirationDate": ms(DEFAULT_NOW) + THIRTY_DAYS_MS,
    }
    assert [v["id"] for v in first["values"] + second["values"]] == [10000, 10001, 10002]


async def test_a_refresh_gives_thirty_days_from_now_and_ignores_unknown_ids(
    app: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    await register(app, details(), details("project = PIPE"))
    sim.advance(timedelta(days=25).total_seconds())

    response = await app.put(f"{API}/webhook/refresh", json={"webhookIds": [10000, 99999]})

    later = ms(DEFAULT_NOW + timedelta(days=25)) + THIRTY_DAYS_MS
    assert response.status_code == 200
    assert response.json() == {"expirationDate": later}
    assert sim.webhooks[10000].expires_ms == later
    assert sim.webhooks[10001].expires_ms == ms(DEFAULT_NOW) + THIRTY_DAYS_MS  # not asked
    assert 99999 not in sim.webhooks


async def test_an_expired_webhook_is_gone_and_a_refresh_cannot_bring_it_back(
    app: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    await register(app, details())
    sim.advance(timedelta(days=30).total_seconds())

    await app.put(f"{API}/webhook/refresh", json={"webhookIds": [10000]})

    assert (await app.get(f"{API}/webhook")).json()["values"] == []
    sim.update_issue(issue_in(sim, "CRM"), summary="Nobody hears of this")
    assert sim.take_outbox() == []


async def test_deleting_answers_202_and_ignores_unknown_ids(
    app: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    await register(app, details(), details("project = PIPE"))
    response = await app.request("DELETE", f"{API}/webhook", json={"webhookIds": [10000, 5]})
    assert (response.status_code, response.content) == (202, b"")
    assert sorted(sim.webhooks) == [10001]


@pytest.mark.parametrize("body", [{}, {"webhookIds": "10000"}, {"webhookIds": [True]}])
async def test_refresh_and_delete_need_a_list_of_ids(
    app: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    assert (await app.put(f"{API}/webhook/refresh", json=body)).status_code == 400
    assert (await app.request("DELETE", f"{API}/webhook", json=body)).status_code == 400


# -- deliveries -------------------------------------------------------------------------------
async def test_a_change_matching_a_filter_queues_a_jwt_signed_delivery(
    app: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    await register(app, details('project IN ("CRM", "PIPE")'))
    key = issue_in(sim, "CRM")
    sim.advance(60)
    sim.update_issue(key, summary="Renewal call booked")

    [outgoing] = sim.take_outbox()
    assert outgoing.url == RECEIVER
    body = json.loads(outgoing.delivery.body)
    assert body["webhookEvent"] == "jira:issue_updated"
    assert body["issue"]["key"] == key
    assert body["issue"]["fields"]["summary"] == "Renewal call booked"
    assert body["matchedWebhookIds"] == [10000]
    assert body["timestamp"] == ms(DEFAULT_NOW + timedelta(seconds=60))
    assert outgoing.delivery.headers["X-Atlassian-Webhook-Identifier"]
    issued = ms(DEFAULT_NOW + timedelta(seconds=60)) // 1000
    assert claims(outgoing.delivery) == {
        "iss": "jira-simulator",
        "iat": issued,
        "exp": issued + 180,
    }
    with pytest.raises(jwt.InvalidSignatureError):
        claims(outgoing.delivery, secret="some-other-apps-client-secret-012345")
    assert sim.take_outbox() == []


async def test_only_wanted_events_for_matching_issues_are_delivered(
    app: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    await register(
        app,
        details("project = CRM", "jira:issue_created", "jira:issue_deleted"),
        details("project = CRM AND status = Done", "jira:issue_updated"),
    )
    sim.update_issue(issue_in(sim, "PIPE"), summary="another project")
    sim.update_issue(issue_in(sim, "CRM"), summary="updates are not asked for unless done")
    assert sim.take_outbox() == []

    created = sim.add_issue("CRM", summary="New lead list")
    sim.update_issue(created, status="Done")
    sim.delete_issue(created)

    events = [json.loads(o.delivery.body) for o in sim.take_outbox()]
    assert [(e["webhookEvent"], e["matchedWebhookIds"]) for e in events] == [
        ("jira:issue_created", [10000]),
        ("jira:issue_updated", [10001]),
        ("jira:issue_deleted", [10000]),
    ]


async def test_webhooks_sharing_a_url_get_one_delivery_naming_them_all(
    app: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    await register(app, details("project = CRM"), details('project IN ("CRM", "PIPE")'))
    sim.update_issue(issue_in(sim, "CRM"), summary="twice matched, once sent")
    [outgoing] = sim.take_outbox()
    assert json.loads(outgoing.delivery.body)["matchedWebhookIds"] == [10000, 10001]


async def test_dispatch_posts_the_queue_to_loopback_receivers_only() -> None:
    received: list[tuple[str, bytes, str]] = []

    async def receiver(request: httpx.Request) -> httpx.Response:
        received.append((str(request.url), request.content, request.headers["Authorization"]))
        return httpx.Response(200)

    delivery = Delivery(body=b"{}", headers={"Authorization": "Bearer t"})
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as client:
        responses = await dispatch([Outgoing(RECEIVER, delivery)], client=client)
        assert [r.status_code for r in responses] == [200]
        assert received == [(RECEIVER, b"{}", "Bearer t")]
        with pytest.raises(ValueError, match="loopback"):
            await dispatch(
                [Outgoing(RECEIVER, delivery), Outgoing("https://example.com/h", delivery)],
                client=client,
            )
    assert len(received) == 1  # nothing was sent before the refusal
