"""Fixtures for the REST API tests: two tenants (A and B) with learners and achievements, an
API client per tenant, and a helper that gets real tokens from the token endpoint.

Every test here runs on SQLite and, with MICROCRED_TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from lti_tool.api.clients import add_client
from lti_tool.db import Database
from lti_tool.models.api_clients import SCOPES
from tests.credentials.conftest import make_achievement, make_platform, make_user

BASE = "https://tool.test"  # the token endpoint wants https (Authlib refuses plain http)


@dataclass
class Tenant:
    platform_id: int
    learner_ids: list[int]
    achievement_id: int
    client_id: str
    secret: str


@dataclass
class Api:
    """Calls the API as one client, with a bearer token for the scopes asked for."""

    http: FlaskClient
    token: str

    def call(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.http.open(path, method=method, base_url=BASE, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("DELETE", path, **kwargs)


def request_token(
    http: FlaskClient, client_id: str, secret: str, scope: str | None = None
) -> TestResponse:
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    return http.post("/api/v1/oauth/token", base_url=BASE, data=data, auth=(client_id, secret))


def make_tenant(database: Database, n: int, scopes: Iterable[str] = SCOPES) -> Tenant:
    with database.session() as session:
        platform = make_platform(session, n)
        learners = [
            make_user(
                session,
                platform,
                f"learner-{n}-{i}",
                email=f"learner{i}@lms{n}.example.edu",
                person_sourcedid=f"HR-{n}-{i}",
                hr_ids={"employee_id": f"E{n}{i:03d}"},
            )
            for i in range(3)
        ]
        achievement = make_achievement(session, platform, f"Skill of tenant {n}")
        client, secret = add_client(
            session, platform_id=platform.id, name=f"HR {n}", scopes=scopes, created_by="test"
        )
        return Tenant(
            platform_id=platform.id,
            learner_ids=[u.id for u in learners],
            achievement_id=achievement.id,
            client_id=client.client_id,
            secret=secret,
        )


@pytest.fixture
def tenant_a(database: Database) -> Tenant:
    return make_tenant(database, 1)


@pytest.fixture
def tenant_b(database: Database) -> Tenant:
    return make_tenant(database, 2)


@pytest.fixture
def api_as(client: FlaskClient) -> Callable[..., Api]:
    def make(tenant: Tenant, scope: str | None = None) -> Api:
        response = request_token(client, tenant.client_id, tenant.secret, scope)
        assert response.status_code == 200, response.get_data(as_text=True)
        return Api(client, response.get_json()["access_token"])

    return make


@pytest.fixture
def api_a(api_as: Callable[..., Api], tenant_a: Tenant) -> Api:
    return api_as(tenant_a)


@pytest.fixture
def api_b(api_as: Callable[..., Api], tenant_b: Tenant) -> Api:
    return api_as(tenant_b)


def award_body(tenant: Tenant, learner: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "achievement_id": tenant.achievement_id,
        "learner": {"id": tenant.learner_ids[learner]},
        **extra,
    }
