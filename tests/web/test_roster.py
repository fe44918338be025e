"""Award to the whole roster: every NRPS page is fetched (outside any DB transaction), people
who never launched become users of the tenant, learners are awarded (source "roster").

The tool is served on loopback: the platform's token endpoint checks our client assertion
against the tool's published JWKS, as a real LMS does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from lti_tool.db import Database
from lti_tool.models import Enrollment, User
from lti_tool.settings import Settings, load_settings
from lti_tool.testplatform import ROLE_LEARNER, TestPlatform
from lti_tool.web import instructor

from ..conftest import SECRET_KEY
from ..support.served import free_port, serving
from .conftest import As, awards_of, create, text


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return load_settings(
        {},
        database_url=database.url,
        public_url=f"http://127.0.0.1:{free_port()}",
        secret_key=SECRET_KEY,
        instance_path=str(tmp_path),
    )


@pytest.fixture
def served(app: Flask, settings: Settings) -> Iterator[str]:
    port = int(settings.public_url.rsplit(":", 1)[1])
    with serving(app, port) as url:
        yield url


def test_roster_award_pages_through_nrps_and_creates_missing_users(
    served: str,
    platform: TestPlatform,
    teacher: As,
    student: As,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    platform.nrps_page_size = 4
    for i in range(10):
        platform.add_member(f"never-{i:02d}", f"Never Launched {i}", [ROLE_LEARNER])
    aid = create(teacher, "Attended")

    checked_out: list[int] = []
    real_roster = instructor.roster

    def watched(*args: Any) -> Iterator[Any]:
        for member in real_roster(*args):
            checked_out.append(database.engine.pool.checkedout())  # type: ignore[attr-defined]
            yield member

    monkeypatch.setattr(instructor, "roster", watched)
    response = teacher.post(f"/app/instructor/achievements/{aid}/roster")
    assert response.status_code == 303, text(response)
    # 10 new learners and the administrator, who never launched either
    assert "members=13" in response.location and "new_users=11" in response.location
    assert "created=11" in response.location  # 1 launched learner + 10 who never launched
    shown = text(teacher.client.get(response.location))
    assert "Roster members: 13; new to the tool: 11." in shown
    assert len(checked_out) == 13 and set(checked_out) == {0}  # no connection held open
    assert platform.token_requests == 1  # 4 pages, one token

    awarded = awards_of(database, aid)
    assert len(awarded) == 11 and {a.source for a in awarded} == {"roster"}
    with database.read_session() as session:
        subs = set(
            session.scalars(select(User.sub).where(User.id.in_([a.user_id for a in awarded])))
        )
        assert subs == {"learner-1"} | {f"never-{i:02d}" for i in range(10)}
        never = session.scalars(select(User).where(User.sub == "never-03")).one()
        assert never.name == "Never Launched 3" and never.email == "never-03@example.edu"
        roles = session.execute(
            select(Enrollment.role, func.count()).group_by(Enrollment.role)
        ).all()
    assert dict(roles) == {"learner": 11, "instructor": 1, "administrator": 1}

    # Awarding the roster again creates nothing new.
    again = teacher.post(f"/app/instructor/achievements/{aid}/roster")
    assert "created=0" in again.location and "new_users=0" in again.location
    assert len(awards_of(database, aid)) == 11
    # The new learners appear on the page of who earned it.
    assert "Never Launched 9" in text(teacher.get(f"/app/instructor/achievements/{aid}"))


def test_roster_award_refuses_evidence_required_without_calling_the_lms(
    served: str, platform: TestPlatform, teacher: As, database: Database
) -> None:
    aid = create(teacher, "Portfolio", evidence_required="on")
    response = teacher.post(f"/app/instructor/achievements/{aid}/roster")
    assert response.status_code == 422 and "requires evidence" in text(response)
    assert platform.token_requests == 0
    assert awards_of(database, aid) == []


def test_lms_refusing_the_roster_is_reported(
    served: str, platform: TestPlatform, teacher: As, database: Database
) -> None:
    aid = create(teacher)
    platform.client_id = "changed-on-the-platform-side"  # our token requests now fail
    response = teacher.post(f"/app/instructor/achievements/{aid}/roster")
    assert response.status_code == 502
    assert "did not hand over the course roster" in text(response)
    assert awards_of(database, aid) == []
