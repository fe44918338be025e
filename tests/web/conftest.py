"""Helpers for the in-LMS page tests: launch as someone, post forms with the CSRF token."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from lti_tool.db import Database
from lti_tool.models import Achievement, Award, User
from lti_tool.platforms import add_platform
from lti_tool.settings import Settings
from lti_tool.testplatform import ROLE_INSTRUCTOR, ROLE_LEARNER, TestPlatform
from lti_tool.testplatform import SigningKey as PlatformSigningKey

from ..conftest import SECRET_KEY
from ..support.launcher import Launcher

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@dataclass
class As:
    """One launched user: GET and POST in-LMS pages with their session token."""

    client: FlaskClient
    url: str  # /app?s=<token>

    @property
    def database(self) -> Database:
        database: Database = self.client.application.extensions["microcred"].database
        return database

    @property
    def token(self) -> str:
        return self.url.split("s=", 1)[1]

    def get(self, path: str, **query: Any) -> TestResponse:
        return self.client.get(path, query_string={"s": self.token, **query})

    def csrf(self) -> str:
        """What the tool puts in its forms: HMAC-SHA256 of the session token (app secret)."""
        message = b"microcred-csrf:" + self.token.encode()
        return hmac.new(SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: str | None = "auto", **kw: Any
    ) -> TestResponse:
        form = dict(data or {})
        if csrf == "auto":
            form["csrf"] = self.csrf()
        elif csrf is not None:
            form["csrf"] = csrf
        return self.client.post(path, query_string={"s": self.token}, data=form, **kw)


def launch_as(launcher: Launcher, sub: str) -> As:
    return As(launcher.client, launcher.page_url(launcher.land(sub)))


@pytest.fixture
def teacher(launcher: Launcher) -> As:
    return launch_as(launcher, "teacher-1")


@pytest.fixture
def student(launcher: Launcher) -> As:
    return launch_as(launcher, "learner-1")


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def achievement_form(name: str = "Python basics", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"Shows {name}.",
        "criteria_narrative": f"Complete the {name} module.",
        "alignment_count": "1",
        **extra,
    }


def create(teacher: As, name: str = "Python basics", **extra: Any) -> int:
    response = teacher.post("/app/instructor/achievements/new", achievement_form(name, **extra))
    assert response.status_code == 303, text(response)
    match = re.search(r"/achievements/(\d+)", response.location)
    assert match
    return int(match.group(1))


def user_id(database: Database, sub: str) -> int:
    with database.read_session() as session:
        # The first platform's user (tests with two platforms ask for the other explicitly).
        return session.scalars(
            select(User.id).where(User.sub == sub).order_by(User.platform_id).limit(1)
        ).one()


def awards_of(database: Database, achievement_id: int) -> list[Award]:
    with database.read_session() as session:
        rows = list(
            session.scalars(
                select(Award).where(Award.achievement_id == achievement_id).order_by(Award.id)
            )
        )
        session.expunge_all()  # keep the loaded values after the read transaction ends
        return rows


def achievements(database: Database) -> list[Achievement]:
    with database.read_session() as session:
        rows = list(session.scalars(select(Achievement).order_by(Achievement.id)))
        session.expunge_all()
        return rows


@pytest.fixture
def other_platform(
    database: Database, settings: Settings, platform_key: PlatformSigningKey
) -> Iterator[TestPlatform]:
    """A second LMS (tenant) registered in the same tool, with the same course id."""
    lms = TestPlatform(tool_url=settings.public_url, keys=[platform_key], name="Other LMS")
    lms.serve()
    lms.add_member("learner-1", "Bea Other", [ROLE_LEARNER])
    lms.add_member("teacher-1", "Tom Other", [ROLE_INSTRUCTOR])
    with database.session() as session:
        add_platform(
            session,
            issuer=lms.issuer,
            client_id=lms.client_id,
            auth_login_url=lms.auth_login_url,
            auth_token_url=lms.auth_token_url,
            key_set_url=lms.key_set_url,
            deployment_ids=[lms.deployment_id],
            name=lms.name,
        )
    yield lms
    lms.stop()
