"""Server time of the instructor and learner pages with 5,000 awards in the course.

Seeds the course the real way: the test LMS's 5,000-learner roster, awarded one achievement
with "Award to the whole course roster" (NRPS, credentials, audit, outbox), plus a second
achievement awarded to every tenth learner by hand. Then requests every page, in-process
through the whole WSGI app (session lookup, CSRF guard, queries, templates), and prints
per page: median and p99 server time, and the SQL statements one request runs (a page whose
statement count grows with its rows would be an N+1). Target: every page under 200 ms.

    python -m benchmarks.pages [--learners 5000] [--requests 100]
        [--database-url postgresql://postgres@127.0.0.1:5432/bench --reset]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.course import TEACHER, Course, Visitor, learner_sub, open_course  # noqa: E402
from lti_tool.models import Award, User  # noqa: E402

TARGET_MS = 200.0


def seed(course: Course, learners: int) -> tuple[Visitor, Visitor, int, int]:
    """The teacher, one learner, the roster achievement and one award of that learner."""
    teacher = course.launch(TEACHER)
    roster_id = course.create_achievement(teacher, "Attended the course")
    page = f"/app/instructor/achievements/{roster_id}"
    response = teacher.post(f"{page}/roster", {}, csrf_from=page)
    if response.status_code != 303:
        raise SystemExit(f"seeding: the roster award answered {response.status_code}")
    second = course.create_achievement(teacher, "Peer reviewer")
    with course.database.read_session() as session:
        ids = list(
            session.scalars(select(User.id).where(User.sub.like("learner-%")).order_by(User.id))
        )
    form = f"/app/instructor/achievements/{second}/award"
    chosen = ids[::10]
    for start in range(0, len(chosen), 250):
        answer = teacher.post(
            form, {"user_id": [str(i) for i in chosen[start : start + 250]]}, csrf_from=form
        )
        if answer.status_code != 303:
            raise SystemExit(f"seeding: awarding by hand answered {answer.status_code}")
    learner = course.launch(learner_sub(learners // 2))
    with course.database.read_session() as session:
        award_id = session.scalars(
            select(Award.id).where(Award.achievement_id == roster_id).order_by(Award.id.desc())
        ).first()
    if award_id is None:
        raise SystemExit("seeding: no award")
    return teacher, learner, roster_id, award_id


def measure(
    visitor: Visitor, path: str, query: dict[str, Any], requests: int, statements: list[int]
) -> tuple[float, float, int]:
    """(median ms, p99 ms, SQL statements per request) of GET path?query."""
    for _ in range(3):  # warm the template and statement caches
        response = visitor.get(path, **query)
        if response.status_code != 200:
            raise SystemExit(f"{path} {query} answered {response.status_code}")
    timings: list[float] = []
    before = statements[0]
    for _ in range(requests):
        started = time.perf_counter()
        response = visitor.get(path, **query)
        response.get_data()
        timings.append((time.perf_counter() - started) * 1000)
    per_request = (statements[0] - before) // requests
    p99 = statistics.quantiles(timings, n=100, method="inclusive")[98]
    return statistics.median(timings), p99, per_request


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temp dir")
    parser.add_argument("--reset", action="store_true", help="drop every table of the URL first")
    args = parser.parse_args(argv)

    with open_course(args.database_url, learners=args.learners, reset=args.reset) as course:
        teacher, learner, achievement_id, award_id = seed(course, args.learners)
        statements = [0]

        @event.listens_for(course.database.engine, "before_cursor_execute")
        def _count(*_: Any) -> None:
            statements[0] += 1

        with course.database.read_session() as session:
            mine = session.scalars(
                select(Award.id).where(
                    Award.user_id
                    == select(User.id)
                    .where(User.sub == learner_sub(args.learners // 2))
                    .scalar_subquery()
                )
            ).first()
        last = -(-args.learners // 50)
        pages: list[tuple[str, Visitor, str, dict[str, Any]]] = [
            ("instructor: achievements", teacher, "/app/instructor", {}),
            (
                "instructor: achievement, who earned it (p.1)",
                teacher,
                f"/app/instructor/achievements/{achievement_id}",
                {},
            ),
            (
                f"instructor: achievement, who earned it (p.{last})",
                teacher,
                f"/app/instructor/achievements/{achievement_id}",
                {"page": last},
            ),
            (
                "instructor: award to learners (p.1)",
                teacher,
                f"/app/instructor/achievements/{achievement_id}/award",
                {},
            ),
            (
                f"instructor: award to learners (p.{last})",
                teacher,
                f"/app/instructor/achievements/{achievement_id}/award",
                {"page": last},
            ),
            ("instructor: who earned what (p.1)", teacher, "/app/instructor/awards", {}),
            (
                f"instructor: who earned what (p.{last})",
                teacher,
                "/app/instructor/awards",
                {"page": last},
            ),
            (
                "instructor: who earned what, search",
                teacher,
                "/app/instructor/awards",
                {"q": "learner 0421", "status": "active"},
            ),
            ("instructor: one award", teacher, f"/app/instructor/awards/{award_id}", {}),
            ("learner: my credentials", learner, "/app/me", {}),
            ("learner: one credential", learner, f"/app/me/credentials/{mine}", {}),
            ("learner: pathways", learner, "/app/me/pathways", {}),
        ]
        backend = course.database.engine.dialect.name
        print(
            f"pages ({backend}, {args.learners:,} learners, "
            f"{args.learners + args.learners // 10:,} awards in the course), "
            f"{args.requests} requests each, in-process WSGI:"
        )
        worst = 0.0
        for label, visitor, path, query in pages:
            median, p99, sql = measure(visitor, path, query, args.requests, statements)
            worst = max(worst, p99)
            print(f"  {label:<48} median {median:6.1f} ms  p99 {p99:6.1f} ms  {sql:3d} SQL")
        verdict = "met" if worst < TARGET_MS else "MISSED"
        print(f"  slowest p99 {worst:.1f} ms (target < {TARGET_MS:.0f} ms: {verdict})")
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
