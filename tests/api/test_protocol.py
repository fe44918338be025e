"""HTTP behaviour shared by every resource: strict input, body size limit, problem
documents, ETag preconditions, Idempotency-Key, per-client rate limits, OpenAPI and docs."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from flask.testing import FlaskClient
from sqlalchemy import func, select

from lti_tool.app import create_app
from lti_tool.db import Database
from lti_tool.models import AuditEvent, Award, IdempotencyRecord
from lti_tool.settings import Settings

from .conftest import BASE, Api, Tenant, award_body, request_token

PROBLEM = "application/problem+json"


def _count_awards(database: Database) -> int:
    with database.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(Award)) or 0)


def test_unknown_fields_are_refused(api_a: Api, tenant_a: Tenant, database: Database) -> None:
    top = api_a.post("/api/v1/awards", json=award_body(tenant_a, grade="A"))
    assert top.status_code == 422
    assert top.mimetype == PROBLEM
    assert top.get_json()["errors"] == {"grade": ["Unknown field."]}
    nested = api_a.post(
        "/api/v1/awards",
        json={"achievement_id": tenant_a.achievement_id, "learner": {"id": 1, "role": "x"}},
    )
    assert nested.status_code == 422
    assert nested.get_json()["errors"] == {"learner": {"role": ["Unknown field."]}}
    alignment = api_a.post(
        "/api/v1/achievements",
        json={
            "name": "N",
            "description": "D",
            "criteria_narrative": "C",
            "alignments": [{"target_name": "T", "target_url": "https://t.example", "x": 1}],
        },
    )
    assert alignment.status_code == 422
    assert _count_awards(database) == 0


def test_oversized_body_is_413_problem(api_a: Api, tenant_a: Tenant, database: Database) -> None:
    body = award_body(tenant_a, evidence_text="x" * 300_000)
    response = api_a.post("/api/v1/awards", json=body)
    assert response.status_code == 413
    assert response.mimetype == PROBLEM
    assert response.get_json()["type"].endswith("body-too-large")
    assert _count_awards(database) == 0


def test_malformed_json_and_wrong_method_are_problems(api_a: Api) -> None:
    broken = api_a.post(
        "/api/v1/awards", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code in (400, 422)
    assert broken.mimetype == PROBLEM
    wrong = api_a.call("PUT", "/api/v1/awards")
    assert wrong.status_code == 405
    assert wrong.mimetype == PROBLEM
    nothing = api_a.get("/api/v1/nothing-here")
    assert nothing.status_code == 404
    assert nothing.mimetype == PROBLEM


def test_award_transitions_honour_if_match(api_a: Api, tenant_a: Tenant) -> None:
    created = api_a.post("/api/v1/awards", json=award_body(tenant_a))
    award_id = created.get_json()["id"]
    first_etag = created.headers["ETag"]
    suspended = api_a.post(
        f"/api/v1/awards/{award_id}/suspend",
        json={"reason": "check"},
        headers={"If-Match": first_etag},
    )
    assert suspended.status_code == 200
    stale = api_a.post(
        f"/api/v1/awards/{award_id}/revoke", json={"reason": "x"}, headers={"If-Match": first_etag}
    )
    assert stale.status_code == 412
    assert api_a.get(f"/api/v1/awards/{award_id}").get_json()["status"] == "suspended"
    fresh = api_a.post(
        f"/api/v1/awards/{award_id}/revoke",
        json={"reason": "x"},
        headers={"If-Match": suspended.headers["ETag"]},
    )
    assert fresh.status_code == 200
    assert (
        api_a.get(
            f"/api/v1/awards/{award_id}", headers={"If-None-Match": fresh.headers["ETag"]}
        ).status_code
        == 304
    )


def test_idempotency_key_replays_and_refuses_reuse(
    api_a: Api, api_b: Api, tenant_a: Tenant, tenant_b: Tenant, database: Database
) -> None:
    key = {"Idempotency-Key": "order-42"}
    first = api_a.post("/api/v1/awards", json=award_body(tenant_a), headers=key)
    assert first.status_code == 201
    replay = api_a.post("/api/v1/awards", json=award_body(tenant_a), headers=key)
    assert replay.status_code == 201  # the first answer, not the 200 of awarding again
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first.get_json()
    assert replay.headers["ETag"] == first.headers["ETag"]
    other = api_a.post("/api/v1/awards", json=award_body(tenant_a, learner=1), headers=key)
    assert other.status_code == 422
    assert other.get_json()["type"].endswith("idempotency-key-reused")
    assert _count_awards(database) == 1
    # keys are per client: tenant B may use the same key for its own request
    b_first = api_b.post("/api/v1/awards", json=award_body(tenant_b), headers=key)
    assert b_first.status_code == 201
    # a refusal is remembered too (and replayed, not re-run)
    bad = {"Idempotency-Key": "bad-1"}
    refused = api_a.post(
        "/api/v1/awards", json={"achievement_id": 999, "learner": {"id": 1}}, headers=bad
    )
    assert refused.status_code == 422
    again = api_a.post(
        "/api/v1/awards", json={"achievement_id": 999, "learner": {"id": 1}}, headers=bad
    )
    assert again.status_code == 422
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.mimetype == PROBLEM
    with database.read_session() as session:
        events = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "award.created")
        )
    assert events == 2


def test_idempotency_key_in_flight_is_409(api_a: Api, tenant_a: Tenant, database: Database) -> None:
    from lti_tool.api.clients import find_client

    raw = json.dumps(award_body(tenant_a))
    digest = hashlib.sha256()
    for part in ("POST", "/api/v1/awards", ""):
        digest.update(part.encode() + b"\0")
    digest.update(raw.encode())
    with database.session() as session:  # what a first, still running request leaves behind
        client = find_client(session, tenant_a.client_id)
        session.add(
            IdempotencyRecord(api_client_id=client.id, key="k-1", request_hash=digest.hexdigest())
        )
    busy = api_a.post(
        "/api/v1/awards",
        data=raw,
        headers={"Idempotency-Key": "k-1", "Content-Type": "application/json"},
    )
    assert busy.status_code == 409
    assert busy.get_json()["type"].endswith("idempotency-key-in-use")
    assert _count_awards(database) == 0


def test_rate_limit_per_client_with_headers_and_429(
    settings: Settings, database: Database, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    app = create_app(dataclasses.replace(settings, api_rate_limit="3/minute"), database=database)
    http = app.test_client()
    token_a = request_token(http, tenant_a.client_id, tenant_a.secret).get_json()["access_token"]
    token_b = request_token(http, tenant_b.client_id, tenant_b.secret).get_json()["access_token"]
    a, b = Api(http, token_a), Api(http, token_b)
    ok = [a.get("/api/v1/awards") for _ in range(3)]
    assert [r.status_code for r in ok] == [200, 200, 200]
    assert ok[0].headers["RateLimit-Limit"] == "3"
    assert [r.headers["RateLimit-Remaining"] for r in ok] == ["2", "1", "0"]
    assert 0 <= int(ok[0].headers["RateLimit-Reset"]) <= 61
    assert "Retry-After" not in ok[0].headers
    limited = a.get("/api/v1/achievements")  # one budget across endpoints
    assert limited.status_code == 429
    assert limited.mimetype == PROBLEM
    assert limited.get_json()["type"].endswith("rate-limited")
    assert 0 < int(limited.headers["Retry-After"]) <= 61
    assert b.get("/api/v1/awards").status_code == 200  # another client has its own budget


def test_openapi_document_and_docs_page(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    flows = spec["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flows["tokenUrl"].endswith("/api/v1/oauth/token")
    assert "awards:write" in flows["scopes"]
    revoke = spec["paths"]["/api/v1/awards/{award_id}/revoke"]["post"]
    assert revoke["security"] == [{"oauth2": ["awards:write"]}]
    default = spec["components"]["responses"]["DEFAULT_ERROR"]
    assert list(default["content"]) == [PROBLEM]
    page = client.get("/api/v1/docs", base_url=BASE)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "POST /api/v1/awards/{award_id}/revoke" in html
    assert "<script" not in html and "cdn" not in html.lower()
