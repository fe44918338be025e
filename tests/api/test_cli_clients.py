"""`microcred api-clients add|list|revoke`, run as an operator would; the secret printed
once gets a token, and revoking the client ends it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask.testing import FlaskClient

from lti_tool.cli import main
from lti_tool.db import Database
from tests.conftest import SECRET_KEY

from .conftest import Api, Tenant, request_token


@pytest.fixture
def run(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    monkeypatch.setenv("MICROCRED_DATABASE_URL", database.url)
    monkeypatch.setenv("MICROCRED_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("MICROCRED_INSTANCE_PATH", str(tmp_path))

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_add_list_revoke(run: Callable[..., Result], client: FlaskClient, tenant_a: Tenant) -> None:
    added = run(
        "api-clients", "add", "--platform-id", str(tenant_a.platform_id),
        "--name", "Workday sync", "--scope", "awards:read", "--scope", "learners:read",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    client_id = re.search(r"client_id:\s+(\S+)", added.output).group(1)  # type: ignore[union-attr]
    secret = re.search(r"client_secret:\s+(\S+)", added.output).group(1)  # type: ignore[union-attr]
    token = request_token(client, client_id, secret)
    assert token.status_code == 200
    assert token.get_json()["scope"] == "awards:read learners:read"
    api = Api(client, token.get_json()["access_token"])
    assert api.get("/api/v1/awards").status_code == 200

    listed = json.loads(run("api-clients", "list", "--json").output)
    mine = next(row for row in listed if row["client_id"] == client_id)
    assert mine["name"] == "Workday sync" and mine["revoked_at"] is None
    assert secret not in run("api-clients", "list").output

    revoked = run("api-clients", "revoke", client_id)
    assert revoked.exit_code == 0
    assert api.get("/api/v1/awards").status_code == 401
    assert "revoked" in run("api-clients", "list").output


def test_refusals(run: Callable[..., Result], tenant_a: Tenant) -> None:
    bad_scope = run(
        "api-clients", "add", "--platform-id", str(tenant_a.platform_id), "--name", "x",
        "--scope", "everything",
    )  # fmt: skip
    assert bad_scope.exit_code == 2
    assert "unknown scope(s) everything" in bad_scope.output
    no_platform = run(
        "api-clients", "add", "--platform-id", "999", "--name", "x", "--scope", "awards:read"
    )
    assert no_platform.exit_code == 2
    assert "no platform 999" in no_platform.output
    unknown = run("api-clients", "revoke", "mc_nobody")
    assert unknown.exit_code == 2
