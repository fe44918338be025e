"""OAuth 2.0 client credentials: tokens for good secrets only, scopes enforced, revoked
clients and expired tokens refused, secrets and tokens never stored in clear."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select, update

from lti_tool.api.auth import token_hash
from lti_tool.api.clients import find_client, revoke_client
from lti_tool.db import Database
from lti_tool.models import ApiClient, ApiToken, utcnow

from .conftest import BASE, Api, Tenant, request_token

PROBLEM = "application/problem+json"


def test_token_for_a_good_secret_works_and_is_stored_hashed(
    client: FlaskClient, tenant_a: Tenant, database: Database
) -> None:
    response = request_token(client, tenant_a.client_id, tenant_a.secret, "awards:read")
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"].lower() == "bearer"
    assert body["scope"] == "awards:read"
    assert body["expires_in"] == 3600
    assert response.headers["Cache-Control"] == "no-store"
    token = body["access_token"]
    with database.read_session() as session:
        row = session.scalars(select(ApiToken)).one()
        client_row = session.scalars(select(ApiClient)).one()
        assert row.token_hash == token_hash(token) != token
        assert row.scopes == ["awards:read"]
        assert tenant_a.secret not in client_row.secret_hash
        assert client_row.secret_hash.startswith("scrypt:")
    listed = Api(client, token).get("/api/v1/awards")
    assert listed.status_code == 200


def test_client_secret_post_is_accepted_too(client: FlaskClient, tenant_a: Tenant) -> None:
    response = client.post(
        "/api/v1/oauth/token",
        base_url=BASE,
        data={
            "grant_type": "client_credentials",
            "client_id": tenant_a.client_id,
            "client_secret": tenant_a.secret,
        },
    )
    assert response.status_code == 200
    assert set(response.get_json()["scope"].split()) == {
        "achievements:read", "achievements:write", "awards:read", "awards:write",
        "learners:read", "pathways:read", "pathways:write", "connections:admin",
        "deliveries:read", "deliveries:write",
    }  # fmt: skip


def test_bad_secret_unknown_client_and_unknown_scope_get_no_token(
    client: FlaskClient, tenant_a: Tenant, database: Database
) -> None:
    bad = request_token(client, tenant_a.client_id, tenant_a.secret + "x")
    assert bad.status_code == 401
    assert bad.get_json()["error"] == "invalid_client"
    unknown = request_token(client, "mc_nobody", tenant_a.secret)
    assert unknown.status_code == 401
    scope = request_token(client, tenant_a.client_id, tenant_a.secret, "awards:read admin:all")
    assert scope.status_code == 400
    assert scope.get_json()["error"] == "invalid_scope"
    wrong_grant = client.post(
        "/api/v1/oauth/token",
        base_url=BASE,
        data={"grant_type": "password", "username": "x", "password": "y"},
        auth=(tenant_a.client_id, tenant_a.secret),
    )
    assert wrong_grant.status_code == 400
    with database.read_session() as session:
        assert session.scalars(select(ApiToken)).all() == []


def test_plain_http_token_request_is_refused(client: FlaskClient, tenant_a: Tenant) -> None:
    response = client.post(
        "/api/v1/oauth/token",
        base_url="http://tool.test",
        data={"grant_type": "client_credentials"},
        auth=(tenant_a.client_id, tenant_a.secret),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "insecure_transport"


def test_missing_and_garbage_tokens_are_401_problems(client: FlaskClient, tenant_a: Tenant) -> None:
    missing = client.get("/api/v1/awards", base_url=BASE)
    assert missing.status_code == 401
    assert missing.mimetype == PROBLEM
    assert missing.get_json()["status"] == 401
    assert missing.headers["WWW-Authenticate"].lower().startswith("bearer ")
    garbage = Api(client, "not-a-token").get("/api/v1/awards")
    assert garbage.status_code == 401
    assert garbage.mimetype == PROBLEM


def test_wrong_scope_is_403(api_as: Callable[..., Api], tenant_a: Tenant) -> None:
    reader = api_as(tenant_a, "awards:read")
    assert reader.get("/api/v1/awards").status_code == 200
    refused = reader.post(
        "/api/v1/awards",
        json={"achievement_id": tenant_a.achievement_id, "learner": {"id": 1}},
    )
    assert refused.status_code == 403
    assert refused.mimetype == PROBLEM
    assert refused.get_json()["type"].endswith("insufficient-scope")
    assert reader.get("/api/v1/achievements").status_code == 403
    assert reader.get("/api/v1/connections").status_code == 403


def test_a_client_cannot_ask_for_scopes_it_was_not_given(
    client: FlaskClient, database: Database
) -> None:
    from .conftest import make_tenant

    tenant = make_tenant(database, 5, scopes=["awards:read"])
    response = request_token(client, tenant.client_id, tenant.secret, "awards:read awards:write")
    assert response.status_code == 200
    assert response.get_json()["scope"] == "awards:read"
    token = response.get_json()["access_token"]
    assert Api(client, token).post("/api/v1/awards", json={}).status_code == 403


def test_revoked_client_loses_its_tokens_and_gets_no_new_one(
    client: FlaskClient, api_a: Api, tenant_a: Tenant, database: Database
) -> None:
    assert api_a.get("/api/v1/awards").status_code == 200
    with database.session() as session:
        revoke_client(session, find_client(session, tenant_a.client_id))
    assert api_a.get("/api/v1/awards").status_code == 401
    again = request_token(client, tenant_a.client_id, tenant_a.secret)
    assert again.status_code == 401
    assert again.get_json()["error"] == "invalid_client"


def test_expired_token_is_refused(api_a: Api, database: Database) -> None:
    assert api_a.get("/api/v1/awards").status_code == 200
    with database.session() as session:
        session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = api_a.get("/api/v1/awards")
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]


def test_tokens_expired_for_a_day_are_purged_on_the_next_issue(
    client: FlaskClient, tenant_a: Tenant, database: Database
) -> None:
    request_token(client, tenant_a.client_id, tenant_a.secret)
    with database.session() as session:
        session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(days=2)))
    request_token(client, tenant_a.client_id, tenant_a.secret)
    with database.read_session() as session:
        rows = session.scalars(select(ApiToken)).all()
        assert len(rows) == 1
        assert rows[0].expires_at > utcnow()
