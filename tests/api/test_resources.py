"""Learners, pathways, connections (with a real test-send to a loopback receiver) and
deliveries (list by state, replay), happy paths and refusals."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update
from standardwebhooks import Webhook

from connectors.testing import LocalServer, QuietHandler
from lti_tool.db import Database
from lti_tool.models import Delivery
from lti_tool.models.sync import DEAD, PENDING

from .conftest import Api, Tenant, award_body

WHSEC = "whsec_" + base64.b64encode(b"r" * 32).decode()
PROBLEM = "application/problem+json"


class Receiver(QuietHandler):
    received: list[dict[str, Any]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.read_body()
        Webhook(WHSEC).verify(body, dict(self.headers))  # raises unless signed by WHSEC
        type(self).received.append(json.loads(body))
        self.reply(type(self).status, b"{}", {"Content-Type": "application/json"})


@pytest.fixture
def receiver() -> Iterator[LocalServer]:
    Receiver.received = []
    Receiver.status = 200
    server = LocalServer(Receiver)
    yield server
    server.close()


def test_learner_lookup_awards_and_progress(api_a: Api, tenant_a: Tenant) -> None:
    learner = tenant_a.learner_ids[1]
    by_email = api_a.get("/api/v1/learners/lookup?email=Learner1@LMS1.example.edu")
    assert by_email.status_code == 200
    assert by_email.get_json()["id"] == learner
    assert by_email.get_json()["hr_ids"] == {"employee_id": "E1001"}
    by_hr = api_a.get("/api/v1/learners/lookup?hr_id=E1001&hr_id_kind=employee_id")
    assert by_hr.get_json()["id"] == learner
    assert api_a.get("/api/v1/learners/lookup?hr_id=HR-1-1").get_json()["id"] == learner
    assert api_a.get("/api/v1/learners/lookup?email=x@y.z").status_code == 404
    both = api_a.get("/api/v1/learners/lookup?email=a@b.c&hr_id=1")
    assert both.status_code == 422
    assert api_a.get("/api/v1/learners/lookup").status_code == 422
    assert api_a.get(f"/api/v1/learners/{learner}").get_json()["sub"] == "learner-1-1"
    api_a.post("/api/v1/awards", json=award_body(tenant_a, learner=1))
    awards = api_a.get(f"/api/v1/learners/{learner}/awards").get_json()
    assert [a["achievement_id"] for a in awards] == [tenant_a.achievement_id]
    pathway = api_a.post(
        "/api/v1/pathways",
        json={
            "name": "Starter",
            "requirements": {
                "kind": "all_of",
                "children": [{"kind": "achievement", "achievement_id": tenant_a.achievement_id}],
            },
        },
    )
    assert pathway.status_code == 201, pathway.get_json()
    progress = api_a.get(f"/api/v1/learners/{learner}/progress").get_json()
    assert [(p["name"], p["percent"], p["complete"]) for p in progress] == [("Starter", 100, True)]


def test_shared_email_is_a_409(api_a: Api, tenant_a: Tenant, database: Database) -> None:
    from lti_tool.models import User

    with database.session() as session:
        session.execute(update(User).values(email="shared@lms1.example.edu"))
    response = api_a.get("/api/v1/learners/lookup?email=shared@lms1.example.edu")
    assert response.status_code == 409
    assert response.mimetype == PROBLEM
    assert response.get_json()["type"].endswith("learner-ambiguous")


def test_pathway_lifecycle_and_auto_award(api_a: Api, tenant_a: Tenant) -> None:
    second = api_a.post(
        "/api/v1/achievements",
        json={"name": "Second", "description": "Two.", "criteria_narrative": "Do two."},
    ).get_json()["id"]
    created = api_a.post(
        "/api/v1/pathways",
        json={
            "name": "Track",
            "description": "Both skills.",
            "requirements": {
                "kind": "all_of",
                "children": [
                    {"kind": "achievement", "achievement_id": tenant_a.achievement_id},
                    {"kind": "achievement", "achievement_id": second},
                ],
            },
        },
    )
    assert created.status_code == 201, created.get_json()
    pathway = created.get_json()
    assert pathway["requirements"]["kind"] == "all_of"
    path = f"/api/v1/pathways/{pathway['id']}"
    learner = tenant_a.learner_ids[0]
    api_a.post("/api/v1/awards", json=award_body(tenant_a))
    half = api_a.get(f"{path}/progress?learner_id={learner}").get_json()
    assert (half["percent"], half["complete"]) == (50, False)
    api_a.post("/api/v1/awards", json={"achievement_id": second, "learner": {"id": learner}})
    done = api_a.get(f"{path}/progress?learner_id={learner}").get_json()
    assert done["complete"] and done["awarded"]
    held = {a["achievement_id"] for a in api_a.get(f"/api/v1/learners/{learner}/awards").get_json()}
    assert pathway["achievement_id"] in held  # the pathway's credential was auto-awarded
    renamed = api_a.patch(
        path, json={"name": "Track 2"}, headers={"If-Match": created.headers["ETag"]}
    )
    assert renamed.status_code == 200
    assert renamed.get_json()["name"] == "Track 2"
    stale = api_a.patch(path, json={"name": "X"}, headers={"If-Match": created.headers["ETag"]})
    assert stale.status_code == 412
    assert api_a.post(f"{path}/archive", json={"reason": "done"}).status_code == 200
    assert api_a.get("/api/v1/pathways").get_json() == []
    assert api_a.post(f"{path}/archive", json={}).status_code == 422


def test_pathway_refusals(api_a: Api, tenant_a: Tenant) -> None:
    cyclic_self = api_a.post(
        "/api/v1/pathways",
        json={"name": "Bad", "requirements": {"kind": "n_of", "required_count": 3, "children": [
            {"kind": "achievement", "achievement_id": tenant_a.achievement_id}]}},
    )  # fmt: skip
    assert cyclic_self.status_code == 422
    assert "requirements" in cyclic_self.get_json()["errors"]
    missing = api_a.post(
        "/api/v1/pathways",
        json={"name": "Bad", "requirements": {"kind": "achievement", "achievement_id": 9999}},
    )
    assert missing.status_code == 422
    unknown = api_a.post(
        "/api/v1/pathways",
        json={"name": "Bad", "requirements": {"kind": "achievement", "achievement_id": 1, "x": 1}},
    )
    assert unknown.status_code == 422
    assert unknown.get_json()["errors"] == {"requirements": {"x": ["Unknown field."]}}


def _add_hook(api: Api, receiver: LocalServer) -> Any:
    """POST a webhook connection named "HR hook" to the test receiver; the raw response."""
    return api.post(
        "/api/v1/connections",
        json={
            "connector": "webhook",
            "name": "HR hook",
            "settings": {"url": receiver.base_url + "/hook"},
            "secrets": {"secrets": [WHSEC]},
        },
    )


def test_connection_create_secrets_write_only_pause_resume_delete(
    api_a: Api, receiver: LocalServer
) -> None:
    created = _add_hook(api_a, receiver)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["has_secrets"] is True
    assert "secrets" not in body
    assert WHSEC not in created.get_data(as_text=True)
    path = f"/api/v1/connections/{body['id']}"
    assert WHSEC not in api_a.get(path).get_data(as_text=True)
    assert WHSEC not in api_a.get("/api/v1/connections").get_data(as_text=True)
    paused = api_a.patch(path, json={"paused": True, "pause_reason": "maintenance"})
    assert (paused.get_json()["state"], paused.get_json()["pause_reason"]) == (
        "paused",
        "maintenance",
    )
    resumed = api_a.patch(path, json={"paused": False})
    assert resumed.get_json()["state"] == "ok"
    off = api_a.patch(path, json={"enabled": False})
    assert off.get_json()["state"] == "off"
    stale = api_a.delete(path, headers={"If-Match": created.headers["ETag"]})
    assert stale.status_code == 412
    assert api_a.delete(path).status_code == 204
    assert api_a.get(path).status_code == 404


def test_connection_refusals(api_a: Api) -> None:
    secret_in_settings = api_a.post(
        "/api/v1/connections",
        json={
            "connector": "webhook",
            "name": "Leaky",
            "settings": {"url": "https://hr.example/hook", "secrets": [WHSEC]},
        },
    )
    assert secret_in_settings.status_code == 422
    assert WHSEC not in secret_in_settings.get_data(as_text=True)
    plain_http = api_a.post(
        "/api/v1/connections",
        json={
            "connector": "webhook",
            "name": "Plain",
            "settings": {"url": "http://hr.example/hook"},
            "secrets": {"secrets": [WHSEC]},
        },
    )
    assert plain_http.status_code == 422
    unknown = api_a.post(
        "/api/v1/connections", json={"connector": "carrier-pigeon", "name": "P", "settings": {}}
    )
    assert unknown.status_code == 422
    assert unknown.get_json()["type"].endswith("unknown-connector")


def test_test_send_reaches_the_receiver(api_a: Api, receiver: LocalServer) -> None:
    connection = _add_hook(api_a, receiver).get_json()["id"]
    sent = api_a.post(f"/api/v1/connections/{connection}/test")
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["outcome"] == "delivered"
    assert len(Receiver.received) == 1
    Receiver.status = 401
    refused = api_a.post(f"/api/v1/connections/{connection}/test").get_json()
    assert refused["outcome"] == "unauthorized"
    assert refused["status_code"] == 401


def test_deliveries_by_state_and_replay(
    api_a: Api, tenant_a: Tenant, receiver: LocalServer, database: Database
) -> None:
    connection = _add_hook(api_a, receiver).get_json()["id"]
    for i in range(3):
        api_a.post("/api/v1/awards", json=award_body(tenant_a, learner=i))
    pending = api_a.get("/api/v1/deliveries?state=pending").get_json()
    assert len(pending) == 3
    assert {d["connection_id"] for d in pending} == {connection}
    assert {d["event_type"] for d in pending} == {"credential.awarded"}
    dead_ids = [pending[0]["id"], pending[1]["id"]]
    with database.session() as session:
        session.execute(update(Delivery).where(Delivery.id.in_(dead_ids)).values(status=DEAD))
    dead = api_a.get("/api/v1/deliveries?state=dead").get_json()
    assert sorted(d["id"] for d in dead) == sorted(dead_ids)
    one = api_a.post("/api/v1/deliveries/replay", json={"delivery_ids": [dead_ids[0], 999999]})
    assert one.get_json() == {"replayed": 1}
    rest = api_a.post("/api/v1/deliveries/replay", json={"connection_id": connection})
    assert rest.get_json() == {"replayed": 1}
    with database.read_session() as session:
        states = set(session.scalars(select(Delivery.status)))
    assert states == {PENDING}
    neither = api_a.post("/api/v1/deliveries/replay", json={})
    assert neither.status_code == 422
    assert api_a.get("/api/v1/deliveries?state=lost").status_code == 422


def test_connection_settings_and_secrets_change_through_patch(
    api_a: Api, receiver: LocalServer
) -> None:
    created = _add_hook(api_a, receiver).get_json()
    path = f"/api/v1/connections/{created['id']}"
    moved = api_a.patch(
        path,
        json={
            "name": "HR hook v2",
            "settings": {"url": receiver.base_url + "/v2/hook"},
            "rate_limit_per_minute": 120,
        },
    )
    assert moved.status_code == 200, moved.get_json()
    body = moved.get_json()
    assert body["name"] == "HR hook v2"
    assert body["settings"] == {"url": receiver.base_url + "/v2/hook"}
    assert (body["rate_limit_per_minute"], body["has_secrets"]) == (120, True)  # secret kept
    rotated = api_a.patch(path, json={"secrets": {"secrets": [WHSEC, WHSEC]}})
    assert rotated.status_code == 200
    assert WHSEC not in rotated.get_data(as_text=True)
    leaked = api_a.patch(path, json={"settings": {"url": receiver.base_url, "secrets": [WHSEC]}})
    assert leaked.status_code == 422  # secrets never go in settings
    assert WHSEC not in leaked.get_data(as_text=True)
    bad_url = api_a.patch(path, json={"settings": {"url": "not a url"}})
    assert bad_url.status_code == 422
    assert api_a.get(path).get_json()["settings"] == {"url": receiver.base_url + "/v2/hook"}
