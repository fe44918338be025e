"""Instructor pages over the credential domain: roles, tenants, CSRF, validation, escaping,
awarding, suspending and revoking. Runs on SQLite and PostgreSQL (`database`)."""

from __future__ import annotations

import base64
import re

import pytest
from sqlalchemy import select

from lti_tool.db import Database
from lti_tool.models import Achievement, AuditEvent, Award, Enrollment, User
from lti_tool.testplatform import TestPlatform

from ..support.launcher import Launcher
from .conftest import (
    As,
    achievement_form,
    achievements,
    awards_of,
    create,
    launch_as,
    text,
    user_id,
)

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SVG_OK = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<rect width="10" height="10"/></svg>'
)
SVG_SCRIPT = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


# -- roles and tenants -------------------------------------------------------------------------


def test_landing_pages_link_to_the_new_pages(teacher: As, student: As) -> None:
    home = text(teacher.get("/app"))
    assert 'data-testid="link-instructor"' in home and "/app/instructor?s=" in home
    assert 'data-testid="user"' in home and "Course credentials" in home
    learner_home = text(student.get("/app"))
    assert "/app/me?s=" in learner_home and "/app/instructor" not in learner_home
    assert "My credentials" in learner_home


def test_learner_gets_403_on_every_instructor_page_and_post(teacher: As, student: As) -> None:
    aid = create(teacher)
    award_id = _award_to(teacher, aid, "learner-1")
    gets = [
        "/app/instructor",
        "/app/instructor/achievements/new",
        f"/app/instructor/achievements/{aid}",
        f"/app/instructor/achievements/{aid}/edit",
        f"/app/instructor/achievements/{aid}/award",
        f"/app/instructor/achievements/{aid}/bulk",
        f"/app/instructor/awards/{award_id}",
    ]
    for path in gets:
        assert student.get(path).status_code == 403, path
    posts = [
        ("/app/instructor/achievements/new", achievement_form("Sneaky")),
        (f"/app/instructor/achievements/{aid}/edit", achievement_form("Renamed")),
        (f"/app/instructor/achievements/{aid}/archive", {}),
        (f"/app/instructor/achievements/{aid}/award", {"user_id": "1"}),
        (f"/app/instructor/achievements/{aid}/bulk", {"action": "confirm", "payload": ""}),
        (f"/app/instructor/achievements/{aid}/roster", {}),
        (f"/app/instructor/awards/{award_id}/revoke", {"reason": "no"}),
    ]
    for path, data in posts:
        assert student.post(path, data).status_code == 403, path
    assert [a.name for a in achievements(teacher.database)] == ["Python basics"]


def test_no_session_is_401_and_a_bad_token_too(client: object, teacher: As) -> None:
    assert teacher.client.get("/app/instructor").status_code == 401
    assert teacher.client.get("/app/instructor?s=nope").status_code == 401
    assert teacher.client.get("/app/me?s=nope").status_code == 401


def test_tenants_never_see_each_other(
    launcher: Launcher,
    other_platform: TestPlatform,
    database: Database,
    teacher: As,
    student: As,
) -> None:
    mine = create(teacher, "Only on platform A")
    _award_to(teacher, mine, "learner-1")
    other = launch_as(Launcher(launcher.client, other_platform), "teacher-1")
    other_learner = launch_as(Launcher(launcher.client, other_platform), "learner-1")

    listing = text(other.get("/app/instructor"))
    assert "Only on platform A" not in listing
    for path in (
        f"/app/instructor/achievements/{mine}",
        f"/app/instructor/achievements/{mine}/edit",
        f"/app/instructor/achievements/{mine}/award",
        f"/app/instructor/achievements/{mine}/bulk",
        f"/app/me/achievements/{mine}/image",
    ):
        assert other.get(path).status_code == 404, path
    award_id = awards_of(database, mine)[0].id
    assert other.get(f"/app/instructor/awards/{award_id}").status_code == 404
    assert (
        other.post(f"/app/instructor/awards/{award_id}/revoke", {"reason": "x"}).status_code == 404
    )
    assert other.post(f"/app/instructor/achievements/{mine}/archive").status_code == 404
    assert other_learner.get(f"/app/me/credentials/{award_id}").status_code == 404
    assert "Only on platform A" not in text(other_learner.get("/app/me"))
    # Platform B's instructor cannot award A's achievement to B's learner either.
    b_learner = _user_on(database, other_platform.issuer, "learner-1")
    response = other.post(f"/app/instructor/achievements/{mine}/award", {"user_id": b_learner})
    assert response.status_code == 404
    assert [a.status for a in awards_of(database, mine)] == ["active"]
    # B's own achievement stays B's.
    theirs = create(other, "Only on platform B")
    assert "Only on platform B" not in text(teacher.get("/app/instructor"))
    assert teacher.get(f"/app/instructor/achievements/{theirs}").status_code == 404


def _user_on(database: Database, issuer: str, sub: str) -> int:
    from lti_tool.models import Platform

    with database.read_session() as session:
        return session.scalars(
            select(User.id)
            .join(Platform, Platform.id == User.platform_id)
            .where(Platform.issuer == issuer, User.sub == sub)
        ).one()


# -- CSRF --------------------------------------------------------------------------------------


def test_forms_carry_the_session_csrf_token(teacher: As) -> None:
    page = text(teacher.get("/app/instructor/achievements/new"))
    assert f'name="csrf" value="{teacher.csrf()}"' in page


@pytest.mark.parametrize("csrf", [None, "", "0" * 64, "wrong"])
def test_post_without_the_right_csrf_token_is_400(
    teacher: As, database: Database, csrf: str | None
) -> None:
    response = teacher.post("/app/instructor/achievements/new", achievement_form(), csrf=csrf)
    assert response.status_code == 400
    assert achievements(database) == []


def test_csrf_token_of_another_session_is_refused(
    launcher: Launcher, teacher: As, database: Database
) -> None:
    again = launch_as(launcher, "teacher-1")  # a second session of the same person
    response = teacher.post(
        "/app/instructor/achievements/new", achievement_form(), csrf=again.csrf()
    )
    assert response.status_code == 400
    assert achievements(database) == []


# -- create, validate, escape, edit, archive ---------------------------------------------------


def test_create_with_every_field(teacher: As, database: Database) -> None:
    aid = create(
        teacher,
        "Data wrangling",
        criteria_url="https://example.edu/criteria",
        tags="data, python, data",
        validity_days="365",
        evidence_required="on",
        result_type="Percent",
        result_name="Final score",
        value_min="50",
        value_max="100",
        **{
            "alignment_count": "2",
            "alignment-0-target_name": "Use Python",
            "alignment-0-target_url": "https://esco.example/skill/1",
            "alignment-0-target_framework": "ESCO",
            "alignment-0-target_code": "S1.2",
        },
    )
    with database.read_session() as session:
        found = session.get_one(Achievement, aid)
        assert found.tags == ["data", "python"]
        assert found.validity_days == 365 and found.evidence_required
        assert found.result_description == {
            "result_type": "Percent",
            "name": "Final score",
            "value_min": 50.0,
            "value_max": 100.0,
        }
        assert [(a.target_name, a.target_code) for a in found.alignments] == [
            ("Use Python", "S1.2")
        ]
        assert found.context_id is not None
    page = text(teacher.get(f"/app/instructor/achievements/{aid}"))
    assert "Data wrangling" in page and "ESCO" in page and "365 days" in page


def test_validation_errors_are_shown_next_to_their_fields(teacher: As, database: Database) -> None:
    response = teacher.post(
        "/app/instructor/achievements/new",
        {
            "name": "  ",
            "description": "Something",
            "criteria_url": "javascript:alert(1)",
            "validity_days": "forever",
            "result_type": "RubricCriterionLevel",
            "result_name": "Level",
            "alignment_count": "2",
            "alignment-1-target_name": "Skill",
            "alignment-1-target_url": "not a url",
        },
    )
    assert response.status_code == 422
    page = text(response)
    assert 'role="alert"' in page
    for field in ("name", "criteria_url", "validity_days", "levels", "alignment-1-target_url"):
        assert f'id="{field}-error"' in page, field
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', page), field
    assert "Not a valid integer" in page
    assert ">Something</textarea>" in page  # what was typed stays in the form
    assert achievements(database) == []


def test_missing_criteria_is_reported_on_the_narrative(teacher: As) -> None:
    response = teacher.post(
        "/app/instructor/achievements/new",
        {"name": "N", "description": "D", "alignment_count": "1"},
    )
    assert response.status_code == 422
    assert 'id="criteria_narrative-error"' in text(response)


def test_script_in_text_fields_is_escaped_everywhere(
    teacher: As, student: As, database: Database
) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    aid = create(teacher, evil, description=evil, criteria_narrative=evil, tags=evil)
    _award_to(teacher, aid, "learner-1", evidence_text=evil)
    award_id = awards_of(database, aid)[0].id
    pages = [
        teacher.get("/app/instructor"),
        teacher.get(f"/app/instructor/achievements/{aid}"),
        teacher.get(f"/app/instructor/achievements/{aid}/edit"),
        teacher.get(f"/app/instructor/awards/{award_id}"),
        student.get("/app/me"),
        student.get(f"/app/me/credentials/{award_id}"),
    ]
    for response in pages:
        body = text(response)
        assert response.status_code == 200
        assert "<script>alert" not in body and "<img src=x" not in body
        assert "&lt;script&gt;alert(" in body


def test_image_upload_png_svg_and_refused_svg(teacher: As, database: Database) -> None:
    aid = create(teacher, "With image", image=(_file(PNG_1PX), "badge.png", "image/png"))
    image = teacher.get(f"/app/me/achievements/{aid}/image")
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.data == PNG_1PX

    response = teacher.post(
        f"/app/instructor/achievements/{aid}/edit",
        achievement_form("With image", image=(_file(SVG_SCRIPT), "evil.svg", "image/svg+xml")),
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert 'id="image-error"' in text(response) and "script" in text(response)
    assert teacher.get(f"/app/me/achievements/{aid}/image").data == PNG_1PX

    response = teacher.post(
        f"/app/instructor/achievements/{aid}/edit",
        achievement_form("With image", image=(_file(SVG_OK), "ok.svg", "image/svg+xml")),
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    svg = teacher.get(f"/app/me/achievements/{aid}/image")
    assert (
        svg.mimetype == "image/svg+xml"
        and "default-src 'none'" in svg.headers["Content-Security-Policy"]
    )


def _file(data: bytes) -> object:
    import io

    return io.BytesIO(data)


def test_edit_and_archive(teacher: As, database: Database) -> None:
    aid = create(teacher)
    form = text(teacher.get(f"/app/instructor/achievements/{aid}/edit"))
    assert 'value="Python basics"' in form
    response = teacher.post(
        f"/app/instructor/achievements/{aid}/edit", achievement_form("Python fundamentals")
    )
    assert response.status_code == 303 and "notice=updated" in response.location
    assert achievements(database)[0].name == "Python fundamentals"

    response = teacher.post(f"/app/instructor/achievements/{aid}/archive", {"reason": "old"})
    assert response.status_code == 303
    assert achievements(database)[0].archived_at is not None
    assert "Python fundamentals" not in text(teacher.get("/app/instructor"))
    assert "Python fundamentals" in text(teacher.get("/app/instructor", archived=1))
    # Archived: no more awards, no more edits.
    learner = user_id(database, "teacher-1")
    refused = teacher.post(f"/app/instructor/achievements/{aid}/award", {"user_id": learner})
    assert refused.status_code == 422 and "archived" in text(refused)
    edit = teacher.post(f"/app/instructor/achievements/{aid}/edit", achievement_form("X"))
    assert edit.status_code == 409


def test_add_alignment_row_keeps_what_was_typed(teacher: As, database: Database) -> None:
    response = teacher.post(
        "/app/instructor/achievements/new",
        achievement_form("Typed", action="add_alignment"),
    )
    assert response.status_code == 200
    page = text(response)
    assert 'value="Typed"' in page and 'id="alignment-1-target_name"' in page
    assert achievements(database) == []


def test_achievement_list_is_paginated(teacher: As) -> None:
    for i in range(23):
        create(teacher, f"Achievement {i:02d}")
    first = text(teacher.get("/app/instructor"))
    assert "Achievement 19" in first and "Achievement 20" not in first
    assert "Page 1 of 2" in first
    second = text(teacher.get("/app/instructor", page=2))
    assert "Achievement 22" in second and "Achievement 00" not in second


# -- awarding, suspending, revoking -------------------------------------------------------------


def _award_to(teacher: As, aid: int, *subs: str, **extra: str) -> int:
    ids = [str(user_id(teacher.database, sub)) for sub in subs]
    response = teacher.post(f"/app/instructor/achievements/{aid}/award", {"user_id": ids, **extra})
    assert response.status_code == 303, text(response)
    match = re.findall(
        r'href="/app/instructor/awards/(\d+)\?',
        text(teacher.get(f"/app/instructor/achievements/{aid}")),
    )
    return int(match[0])


def test_award_to_selected_learners_is_idempotent_and_audited(
    teacher: As, student: As, launcher: Launcher, database: Database, platform: TestPlatform
) -> None:
    from lti_tool.testplatform import ROLE_LEARNER

    platform.add_member("learner-2", "Bob Byte", [ROLE_LEARNER])
    launch_as(launcher, "learner-2")
    aid = create(teacher)
    ids = [str(user_id(database, s)) for s in ("learner-1", "learner-2")]
    form = text(teacher.get(f"/app/instructor/achievements/{aid}/award"))
    assert "Ada Lovelace" in form and "Bob Byte" in form
    response = teacher.post(
        f"/app/instructor/achievements/{aid}/award",
        {"user_id": ids, "evidence_url": "https://example.edu/work/1"},
    )
    assert response.status_code == 303
    assert "created=2" in response.location
    shown = teacher.client.get(response.location)
    assert shown.status_code == 200
    assert "Awarded. New awards: 2. Already held: 0." in text(shown)
    awarded = awards_of(database, aid)
    assert {a.source for a in awarded} == {"manual"}
    assert {a.evidence_url for a in awarded} == {"https://example.edu/work/1"}
    again = teacher.post(f"/app/instructor/achievements/{aid}/award", {"user_id": ids[0]})
    assert again.status_code == 303 and "created=0" in again.location
    assert len(awards_of(database, aid)) == 2
    with database.read_session() as session:
        actors = set(
            session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "award.created"))
        )
    assert actors == {f"user:{user_id(database, 'teacher-1')}"}


def test_award_form_errors(teacher: As, student: As, database: Database) -> None:
    aid = create(teacher, "Needs evidence", evidence_required="on")
    none = teacher.post(f"/app/instructor/achievements/{aid}/award", {})
    assert none.status_code == 422 and "Choose at least one learner" in text(none)
    learner = str(user_id(database, "learner-1"))
    no_evidence = teacher.post(f"/app/instructor/achievements/{aid}/award", {"user_id": learner})
    assert no_evidence.status_code == 422 and "requires evidence" in text(no_evidence)
    bad_url = teacher.post(
        f"/app/instructor/achievements/{aid}/award",
        {"user_id": learner, "evidence_url": "ftp://x"},
    )
    assert bad_url.status_code == 422
    # Someone who is not enrolled in this course (no launch in it): refused.
    with database.session() as session:
        platform_id = session.scalars(select(User.platform_id)).first()
        stranger = User(platform_id=platform_id, sub="stranger", name="Stranger")
        session.add(stranger)
        session.flush()
        stranger_id = stranger.id
    response = teacher.post(
        f"/app/instructor/achievements/{aid}/award",
        {"user_id": str(stranger_id), "evidence_text": "did it"},
    )
    assert response.status_code == 400
    assert awards_of(database, aid) == []


def test_percent_score_is_checked(teacher: As, student: As, database: Database) -> None:
    aid = create(teacher, "Scored", result_type="Percent", result_name="Score")
    learner = str(user_id(database, "learner-1"))
    bad = teacher.post(
        f"/app/instructor/achievements/{aid}/award", {"user_id": learner, "score": "120"}
    )
    assert bad.status_code == 422 and "between 0 and 100" in text(bad)
    ok = teacher.post(
        f"/app/instructor/achievements/{aid}/award", {"user_id": learner, "score": "87.5"}
    )
    assert ok.status_code == 303
    assert awards_of(database, aid)[0].result == {"value": 87.5}


def test_suspend_reinstate_revoke_with_reasons(
    teacher: As, student: As, database: Database
) -> None:
    aid = create(teacher)
    award_id = _award_to(teacher, aid, "learner-1")
    page = text(teacher.get(f"/app/instructor/awards/{award_id}"))
    assert "Suspend" in page and "Revoke" in page

    no_reason = teacher.post(f"/app/instructor/awards/{award_id}/suspend", {"reason": " "})
    assert no_reason.status_code == 422
    assert 'id="suspend-reason-error"' in text(no_reason)
    assert awards_of(database, aid)[0].status == "active"

    done = teacher.post(f"/app/instructor/awards/{award_id}/suspend", {"reason": "Under review"})
    assert done.status_code == 303 and "notice=suspended" in done.location
    assert awards_of(database, aid)[0].status == "suspended"
    mine = text(student.get("/app/me"))
    assert "Suspended: Under review" in mine

    assert teacher.post(f"/app/instructor/awards/{award_id}/reinstate").status_code == 303
    assert awards_of(database, aid)[0].status == "active"
    revoked = teacher.post(f"/app/instructor/awards/{award_id}/revoke", {"reason": "Plagiarism"})
    assert revoked.status_code == 303
    row = awards_of(database, aid)[0]
    assert (row.status, row.status_reason) == ("revoked", "Plagiarism")
    again = teacher.post(f"/app/instructor/awards/{award_id}/revoke", {"reason": "Again"})
    assert again.status_code == 409 and "permanent" in text(again)
    assert teacher.post(f"/app/instructor/awards/{award_id}/explode").status_code == 404
    assert "Revoked: Plagiarism" in text(student.get("/app/me"))


def test_who_earned_it_is_paginated_by_50(teacher: As, database: Database) -> None:
    aid = create(teacher)
    with database.session() as session:
        teacher_row = session.scalars(select(User).where(User.sub == "teacher-1")).one()
        context_id = session.scalars(
            select(Enrollment.context_id).where(Enrollment.user_id == teacher_row.id)
        ).one()
        for i in range(55):
            user = User(platform_id=teacher_row.platform_id, sub=f"bulk-{i:02d}", name=f"L {i:02d}")
            session.add(user)
            session.flush()
            session.add(Enrollment(context_id=context_id, user_id=user.id, role="learner"))
            session.add(
                Award(
                    achievement_id=aid,
                    user_id=user.id,
                    platform_id=teacher_row.platform_id,
                    source="manual",
                )
            )
    first = text(teacher.get(f"/app/instructor/achievements/{aid}"))
    assert first.count('href="/app/instructor/awards/') == 50
    assert "55 awards in this course" in first and "Page 1 of 2" in first
    second = text(teacher.get(f"/app/instructor/achievements/{aid}", page=2))
    assert second.count('href="/app/instructor/awards/') == 5


def test_platform_wide_achievements_are_shown_and_awardable_but_only_admins_edit_them(
    teacher: As, student: As, database: Database
) -> None:
    from lti_tool.credentials.achievements import create_achievement
    from lti_tool.models import Platform

    with database.session() as session:
        platform = session.scalars(select(Platform)).one()
        wide = create_achievement(
            session,
            platform,
            {"name": "Institution-wide", "description": "D", "criteria_narrative": "C"},
            actor="admin:test",
        ).id
    listing = text(teacher.get("/app/instructor"))
    assert "Institution-wide" in listing and "Platform-wide" in listing
    assert teacher.get(f"/app/instructor/achievements/{wide}/edit").status_code == 403
    assert teacher.post(f"/app/instructor/achievements/{wide}/archive").status_code == 403
    _award_to(teacher, wide, "learner-1")
    assert [a.source for a in awards_of(database, wide)] == ["manual"]
