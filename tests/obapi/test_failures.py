"""Refusals of the OB 3.0 API: PKCE, redirect URIs, replayed codes, expired and revoked
tokens, missing scopes, upsert while disabled, registration checks, tenancy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from lti_tool.credentials import issuance
from lti_tool.db import Database
from lti_tool.models import (
    IssuedCredential,
    ObApiAuthorizationCode,
    ObApiSignIn,
    ObApiToken,
    utcnow,
)
from lti_tool.obapi import scopes as S
from lti_tool.testplatform import TestPlatform
from tests.conftest import TOOL_URL
from tests.support.launcher import Launcher
from tests.web.conftest import As, launch_as

from .conftest import (
    ALL_READ,
    API,
    REDIRECT,
    Wallet,
    award,
    code_of,
    register,
    registration,
    schema_errors,
    sign_in,
)


@pytest.fixture
def signed_in(student: As) -> As:
    assert sign_in(student).status_code == 303
    return student


def _redirect_error(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 302, response.get_data(as_text=True)
    location = urlsplit(response.location)
    assert location.geturl().startswith(REDIRECT)
    return parse_qs(location.query)


def _imsx_minor(body: dict[str, Any]) -> str:
    assert schema_errors("ob_v3p0_imsx_statusinfo_schema.json", body) == []
    value: str = body["imsx_codeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]
    return value


# -- PKCE -------------------------------------------------------------------------------------


def test_authorization_without_pkce_is_refused(wallet: Wallet, signed_in: As) -> None:
    params = wallet.authorize_params(code_challenge=None, code_challenge_method=None)
    query = _redirect_error(wallet.authorize(params))
    assert query["error"] == ["invalid_request"]
    assert "PKCE" in query["error_description"][0]


def test_plain_pkce_is_refused(wallet: Wallet, signed_in: As) -> None:
    params = wallet.authorize_params()
    params["code_challenge_method"] = "plain"
    params["code_challenge"] = "x" * 50
    query = _redirect_error(wallet.authorize(params))
    assert query["error"] == ["invalid_request"]
    assert "S256" in query["error_description"][0]


@pytest.mark.parametrize(
    ("verifier", "error"),
    [(None, "invalid_request"), ("w" * 60, "invalid_grant"), ("short", "invalid_request")],
)
def test_token_needs_the_right_verifier(
    wallet: Wallet, signed_in: As, verifier: str | None, error: str
) -> None:
    code = code_of(wallet.consent(wallet.authorize_params()), wallet.state)
    response = wallet.exchange(code, code_verifier=verifier)  # type: ignore[arg-type]
    assert response.status_code == 400
    assert response.get_json()["error"] == error


# -- redirect URIs and codes --------------------------------------------------------------


def test_unregistered_redirect_uri_is_never_redirected_to(wallet: Wallet, signed_in: As) -> None:
    params = wallet.authorize_params(redirect_uri="https://evil.example/steal")
    response = wallet.authorize(params)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert 'data-error="invalid_request"' in response.get_data(as_text=True) or (
        'data-error="invalid_client"' in response.get_data(as_text=True)
    )


def test_unknown_client_gets_a_page(client: FlaskClient, signed_in: As) -> None:
    response = client.get(
        API + "/authorize",
        query_string={"response_type": "code", "client_id": "nope", "redirect_uri": REDIRECT},
        base_url=TOOL_URL,
    )
    assert response.status_code == 400
    assert 'data-error="invalid_client"' in response.get_data(as_text=True)


def test_token_with_another_redirect_uri_is_refused(wallet: Wallet, signed_in: As) -> None:
    code = code_of(wallet.consent(wallet.authorize_params()), wallet.state)
    response = wallet.exchange(code, redirect_uri="https://wallet.example.org/other")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_replayed_code_is_refused_and_revokes_its_tokens(wallet: Wallet, signed_in: As) -> None:
    params = wallet.authorize_params()
    code = code_of(wallet.consent(params), wallet.state)
    first = wallet.exchange(code)
    assert first.status_code == 200
    access = first.get_json()["access_token"]
    assert wallet.bearer("/profile", access).status_code == 200
    replay = wallet.exchange(code)
    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    assert wallet.bearer("/profile", access).status_code == 401


def test_code_of_another_client_is_refused(
    client: FlaskClient, wallet: Wallet, signed_in: As
) -> None:
    code = code_of(wallet.consent(wallet.authorize_params()), wallet.state)
    other = register(client, client_name="Other Wallet")
    other.verifier = wallet.verifier
    assert other.exchange(code).get_json()["error"] == "invalid_grant"


def test_wrong_client_secret_is_refused(wallet: Wallet, signed_in: As) -> None:
    code = code_of(wallet.consent(wallet.authorize_params()), wallet.state)
    wallet.client_secret = "not-the-secret"
    response = wallet.exchange(code)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_denied_consent_tells_the_client(wallet: Wallet, signed_in: As) -> None:
    query = _redirect_error(wallet.consent(wallet.authorize_params(), decision="deny"))
    assert query["error"] == ["access_denied"]
    assert query["state"] == [wallet.state]


def test_consent_needs_csrf(wallet: Wallet, signed_in: As) -> None:
    params = wallet.authorize_params()
    response = wallet.post("/authorize", query_string=params, data={"decision": "approve"})
    assert response.status_code == 400
    assert "Location" not in response.headers


# -- tokens and scopes ----------------------------------------------------------------------


def test_expired_token_is_refused(database: Database, wallet: Wallet, signed_in: As) -> None:
    access = wallet.connect()["access_token"]
    assert wallet.bearer("/profile", access).status_code == 200
    with database.session() as session:
        session.execute(update(ObApiToken).values(issued_at=utcnow() - timedelta(hours=2)))
    response = wallet.bearer("/profile", access)
    assert response.status_code == 401
    assert _imsx_minor(response.get_json()) == "unauthorizedrequest"


def test_missing_bearer_token(wallet: Wallet) -> None:
    response = wallet.get("/credentials")
    assert response.status_code == 401
    assert _imsx_minor(response.get_json()) == "unauthorizedrequest"


def test_scope_not_granted_is_forbidden(wallet: Wallet, signed_in: As) -> None:
    access = wallet.connect(scope=S.PROFILE_READONLY)["access_token"]
    response = wallet.bearer("/credentials", access)
    assert response.status_code == 403
    assert _imsx_minor(response.get_json()) == "forbidden"
    assert wallet.bearer("/profile", access).status_code == 200


def test_bad_paging_parameters(wallet: Wallet, signed_in: As) -> None:
    access = wallet.connect()["access_token"]
    for query in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"since": "yesterday"}):
        response = wallet.bearer("/credentials", access, query_string=query)
        assert response.status_code == 400, query
        assert _imsx_minor(response.get_json()) == "invalid_query_parameter"


def test_tokens_are_stored_hashed(database: Database, wallet: Wallet, signed_in: As) -> None:
    tokens = wallet.connect()
    with database.read_session() as session:
        row = session.scalars(select(ObApiToken)).one()
        assert tokens["access_token"] not in (row.access_token_hash, row.refresh_token_hash)
        assert len(row.access_token_hash) == 64


# -- upsert ------------------------------------------------------------------------------


def test_upsert_is_refused_while_disabled(
    client: FlaskClient, wallet: Wallet, signed_in: As
) -> None:
    asked = client.post(
        API + "/register",
        json=registration(scope=f"{ALL_READ} {S.CREDENTIAL_UPSERT}"),
        base_url=TOOL_URL,
    )
    assert asked.status_code == 400
    assert asked.get_json()["error"] == "invalid_client_metadata"
    query = _redirect_error(wallet.authorize(wallet.authorize_params(scope=S.CREDENTIAL_UPSERT)))
    assert query["error"] == ["invalid_scope"]
    access = wallet.connect()["access_token"]
    posted = wallet.post(
        "/credentials", json={"id": "urn:x"}, headers={"Authorization": f"Bearer {access}"}
    )
    assert posted.status_code == 405
    assert _imsx_minor(posted.get_json()) == "not_allowed"


# -- registration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "override",
    [
        {"client_name": None},
        {"client_name": "   "},
        {"redirect_uris": None},
        {"redirect_uris": []},
        {"redirect_uris": ["http://wallet.example.org/cb"]},
        {"redirect_uris": ["https://wallet.example.org/cb#frag"]},
        {"redirect_uris": ["not a url"]},
        {"scope": None},
        {"scope": "https://purl.imsglobal.org/spec/ob/v3p0/scope/everything"},
        {"grant_types": ["client_credentials"]},
        {"token_endpoint_auth_method": "private_key_jwt"},
    ],
)
def test_registration_refuses_bad_metadata(client: FlaskClient, override: dict[str, Any]) -> None:
    response = client.post(API + "/register", json=registration(**override), base_url=TOOL_URL)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri")


def test_registration_accepts_loopback_http(client: FlaskClient) -> None:
    response = client.post(
        API + "/register",
        json=registration(redirect_uris=["http://127.0.0.1:8123/cb"]),
        base_url=TOOL_URL,
    )
    assert response.status_code == 201


# -- the first-party sign-in ---------------------------------------------------------------


def test_signin_link_works_once(student: As) -> None:
    started = student.post("/app/me/wallets/connect")
    link = urlsplit(started.location)
    first = student.client.get(link.path, query_string=link.query, base_url=TOOL_URL)
    assert first.status_code == 303
    again = student.client.get(link.path, query_string=link.query, base_url=TOOL_URL)
    assert again.status_code == 400
    assert 'data-testid="signin-expired"' in again.get_data(as_text=True)


def test_connect_needs_the_csrf_token(student: As) -> None:
    assert student.post("/app/me/wallets/connect", csrf=None).status_code == 400


def test_signed_in_page_without_pending_request(student: As) -> None:
    signed = sign_in(student)
    assert urlsplit(signed.location).path == API + "/signed-in"
    page = student.client.get(API + "/signed-in", base_url=TOOL_URL)
    assert page.status_code == 200
    assert "Ada Lovelace" in page.get_data(as_text=True)


# -- tenancy ---------------------------------------------------------------------------------


def test_learner_of_platform_a_never_sees_platform_b(
    client: FlaskClient,
    database: Database,
    launcher: Launcher,
    platform: TestPlatform,
    other_platform: TestPlatform,
    issuer: issuance.CredentialIssuer,
) -> None:
    learner_a = launch_as(launcher, "learner-1")
    learner_b = launch_as(Launcher(client, other_platform), "learner-1")  # same sub, other LMS
    award(database, platform.issuer, "learner-1", ["A only"])
    award(database, other_platform.issuer, "learner-1", ["B one", "B two"])

    wallet = register(client)
    sign_in(learner_a)
    access_a = wallet.connect()["access_token"]
    page = wallet.bearer("/credentials", access_a)
    assert page.headers["X-Total-Count"] == "1"
    names = [c["credentialSubject"]["achievement"]["name"] for c in page.get_json()["credential"]]
    assert names == ["A only"]
    assert wallet.bearer("/profile", access_a).get_json()["name"] == "Ada Lovelace"

    sign_in(learner_b)  # the browser now signs in as platform B's learner
    access_b = wallet.connect()["access_token"]
    page_b = wallet.bearer("/credentials", access_b)
    assert page_b.headers["X-Total-Count"] == "2"
    assert wallet.bearer("/profile", access_b).get_json()["name"] == "Bea Other"
    assert wallet.bearer("/credentials", access_a).headers["X-Total-Count"] == "1"


# -- the learner's page ----------------------------------------------------------------------


def test_learner_sees_and_disconnects_a_wallet(wallet: Wallet, signed_in: As) -> None:
    tokens = wallet.connect()
    page = signed_in.get("/app/me/wallets")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Example Wallet" in html and "wallet.example.org" in html
    gone = signed_in.post("/app/me/wallets/disconnect", {"client_id": wallet.client_id})
    assert gone.status_code == 303
    assert wallet.bearer("/credentials", tokens["access_token"]).status_code == 401
    refreshed = wallet.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.get_json()["error"] == "invalid_grant"
    assert "No wallet or HR portal is connected" in signed_in.get("/app/me/wallets").get_data(
        as_text=True
    )


def test_disconnect_of_unknown_client_is_404(signed_in: As) -> None:
    assert signed_in.post("/app/me/wallets/disconnect", {"client_id": "nope"}).status_code == 404


def test_learner_page_offers_to_connect_a_wallet(student: As) -> None:
    page = student.get("/app/me")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Connect a wallet or HR portal" in html
    assert f"/app/me/wallets?s={student.token}" in html


def test_clr_download_is_404_without_a_clr(student: As) -> None:
    # No CLR 2.0 context is configured in the test suite, so no CLR exists to download.
    assert student.get("/app/me/pathways/1/clr.json").status_code == 404
    assert "Comprehensive Learner Record" not in student.get("/app/me/pathways").get_data(
        as_text=True
    )


def test_expired_code_is_refused(database: Database, wallet: Wallet, signed_in: As) -> None:
    code = code_of(wallet.consent(wallet.authorize_params()), wallet.state)
    with database.session() as session:
        session.execute(
            update(ObApiAuthorizationCode).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    response = wallet.exchange(code)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_expired_signin_session_asks_to_sign_in_again(
    database: Database, wallet: Wallet, signed_in: As
) -> None:
    with database.session() as session:
        session.execute(update(ObApiSignIn).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = wallet.authorize(wallet.authorize_params())
    assert response.status_code == 401
    assert 'data-testid="signin-needed"' in response.get_data(as_text=True)


def test_scope_the_client_did_not_register(client: FlaskClient, signed_in: As) -> None:
    wallet = register(client, scope=S.PROFILE_READONLY)
    query = _redirect_error(wallet.authorize(wallet.authorize_params(S.CREDENTIAL_READONLY)))
    assert query["error"] == ["invalid_scope"]
    tokens = wallet.connect(scope=ALL_READ)  # narrowed to what it registered
    assert tokens["scope"] == S.PROFILE_READONLY


def test_since_filters_and_is_kept_in_links(
    database: Database, platform: TestPlatform, wallet: Wallet, signed_in: As
) -> None:
    award(database, platform.issuer, "learner-1", ["Old", "New"])
    with database.session() as session:
        session.execute(
            update(IssuedCredential)
            .where(IssuedCredential.learner_name != "")
            .values(issued_at=utcnow() - timedelta(days=10))
        )
        newest = session.scalars(
            select(IssuedCredential).order_by(IssuedCredential.id.desc())
        ).first()
        assert newest is not None
        newest.issued_at = utcnow()
    access = wallet.connect()["access_token"]
    since = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    page = wallet.bearer("/credentials", access, query_string={"since": since, "limit": 1})
    assert page.status_code == 200
    assert page.headers["X-Total-Count"] == "1"
    assert "since=" in page.headers["Link"]
    names = [c["credentialSubject"]["achievement"]["name"] for c in page.get_json()["credential"]]
    assert names == ["New"]


def test_old_codes_are_purged(database: Database, wallet: Wallet, signed_in: As) -> None:
    code_of(wallet.consent(wallet.authorize_params()), wallet.state)
    with database.session() as session:
        session.execute(
            update(ObApiAuthorizationCode).values(expires_at=utcnow() - timedelta(days=2))
        )
    code_of(wallet.consent(wallet.authorize_params()), wallet.state)
    with database.read_session() as session:
        assert len(session.scalars(select(ObApiAuthorizationCode)).all()) == 1
