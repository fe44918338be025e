"""Helpers for the credential-domain tests: tenants, learners, achievements.

Every test here runs on SQLite and, with MICROCRED_TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from lti_tool.credentials.achievements import create_achievement
from lti_tool.db import Database
from lti_tool.models import Achievement, Platform, User
from lti_tool.platforms import add_platform

ADMIN = "admin:test"


def make_platform(session: Session, n: int = 1) -> Platform:
    platform, _ = add_platform(
        session,
        issuer=f"https://lms{n}.example.edu",
        client_id=f"client-{n}",
        auth_login_url=f"https://lms{n}.example.edu/auth",
        auth_token_url=f"https://lms{n}.example.edu/token",
        key_set_url=f"https://lms{n}.example.edu/jwks",
        deployment_ids=["dep-1"],
        name=f"LMS {n}",
    )
    return platform


def make_user(session: Session, platform: Platform, sub: str, **fields: Any) -> User:
    user = User(platform_id=platform.id, sub=sub, name=fields.pop("name", sub), **fields)
    session.add(user)
    session.flush()
    return user


def make_achievement(
    session: Session, platform: Platform, name: str = "Python basics", **fields: Any
) -> Achievement:
    data = {
        "name": name,
        "description": f"Shows {name}.",
        "criteria_narrative": f"Complete the {name} module.",
        **fields,
    }
    return create_achievement(session, platform, data, actor=ADMIN)


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    """One unit of work the test commits or rolls back itself (rolled back at the end)."""
    s = database.sessionmaker()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


@pytest.fixture
def tenant(session: Session) -> Platform:
    return make_platform(session, 1)


@pytest.fixture
def learner(session: Session, tenant: Platform) -> User:
    return make_user(session, tenant, "learner-1", email="ada@example.edu")
