"""A tool served on loopback with a test LMS whose gradebook (AGS) and deep linking are real.

The LMS's token endpoint and deep-linking return verify the tool's signatures against the
tool's JWKS over HTTP, so the tool must be served, not only driven by the test client.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from lti_tool.app import create_app
from lti_tool.db import Database
from lti_tool.gradebook import GradebookJob
from lti_tool.keys import ensure_keys
from lti_tool.models import Achievement, Context, Platform, User
from lti_tool.platforms import add_platform
from lti_tool.services import Services
from lti_tool.settings import load_settings
from lti_tool.testplatform import TestPlatform

from ..conftest import SECRET_KEY
from .launcher import Launcher
from .served import free_port, serving


@dataclass
class World:
    app: Flask
    services: Services
    lms: TestPlatform
    launcher: Launcher

    @property
    def database(self) -> Database:
        return self.services.database

    def job(self) -> GradebookJob:
        return GradebookJob(self.services)

    def platform_id(self) -> int:
        with self.database.read_session() as session:
            return session.scalars(
                select(Platform.id).where(Platform.issuer == self.lms.issuer)
            ).one()

    def context_id(self) -> int:
        with self.database.read_session() as session:
            return session.scalars(select(Context.id)).one()

    def user_id(self, sub: str) -> int:
        with self.database.read_session() as session:
            return session.scalars(select(User.id).where(User.sub == sub)).one()

    def achievement(self, name: str = "Python basics", **values: object) -> int:
        """An achievement of the course (the course exists after a first launch)."""
        with self.database.session() as session:
            found = Achievement(
                platform_id=self.platform_id(),
                context_id=self.context_id(),
                name=name,
                description=f"Shows {name}.",
                criteria_narrative=f"Score well in {name}.",
                **values,
            )
            session.add(found)
            session.flush()
            return found.id


@pytest.fixture
def world(database: Database, tmp_path: Path) -> Iterator[World]:
    port = free_port()
    settings = load_settings(
        {},
        database_url=database.url,
        public_url=f"http://127.0.0.1:{port}",
        secret_key=SECRET_KEY,
        instance_path=str(tmp_path),
    )
    app = create_app(settings, database=database)
    app.config["TESTING"] = False
    services: Services = app.extensions["microcred"]
    with database.session() as session:
        ensure_keys(session, services.secretbox)
    lms = TestPlatform(tool_url=settings.public_url).serve()
    lms.add_classroom()
    with database.session() as session:
        add_platform(session, **lms.registration())
    with serving(app, port):
        yield World(app, services, lms, Launcher(app.test_client(), lms))
    lms.stop()
