"""Drive the OB 3.0 API as a wallet would: register (RFC 7591), send the learner to the
authorization endpoint with PKCE, let the learner sign in first-party and consent, exchange
the code, call the resources. Everything goes through the Flask test client (no network)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft201909Validator
from sqlalchemy import select
from werkzeug.test import TestResponse

from lti_tool.credentials import awards as svc
from lti_tool.credentials import issuance
from lti_tool.db import Database
from lti_tool.models import Platform, User
from lti_tool.obapi import scopes as S
from tests.conftest import TOOL_URL
from tests.credentials.conftest import ADMIN, make_achievement
from tests.support.launcher import Launcher
from tests.web.conftest import As, launch_as
from tests.web.conftest import other_platform as other_platform  # a second LMS (tenant)

API = "/ims/ob/v3p0"
REDIRECT = "https://wallet.example.org/callback"
ALL_READ = f"{S.CREDENTIAL_READONLY} {S.PROFILE_READONLY}"
SCHEMAS = Path(__file__).parent / "schemas"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@cache
def validator(name: str) -> Draft201909Validator:
    return Draft201909Validator(json.loads((SCHEMAS / name).read_text()))


def schema_errors(name: str, body: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator(name).iter_errors(body)]


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@dataclass
class Wallet:
    """A registered OB 3.0 client, talking to the tool through the test client."""

    http: FlaskClient
    client_id: str
    client_secret: str
    redirect_uri: str = REDIRECT
    verifier: str = ""
    state: str = field(default_factory=lambda: secrets.token_urlsafe(8))

    def get(self, path: str, **kw: Any) -> TestResponse:
        return self.http.get(API + path, base_url=TOOL_URL, **kw)

    def post(self, path: str, **kw: Any) -> TestResponse:
        return self.http.post(API + path, base_url=TOOL_URL, **kw)

    def authorize_params(self, scope: str = ALL_READ, **overrides: str | None) -> dict[str, str]:
        self.verifier, challenge = pkce_pair()
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": scope,
            "state": self.state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, params: dict[str, str]) -> TestResponse:
        return self.get("/authorize", query_string=params)

    def consent(self, params: dict[str, str], decision: str = "approve") -> TestResponse:
        page = self.authorize(params)
        assert page.status_code == 200, page.get_data(as_text=True)
        match = CSRF.search(page.get_data(as_text=True))
        assert match
        return self.post(
            "/authorize",
            query_string=params,
            data={"csrf": match.group(1), "decision": decision},
        )

    def token(self, **form: str) -> TestResponse:
        return self.post("/token", data=form, headers=basic(self.client_id, self.client_secret))

    def exchange(self, code: str, **overrides: str) -> TestResponse:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier,
            **overrides,
        }
        return self.token(**{k: v for k, v in form.items() if v is not None})

    def connect(self, scope: str = ALL_READ) -> dict[str, Any]:
        """Authorize (the browser is signed in already) and exchange: the token response."""
        answer = self.consent(self.authorize_params(scope))
        code = code_of(answer, self.state)
        response = self.exchange(code)
        assert response.status_code == 200, response.get_data(as_text=True)
        tokens: dict[str, Any] = response.get_json()
        return tokens

    def bearer(self, path: str, access_token: str, **kw: Any) -> TestResponse:
        return self.get(path, headers={"Authorization": f"Bearer {access_token}"}, **kw)


def code_of(response: TestResponse, state: str) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)
    location = urlsplit(response.location)
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == [state]
    return query["code"][0]


def registration(**overrides: Any) -> dict[str, Any]:
    body = {
        "client_name": "Example Wallet",
        "client_uri": "https://wallet.example.org",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": ALL_READ,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def register(http: FlaskClient, **overrides: Any) -> Wallet:
    response = http.post(API + "/register", json=registration(**overrides), base_url=TOOL_URL)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    return Wallet(http, body["client_id"], body["client_secret"])


def sign_in(learner: As) -> TestResponse:
    """The learner page's 'Connect a wallet' button, then the link it opens top-level."""
    started = learner.post("/app/me/wallets/connect")
    assert started.status_code == 303, started.get_data(as_text=True)
    link = urlsplit(started.location)
    assert link.path == API + "/signin"
    return learner.client.get(link.path, query_string=link.query, base_url=TOOL_URL)


def award(database: Database, issuer: str, sub: str, names: list[str]) -> None:
    """Award achievements (new, one per name) to ``sub`` of the platform ``issuer``: each
    award gets its signed credential from the installed issuer (award listener)."""
    with database.session() as session:
        platform = session.scalars(select(Platform).where(Platform.issuer == issuer)).one()
        learner = session.scalars(
            select(User).where(User.platform_id == platform.id, User.sub == sub)
        ).one()
        for name in names:
            achievement = make_achievement(session, platform, name)
            svc.award(session, achievement, learner, source="manual", actor=ADMIN)


@pytest.fixture
def issuer(app: Flask) -> issuance.CredentialIssuer:
    found: issuance.CredentialIssuer = app.extensions["microcred.issuer"]
    return found


@pytest.fixture
def student(launcher: Launcher) -> As:
    return launch_as(launcher, "learner-1")


@pytest.fixture
def wallet(client: FlaskClient) -> Wallet:
    return register(client)
