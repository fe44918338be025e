"""`microcred` commands, run as an operator would (environment configures them)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from lti_tool.cli import main
from lti_tool.db import Database

from .conftest import SECRET_KEY


@pytest.fixture
def run(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MICROCRED_DATABASE_URL", database.url)
    monkeypatch.setenv("MICROCRED_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("MICROCRED_INSTANCE_PATH", str(tmp_path))

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


PLATFORM = [
    "--issuer",
    "https://canvas.instructure.com",
    "--client-id",
    "10000000000001",
    "--auth-login-url",
    "https://sso.canvaslms.com/api/lti/authorize_redirect",
    "--auth-token-url",
    "https://sso.canvaslms.com/login/oauth2/token",
    "--key-set-url",
    "https://sso.canvaslms.com/api/lti/security/jwks",
    "--deployment-id",
    "1:abc",
]


def test_platforms_add_list_remove(run) -> None:  # type: ignore[no-untyped-def]
    result = run("platforms", "add", *PLATFORM, "--deployment-id", "2:def", "--name", "Canvas")
    assert result.exit_code == 0, result.output
    assert "Registered platform" in result.output
    again = run("platforms", "add", *PLATFORM, "--deployment-id", "3:ghi")
    assert "Updated platform" in again.output
    listed = json.loads(run("platforms", "list", "--json").output)
    assert len(listed) == 1
    assert listed[0]["deployment_ids"] == ["1:abc", "2:def", "3:ghi"]
    assert listed[0]["name"] == "Canvas"
    assert "canvas.instructure.com" in run("platforms", "list").output
    result = run(
        "platforms",
        "remove",
        "--issuer",
        "https://canvas.instructure.com",
        "--client-id",
        "10000000000001",
        "--deployment-id",
        "2:def",
    )
    assert result.exit_code == 0
    listed = json.loads(run("platforms", "list", "--json").output)
    assert listed[0]["deployment_ids"] == ["1:abc", "3:ghi"]
    result = run(
        "platforms",
        "remove",
        "--issuer",
        "https://canvas.instructure.com",
        "--client-id",
        "10000000000001",
        "--yes",
    )
    assert result.exit_code == 0
    assert json.loads(run("platforms", "list", "--json").output) == []


def test_platforms_add_rejects_bad_values(run) -> None:  # type: ignore[no-untyped-def]
    bad = [
        a if a != "https://sso.canvaslms.com/login/oauth2/token" else "not a url" for a in PLATFORM
    ]
    result = run("platforms", "add", *bad)
    assert result.exit_code == 2
    assert "--auth-token-url: Not a valid URL." in result.output
    assert json.loads(run("platforms", "list", "--json").output) == []


def test_platforms_add_requires_a_deployment(run) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["platforms", "add", *PLATFORM[:-2]])
    assert result.exit_code == 2
    assert "--deployment-id" in result.output


def test_remove_unknown(run) -> None:  # type: ignore[no-untyped-def]
    result = run("platforms", "remove", "--issuer", "https://x", "--client-id", "y", "--yes")
    assert result.exit_code == 2
    assert "no platform registered" in result.output


def test_keys_rotate_and_prune(run) -> None:  # type: ignore[no-untyped-def]
    before = run("keys", "list").output.splitlines()
    assert [line.split()[1] for line in before] == ["current", "next"]
    rotated = run("keys", "rotate")
    assert rotated.exit_code == 0 and "Signing key is now" in rotated.output
    statuses = sorted(line.split()[1] for line in run("keys", "list").output.splitlines())
    assert statuses == ["current", "next", "retired"]
    assert "Removed 1 retired key" in run("keys", "prune").output


def test_commands_refuse_an_outdated_schema(
    run,
    database: Database,  # type: ignore[no-untyped-def]
) -> None:
    with database.engine.begin() as conn:
        current = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        conn.execute(text("DELETE FROM alembic_version"))
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0002')"))
    try:
        result = CliRunner().invoke(main, ["platforms", "list"])
        assert result.exit_code == 2
        assert "run `microcred db upgrade` first" in result.output
        with database.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'from-the-future'"))
        result = CliRunner().invoke(main, ["platforms", "list"])
        assert result.exit_code == 2
        assert "does not know" in result.output
    finally:
        with database.engine.begin() as conn:
            conn.execute(text("DELETE FROM alembic_version"))
            for version in current:
                conn.execute(
                    text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": version}
                )


def test_configuration_errors_are_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROCRED_PUBLIC_URL", "not-a-url")
    result = CliRunner().invoke(main, ["platforms", "list"])
    assert result.exit_code == 2
    assert "configuration error: MICROCRED_PUBLIC_URL" in result.output
    assert "Traceback" not in result.output


def test_a_worker_waits_for_an_unreachable_database_then_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.served import free_port

    password = "hunter2-not-in-output"
    url = f"postgresql+psycopg://microcred:{password}@127.0.0.1:{free_port()}/microcred"
    monkeypatch.setenv("MICROCRED_DATABASE_URL", url)
    monkeypatch.setenv("MICROCRED_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("MICROCRED_INSTANCE_PATH", str(tmp_path))
    started = time.monotonic()
    result = CliRunner().invoke(main, ["worker", "--wait-for-database", "0.6"])
    assert result.exit_code == 2
    assert time.monotonic() - started >= 0.6
    assert "the database is not reachable yet; retrying" in result.output
    assert "microcred: the database is not reachable:" in result.output
    assert "Traceback" not in result.output and password not in result.output
