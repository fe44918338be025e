"""The whole OB 3.0 API journey: registration -> authorization with the learner's first-party
sign-in and consent -> PKCE token -> getCredentials paging -> getProfile -> refresh -> revoke."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient

from lti_tool.credentials import issuance
from lti_tool.db import Database
from lti_tool.testplatform import TestPlatform
from tests.web.conftest import As

from .conftest import (
    API,
    REDIRECT,
    Wallet,
    award,
    basic,
    code_of,
    registration,
    schema_errors,
    sign_in,
)


def test_discovery_document(client: FlaskClient) -> None:
    response = client.get(API + "/discovery", base_url="https://tool.test")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["x-imssf-privacyPolicyUrl"].startswith("https://tool.test")
    assert doc["info"]["x-imssf-image"] == "https://tool.test/static/icon.svg"
    scheme = doc["components"]["securitySchemes"]["OAuth2ACG"]
    assert scheme["type"] == "oauth2"
    assert scheme["x-imssf-registrationUrl"] == "https://tool.test/ims/ob/v3p0/register"
    flow = scheme["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == "https://tool.test/ims/ob/v3p0/authorize"
    assert flow["tokenUrl"] == flow["refreshUrl"] == "https://tool.test/ims/ob/v3p0/token"
    assert set(flow["scopes"]) == {
        "https://purl.imsglobal.org/spec/ob/v3p0/scope/credential.readonly",
        "https://purl.imsglobal.org/spec/ob/v3p0/scope/profile.readonly",
    }
    assert "post" not in doc["paths"]["/credentials"]  # upsert is disabled by default


def test_full_journey(
    client: FlaskClient,
    database: Database,
    platform: TestPlatform,
    student: As,
    issuer: issuance.CredentialIssuer,
) -> None:
    award(database, platform.issuer, "learner-1", ["Python", "SQL", "Git"])

    # 1. The wallet registers itself (RFC 7591): a client id and a secret.
    registered = client.post(API + "/register", json=registration(), base_url="https://tool.test")
    assert registered.status_code == 201
    body = registered.get_json()
    assert body["client_name"] == "Example Wallet" and body["redirect_uris"] == [REDIRECT]
    assert body["client_secret_expires_at"] == 0
    wallet = Wallet(client, body["client_id"], body["client_secret"])

    # 2. It opens the authorization endpoint; this browser is not signed in to the tool.
    params = wallet.authorize_params()
    first = wallet.authorize(params)
    assert first.status_code == 401
    assert "Connect a wallet" in first.get_data(as_text=True)
    assert "Example Wallet" in first.get_data(as_text=True)

    # 3. The learner chooses "Connect a wallet" in the course: the sign-in link sets a
    #    first-party cookie and continues the waiting authorization request.
    signed = sign_in(student)
    assert signed.status_code == 303
    cookie = signed.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookie if c.startswith("microcred_obapi="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert "Secure" in session_cookie  # the public URL is https
    continued = urlsplit(signed.location)
    assert continued.path == API + "/authorize"
    assert parse_qs(continued.query)["client_id"] == [wallet.client_id]

    # 4. Consent page: client name, redirect host, scopes; approve.
    page = wallet.authorize(params)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Example Wallet" in html and "wallet.example.org" in html
    assert "Permission to read your credentials" in html and "Ada Lovelace" in html
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]  # no clickjacking
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    code = code_of(wallet.consent(params), wallet.state)

    # 5. Code + PKCE verifier -> tokens.
    exchanged = wallet.exchange(code)
    assert exchanged.status_code == 200, exchanged.get_data(as_text=True)
    tokens = exchanged.get_json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert set(tokens["scope"].split()) == set(params["scope"].split())
    access = tokens["access_token"]

    # 6. getCredentials, two per page.
    first_page = wallet.bearer("/credentials", access, query_string={"limit": 2})
    assert first_page.status_code == 200
    assert first_page.headers["X-Total-Count"] == "3"
    link = first_page.headers["Link"]
    assert '<https://tool.test/ims/ob/v3p0/credentials?limit=2&offset=2>; rel="next"' in link
    assert 'rel="last"' in link and 'rel="first"' in link and 'rel="prev"' not in link
    page_one = first_page.get_json()
    assert schema_errors("ob_v3p0_getopenbadgecredentialsresponse_schema.json", page_one) == []
    second_page = wallet.bearer("/credentials", access, query_string={"limit": 2, "offset": 2})
    assert second_page.status_code == 200
    assert 'rel="next"' not in second_page.headers["Link"]
    assert 'rel="prev"' in second_page.headers["Link"]
    received = page_one["credential"] + second_page.get_json()["credential"]
    names = sorted(c["credentialSubject"]["achievement"]["name"] for c in received)
    assert names == ["Git", "Python", "SQL"]
    with database.read_session() as session:
        for credential in received:  # what the wallet got is what we signed: it verifies
            report = issuance.Verifier(issuer).verify(session, credential)
            assert report.verified, report.as_json()

    # 7. getProfile.
    profile = wallet.bearer("/profile", access)
    assert profile.status_code == 200
    body = profile.get_json()
    assert schema_errors("ob_v3p0_profile_schema.json", body) == []
    assert body["name"] == "Ada Lovelace" and body["email"] == "learner-1@example.edu"
    assert body["id"].startswith("urn:uuid:")

    # 8. Refresh: a new pair; the old refresh token no longer works.
    refreshed = wallet.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    new = refreshed.get_json()
    assert new["access_token"] != access and new["refresh_token"] != tokens["refresh_token"]
    again = wallet.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    assert wallet.bearer("/credentials", access).status_code == 401  # rotated out

    # 9. Revocation (RFC 7009): the access token stops working at once.
    revoked = wallet.post(
        "/revoke",
        data={"token": new["access_token"], "token_type_hint": "access_token"},
        headers=basic(wallet.client_id, wallet.client_secret),
    )
    assert revoked.status_code == 200
    refused = wallet.bearer("/credentials", new["access_token"])
    assert refused.status_code == 401
    assert schema_errors("ob_v3p0_imsx_statusinfo_schema.json", refused.get_json()) == []
    assert (
        refused.get_json()["imsx_codeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]
        == "unauthorizedrequest"
    )
    assert "Bearer" in refused.headers["WWW-Authenticate"]
