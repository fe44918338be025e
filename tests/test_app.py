"""App-wide behaviour: proxies, headers, error pages, SQLite WAL."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import text

from lti_tool.app import create_app
from lti_tool.db import Database
from lti_tool.settings import Settings
from tests.support.launcher import Launcher


def test_security_headers_allow_lms_framing(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/healthz")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors *" in csp and "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_error_pages_are_human_and_leak_nothing(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/no/such/page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "There is nothing at this address." in html
    assert client.get("/lti/launch").status_code == 405


def test_unexpected_errors_show_no_stack_trace(app: Flask) -> None:
    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "secret internals" not in html and "Traceback" not in html


def test_proxy_fix_makes_cookies_secure_behind_a_tls_proxy(
    settings: Settings, database: Database, launcher: Launcher
) -> None:
    import dataclasses

    # Public URL on plain http, but the proxy terminates TLS and says so.
    behind_proxy = dataclasses.replace(settings, public_url="http://tool.test", proxy_fix_hops=1)
    app = create_app(behind_proxy, database=database)
    params = launcher.platform.login_params("learner-1", target="http://tool.test/lti/launch")
    response = app.test_client().get(
        "/lti/login",
        query_string=params,
        base_url="http://tool.test",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
    )
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "SameSite=None" in cookie and "Partitioned" in cookie
    without_proxy_header = app.test_client().get(
        "/lti/login", query_string=params, base_url="http://tool.test"
    )
    assert "Secure" not in without_proxy_header.headers["Set-Cookie"]


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    sqlite = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    with sqlite.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    with sqlite.reader() as reader, sqlite.sessionmaker() as writer:
        # A read-only session does not hold the write lock: a writer proceeds meanwhile.
        reader.execute(text("SELECT 1"))
        writer.execute(text("CREATE TABLE t (x INTEGER)"))
        writer.commit()
    sqlite.dispose()
