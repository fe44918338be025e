"""The in-LMS admin page for API clients: administrators only, CSRF-protected, the secret
shown once (and working), tenant-scoped listing, revoke."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from tests.support.launcher import Launcher
from tests.web.conftest import As, launch_as, text

from .conftest import Api, make_tenant, request_token

PAGE = "/app/admin/api-clients"


def test_admin_registers_uses_and_revokes_a_client(launcher: Launcher, client: FlaskClient) -> None:
    admin = launch_as(launcher, "admin-1")
    assert admin.get(PAGE).status_code == 200
    created = admin.post(PAGE, {"name": "Workday", "scope": ["awards:read", "achievements:read"]})
    assert created.status_code == 200, text(created)
    html = text(created)
    client_id = re.search(r'data-testid="client-id">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    secret = re.search(r'data-testid="client-secret">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    token = request_token(client, client_id, secret)
    assert token.status_code == 200
    assert token.get_json()["scope"] == "awards:read achievements:read"
    api = Api(client, token.get_json()["access_token"])
    assert api.get("/api/v1/awards").status_code == 200

    listing = text(admin.get(PAGE))
    assert client_id in listing and secret not in listing

    revoked = admin.post(f"{PAGE}/{client_id}/revoke")
    assert revoked.status_code == 303
    assert api.get("/api/v1/awards").status_code == 401
    assert "revoked" in text(admin.get(PAGE))


def test_refusals(launcher: Launcher, client: FlaskClient) -> None:
    admin = launch_as(launcher, "admin-1")
    no_scope = admin.post(PAGE, {"name": "Nothing"})
    assert no_scope.status_code == 422
    assert "give at least one scope" in text(no_scope)
    forged = admin.post(PAGE, {"name": "X", "scope": "awards:read"}, csrf="0" * 64)
    assert forged.status_code == 400
    teacher = launch_as(launcher, "teacher-1")
    assert teacher.get(PAGE).status_code == 403
    assert teacher.post(PAGE, {"name": "X", "scope": "awards:read"}).status_code == 403
    learner = launch_as(launcher, "learner-1")
    assert learner.get(PAGE).status_code == 403


def test_other_tenants_clients_are_invisible_and_untouchable(
    launcher: Launcher, client: FlaskClient
) -> None:
    admin: As = launch_as(launcher, "admin-1")
    other = make_tenant(admin.database, 7)
    assert other.client_id not in text(admin.get(PAGE))
    assert admin.post(f"{PAGE}/{other.client_id}/revoke").status_code == 404
    assert request_token(client, other.client_id, other.secret).status_code == 200
