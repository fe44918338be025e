"""Fixtures: a migrated database (SQLite by default, PostgreSQL when asked), the app, a
test LTI platform serving real keys over loopback, and a launch driver.

Set MICROCRED_TEST_DATABASE_URL to run the database tests on another backend, e.g.
postgresql://postgres@127.0.0.1:5432/test. With MICROCRED_TEST_REQUIRE_NO_SKIPS=1 any
skipped test fails the run (CI uses it so the PostgreSQL pass cannot silently skip).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, text

from lti_tool import migrate
from lti_tool.app import create_app
from lti_tool.db import Database
from lti_tool.keys import ensure_keys, new_tool_key
from lti_tool.models import Base, ToolKey
from lti_tool.models.keys import KEY_CURRENT, KEY_NEXT
from lti_tool.platforms import add_platform
from lti_tool.secretbox import SecretBox
from lti_tool.settings import Settings, load_settings
from lti_tool.testplatform import SigningKey as PlatformSigningKey
from lti_tool.testplatform import TestPlatform

from .support.launcher import Launcher

TOOL_URL = "https://tool.test"
SECRET_KEY = "test-secret-key-" + "x" * 32


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "database" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("MICROCRED_TEST_REQUIRE_NO_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        print(f"\nMICROCRED_TEST_REQUIRE_NO_SKIPS: {skipped} test(s) skipped -> failing the run")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("MICROCRED_TEST_DATABASE_URL")
    if url:
        return load_settings(
            {"MICROCRED_DATABASE_URL": url, "MICROCRED_SECRET_KEY": SECRET_KEY}
        ).database_url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    if not database.is_sqlite:
        # Start from an empty schema so the migrations themselves are tested.
        with database.engine.begin() as conn:
            for table in reversed(inspect(conn).get_table_names()):
                conn.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    migrate.upgrade(database)
    assert migrate.pending_revisions(database) == []
    yield database
    database.dispose()


@pytest.fixture
def database(migrated_database: Database) -> Iterator[Database]:
    yield migrated_database
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with migrated_database.engine.begin() as conn:
        if migrated_database.is_sqlite:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))
        else:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return load_settings(
        {},
        database_url=database.url,
        public_url=TOOL_URL,
        secret_key=SECRET_KEY,
        instance_path=str(tmp_path),
    )


@pytest.fixture(scope="session")
def tool_key_rows() -> list[dict[str, object]]:
    """The tool's current and next keys, generated once (RSA generation costs ~160 ms)."""
    box = SecretBox(SECRET_KEY)
    rows = [new_tool_key(box, status) for status in (KEY_CURRENT, KEY_NEXT)]
    return [
        {c: getattr(row, c) for c in ("kid", "status", "private_key_encrypted", "public_jwk")}
        for row in rows
    ]


@pytest.fixture(scope="session")
def platform_key() -> PlatformSigningKey:
    return PlatformSigningKey.generate()


@pytest.fixture
def app(settings: Settings, database: Database, tool_key_rows: list[dict[str, object]]) -> Flask:
    app = create_app(settings, database=database)
    app.config["TESTING"] = False  # exercise the real error handlers
    with database.session() as session:
        session.add_all(ToolKey(**row) for row in tool_key_rows)  # type: ignore[arg-type]
        ensure_keys(session, SecretBox(settings.secret_key))
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def platform(
    database: Database, settings: Settings, platform_key: PlatformSigningKey
) -> Iterator[TestPlatform]:
    lms = TestPlatform(tool_url=settings.public_url, keys=[platform_key]).serve()
    lms.add_classroom()
    with database.session() as session:
        add_platform(session, **lms.registration())
    yield lms
    lms.stop()


@pytest.fixture
def launcher(client: FlaskClient, platform: TestPlatform) -> Launcher:
    return Launcher(client, platform)
