"""Paged lists: who earned an achievement, who earned what (with filters), the learners to
award, my credentials. Pages hold at most their page size, links keep the filters, a page
past the end shows the last one, and a page runs the same number of SQL statements whatever
its rows (no query per row). Runs on SQLite and PostgreSQL (`database`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select

from lti_tool.credentials import awards as award_service
from lti_tool.credentials.audit import ActorRef
from lti_tool.db import Database
from lti_tool.models import Achievement, Award, Context, Enrollment, User, utcnow

from .conftest import As, create, text, user_id

ROWS = re.compile(r'<tr><td><a href="/app/instructor/awards/(\d+)\?')


def enroll_learners(database: Database, count: int, prefix: str = "bulk") -> list[int]:
    """`count` learners of the launched course (as a roster sync would make them)."""
    with database.session() as session:
        context = session.scalars(select(Context).where(Context.context_id == "course-1")).one()
        now = utcnow()
        users = [
            User(
                platform_id=context.platform_id,
                sub=f"{prefix}-{i:04d}",
                name=f"{prefix.title()} Learner {i:04d}",
                email=f"{prefix}-{i:04d}@example.edu",
            )
            for i in range(count)
        ]
        session.add_all(users)
        session.flush()
        session.add_all(
            Enrollment(
                context_id=context.id, user_id=u.id, roles=[], role="learner", updated_at=now
            )
            for u in users
        )
        return [u.id for u in users]


def award_all(database: Database, achievement_id: int, user_ids: list[int]) -> None:
    with database.session() as session:
        achievement = session.get_one(Achievement, achievement_id)
        learners = list(session.scalars(select(User).where(User.id.in_(user_ids))))
        award_service.award_many(
            session, achievement, learners, source="api", actor=ActorRef("test")
        )


@contextmanager
def counting(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(database.engine, "before_cursor_execute", count)


def test_who_earned_it_is_paged_and_a_page_past_the_end_is_the_last(
    teacher: As, database: Database
) -> None:
    aid = create(teacher, "Attendance")
    award_all(database, aid, enroll_learners(database, 120))
    first = text(teacher.get(f"/app/instructor/achievements/{aid}"))
    assert len(ROWS.findall(first)) == 50
    assert "120 awards in this course." in first and "Page 1 of 3" in first
    assert 'rel="next"' in first and 'rel="prev"' not in first
    assert re.search(rf'href="/app/instructor/achievements/{aid}\?s=[\w-]+&amp;page=2"', first)
    third = text(teacher.get(f"/app/instructor/achievements/{aid}", page=3))
    assert len(ROWS.findall(third)) == 20 and 'rel="next"' not in third
    past = text(teacher.get(f"/app/instructor/achievements/{aid}", page=99))
    assert "Page 3 of 3" in past and ROWS.findall(past) == ROWS.findall(third)
    assert "Page 1 of 3" in text(teacher.get(f"/app/instructor/achievements/{aid}", page="x"))
    # Every award once over the three pages, newest first.
    seen = [
        int(i)
        for n in (1, 2, 3)
        for i in ROWS.findall(text(teacher.get(f"/app/instructor/achievements/{aid}", page=n)))
    ]
    assert len(seen) == len(set(seen)) == 120


def test_a_page_runs_the_same_statements_for_5_rows_as_for_50(
    teacher: As, database: Database
) -> None:
    small = create(teacher, "Small")
    large = create(teacher, "Large")
    learners = enroll_learners(database, 60)
    award_all(database, small, learners[:5])
    award_all(database, large, learners)
    pages = [
        "/app/instructor/achievements/{aid}",
        "/app/instructor/achievements/{aid}/award",
        "/app/instructor/awards?achievement_id={aid}",
    ]
    for page in pages:
        counts = []
        for aid in (small, large):
            path, _, query = page.format(aid=aid).partition("?")
            args = dict(p.split("=") for p in query.split("&")) if query else {}
            teacher.get(path, **args)  # warm: the session's first lookups
            with counting(database) as statements:
                assert teacher.get(path, **args).status_code == 200
            counts.append(len(statements))
        assert counts[0] == counts[1], f"{page}: {counts} statements (a query per row?)"
        assert counts[1] <= 10, page


def test_award_form_lists_the_course_a_page_at_a_time(teacher: As, database: Database) -> None:
    aid = create(teacher)
    enroll_learners(database, 70)
    page1 = text(teacher.get(f"/app/instructor/achievements/{aid}/award"))
    page2 = text(teacher.get(f"/app/instructor/achievements/{aid}/award", page=2))
    boxes = re.compile(r'name="user_id" value="(\d+)"')
    # 70 learners + the teacher who launched
    assert len(boxes.findall(page1)) == 50 and len(boxes.findall(page2)) == 21
    assert not set(boxes.findall(page1)) & set(boxes.findall(page2))
    assert "Page 2 of 2" in page2


def test_who_earned_what_filters_and_keeps_the_filters_in_its_links(
    teacher: As, student: As, database: Database
) -> None:
    first = create(teacher, "First aid")
    second = create(teacher, "Fire safety")
    bulk = enroll_learners(database, 60)
    award_all(database, first, bulk)
    award_all(database, second, [*bulk[:3], user_id(database, "learner-1")])
    with database.session() as session:
        target = session.scalars(
            select(Award).where(Award.achievement_id == second, Award.user_id == bulk[0])
        ).one()
        award_service.revoke(session, target, reason="copied", actor=ActorRef("test"))

    everything = text(teacher.get("/app/instructor/awards"))
    assert "64 awards" in everything and len(ROWS.findall(everything)) == 50
    assert 'data-testid="earned"' in everything
    only_second = text(teacher.get("/app/instructor/awards", achievement_id=second))
    assert "4 awards" in only_second and "Ada Lovelace" in only_second
    revoked = text(teacher.get("/app/instructor/awards", status="revoked"))
    assert "1 award<" in revoked and "Bulk Learner 0000" in revoked
    by_name = text(teacher.get("/app/instructor/awards", q="learner 004"))
    assert "10 awards" in by_name  # Bulk Learner 0040..0049, of the first achievement
    by_email = text(teacher.get("/app/instructor/awards", q="BULK-0001@EXAMPLE.EDU"))
    assert "2 awards" in by_email
    assert "No awards match." in text(teacher.get("/app/instructor/awards", q="%"))
    assert "No awards match." in text(teacher.get("/app/instructor/awards", q="bulk_"))
    # Empty fields of the filter form mean no filter.
    assert "64 awards" in text(teacher.get("/app/instructor/awards", q="", status=""))
    # The pager keeps the filters.
    filtered = text(teacher.get("/app/instructor/awards", achievement_id=first, q="bulk"))
    assert "60 awards" in filtered and "Page 1 of 2" in filtered
    next_link = re.search(r'<a href="([^"]+)" rel="next">', filtered)
    assert next_link
    href = next_link.group(1).replace("&amp;", "&")
    assert f"achievement_id={first}" in href and "q=bulk" in href and "page=2" in href
    # A learner is never let in.
    assert student.get("/app/instructor/awards").status_code == 403


def test_who_earned_what_refuses_bad_filters_with_a_clear_message(teacher: As) -> None:
    for query, field in (
        ({"status": "deleted"}, "status"),
        ({"achievement_id": "seven"}, "achievement_id"),
        ({"achievement_id": "0"}, "achievement_id"),
        ({"q": "x" * 101}, "q"),
    ):
        response = teacher.get("/app/instructor/awards", **query)
        assert response.status_code == 400, query
        assert "Bad filter" in text(response) and field in text(response)


def test_who_earned_what_shows_only_this_tenant_and_course(
    teacher: As, database: Database, other_platform: Any, launcher: Any
) -> None:
    from ..support.launcher import Launcher
    from .conftest import launch_as

    mine = create(teacher, "Platform A badge")
    award_all(database, mine, enroll_learners(database, 3))
    other = launch_as(Launcher(launcher.client, other_platform), "teacher-1")
    theirs = create(other, "Platform B badge")
    other_learner = launch_as(Launcher(launcher.client, other_platform), "learner-1")
    assert other_learner.url
    with database.session() as session:
        achievement = session.get_one(Achievement, theirs)
        learner = session.scalars(
            select(User).where(User.platform_id == achievement.platform_id, User.sub == "learner-1")
        ).one()
        award_service.award(session, achievement, learner, source="api", actor=ActorRef("t"))
    a_page = text(teacher.get("/app/instructor/awards"))
    assert "Platform A badge" in a_page and "Platform B badge" not in a_page
    b_page = text(other.get("/app/instructor/awards"))
    assert "Platform B badge" in b_page and "Platform A badge" not in b_page
    assert "1 award<" in b_page
    # Another tenant's achievement id as a filter finds nothing.
    assert "No awards match." in text(other.get("/app/instructor/awards", achievement_id=mine))


def test_my_credentials_are_paged(teacher: As, student: As, database: Database) -> None:
    ids = [create(teacher, f"Badge {i:02d}") for i in range(55)]
    me = user_id(database, "learner-1")
    for aid in ids:
        award_all(database, aid, [me])
    first = text(student.get("/app/me"))
    cards = re.compile(r'<li class="card"><a href="/app/me/credentials/(\d+)\?')
    assert len(cards.findall(first)) == 50 and "Page 1 of 2" in first
    second = text(student.get("/app/me", page=2))
    assert len(cards.findall(second)) == 5
    assert not set(cards.findall(first)) & set(cards.findall(second))
