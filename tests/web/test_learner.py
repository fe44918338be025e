"""Learner pages: my credentials by state, one credential's details, pathway progress as an
accessible server-rendered SVG. Runs on SQLite and PostgreSQL (`database`)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from lti_tool.credentials.pathways import define_pathway
from lti_tool.db import Database
from lti_tool.models import Award, Platform, utcnow
from lti_tool.testplatform import TestPlatform

from ..support.launcher import Launcher
from .conftest import As, awards_of, create, launch_as, text, user_id


def _give(teacher: As, aid: int, sub: str = "learner-1", **extra: str) -> int:
    learner = str(user_id(teacher.database, sub))
    response = teacher.post(
        f"/app/instructor/achievements/{aid}/award", {"user_id": learner, **extra}
    )
    assert response.status_code == 303, text(response)
    return next(a for a in awards_of(teacher.database, aid) if a.user_id == int(learner)).id


def test_my_credentials_grouped_by_state(teacher: As, student: As, database: Database) -> None:
    active = create(teacher, "Active one")
    expired = create(teacher, "Expired one", validity_days="30")
    suspended = create(teacher, "Suspended one")
    revoked = create(teacher, "Revoked one")
    for aid in (active, expired, suspended, revoked):
        _give(teacher, aid)
    with database.session() as session:
        session.execute(
            update(Award)
            .where(Award.achievement_id == expired)
            .values(expires_at=utcnow() - timedelta(days=1))
        )
    suspended_award = awards_of(database, suspended)[0].id
    revoked_award = awards_of(database, revoked)[0].id
    teacher.post(f"/app/instructor/awards/{suspended_award}/suspend", {"reason": "Check <b>"})
    teacher.post(f"/app/instructor/awards/{revoked_award}/revoke", {"reason": "Copied work"})

    page = text(student.get("/app/me"))
    sections = {
        name: re.search(rf'data-testid="{name}">(.*?)</ul>', page, flags=re.S)
        for name in ("active", "expired", "withdrawn")
    }
    assert all(sections.values()), page
    assert "Active one" in sections["active"].group(1)  # type: ignore[union-attr]
    assert "Expired one" in sections["expired"].group(1)  # type: ignore[union-attr]
    withdrawn = sections["withdrawn"].group(1)  # type: ignore[union-attr]
    assert "Suspended: Check &lt;b&gt;" in withdrawn and "Revoked: Copied work" in withdrawn
    assert "Active one" not in withdrawn


def test_credential_details(teacher: As, student: As, database: Database) -> None:
    aid = create(
        teacher,
        "Lab safety",
        criteria_url="https://example.edu/lab",
        result_type="RubricCriterionLevel",
        result_name="Mastery",
        levels="Novice\nProficient\nExpert",
        **{
            "alignment_count": "1",
            "alignment-0-target_name": "Handle chemicals",
            "alignment-0-target_url": "https://esco.example/s/9",
            "alignment-0-target_framework": "ESCO",
            "alignment-0-target_code": "S9",
        },
    )
    award_id = _give(
        teacher,
        aid,
        evidence_url="https://example.edu/portfolio/7",
        evidence_text="Passed the practical.",
        score="Proficient",
    )
    page = text(student.get(f"/app/me/credentials/{award_id}"))
    assert "<h1>Lab safety</h1>" in page
    assert "Complete the Lab safety module." in page  # criteria
    assert 'href="https://example.edu/lab"' in page
    assert 'href="https://example.edu/portfolio/7"' in page and "Passed the practical." in page
    assert "Mastery: Proficient" in page
    assert 'href="https://esco.example/s/9">Handle chemicals</a> (ESCO S9)' in page
    assert 'data-testid="status">active' in page


def test_someone_elses_credential_is_404(
    launcher: Launcher, teacher: As, student: As, platform: TestPlatform
) -> None:
    from lti_tool.testplatform import ROLE_LEARNER

    platform.add_member("learner-2", "Bob Byte", [ROLE_LEARNER])
    other = launch_as(launcher, "learner-2")
    aid = create(teacher)
    award_id = _give(teacher, aid)
    assert student.get(f"/app/me/credentials/{award_id}").status_code == 200
    assert other.get(f"/app/me/credentials/{award_id}").status_code == 404
    assert other.get("/app/me/credentials/999999").status_code == 404
    assert "Python basics" not in text(other.get("/app/me"))


def test_pathway_progress_is_an_accessible_picture(
    teacher: As, student: As, database: Database
) -> None:
    ids = [create(teacher, f"Step {i}") for i in range(4)]
    with database.session() as session:
        platform = session.scalars(select(Platform)).one()
        define_pathway(
            session,
            platform,
            {
                "name": "Data <analyst>",
                "requirements": {
                    "kind": "all_of",
                    "children": [
                        {"kind": "achievement", "achievement_id": ids[0]},
                        {
                            "kind": "n_of",
                            "required_count": 2,
                            "children": [
                                {"kind": "achievement", "achievement_id": i} for i in ids[1:]
                            ],
                        },
                    ],
                },
            },
            actor="admin:test",
        )
    _give(teacher, ids[0])
    _give(teacher, ids[1])
    page = text(student.get("/app/me/pathways"))
    assert "<h2" in page and "Data &lt;analyst&gt;" in page
    svg = re.search(r"<svg class=\"tree\".*?</svg>", page, flags=re.S)
    assert svg
    drawing = svg.group(0)
    assert 'role="img"' in drawing and "aria-labelledby=" in drawing
    assert "<title id=" in drawing and "<desc id=" in drawing
    # Six nodes: the all-of root, Step 0, the 2-of group and its three steps.
    assert drawing.count('class="node done"') == 2  # Step 0 and Step 1; no group is done yet
    assert drawing.count('class="node todo"') == 4
    assert "Step 0: done" in drawing and "Step 2: not yet done" in drawing
    assert "2 of 3 needed done" not in drawing
    assert "1 of 2 needed done, not yet done" in drawing
    assert "2 of 4 requirements done" in page
    assert "<li" in page and "The requirements as a list" in page
