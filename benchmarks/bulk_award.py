"""Award one achievement to a 5,000-learner roster fetched through NRPS.

The instructor presses "Award to the whole course roster" (POST .../roster) in the real app
(``create_app``: OB 3.0 issuer and sync outbox listeners installed, one enabled webhook
connection). The tool fetches the roster from the built-in test LMS on 127.0.0.1, 100
members per page (``Link: rel="next"``, one service token), makes the members users and
enrollments of the course, and awards every learner: award row, audit event, signed OB 3.0
credential (eddsa-rdfc-2022 + VC-JWT, status list entries) and outbox delivery row each.

Printed: the time of that request (target: under 15 s), awards per second, and the rows it
wrote, checked against what must exist (the run fails otherwise).

    python -m benchmarks.bulk_award [--learners 5000] [--page-size 100]
        [--database-url postgresql://postgres@127.0.0.1:5432/bench --reset]
        [--profile out.prof]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.course import TEACHER, open_course  # noqa: E402
from lti_tool.models import AuditEvent, Award, Delivery, IssuedCredential, User  # noqa: E402

TARGET_SECONDS = 15.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=5000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temp dir")
    parser.add_argument("--reset", action="store_true", help="drop every table of the URL first")
    parser.add_argument("--profile", help="write cProfile stats of the request to this file")
    args = parser.parse_args(argv)

    with open_course(
        args.database_url, learners=args.learners, page_size=args.page_size, reset=args.reset
    ) as course:
        backend = course.database.engine.dialect.name
        teacher = course.launch(TEACHER)
        achievement_id = course.create_achievement(teacher, "Roster benchmark")
        page = f"/app/instructor/achievements/{achievement_id}"
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        started, cpu_started = time.perf_counter(), time.process_time()
        response = teacher.post(f"{page}/roster", {}, csrf_from=page)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started  # this process: the tool and the test LMS
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        if response.status_code != 303:
            print(response.get_data(as_text=True)[:2000], file=sys.stderr)
            raise SystemExit(f"the roster award answered {response.status_code}")

        with course.database.read_session() as session:
            awards = session.scalar(
                select(func.count()).where(Award.achievement_id == achievement_id)
            )
            award_ids = select(Award.id).where(Award.achievement_id == achievement_id)
            audited = session.scalar(
                select(func.count()).where(
                    AuditEvent.action == "award.created",
                    AuditEvent.subject_type == "award",
                    AuditEvent.subject_id.in_(award_ids),
                )
            )
            credentials = session.scalar(
                select(func.count()).where(IssuedCredential.award_id.in_(award_ids))
            )
            deliveries = session.scalar(
                select(func.count()).where(Delivery.award_id.in_(award_ids))
            )
            users = session.scalar(select(func.count()).select_from(User))

    pages = -(-(args.learners + 1) // args.page_size)
    print(
        f"bulk award ({backend}): {args.learners:,} learners from NRPS "
        f"({pages} pages of {args.page_size}) in {elapsed:.2f} s "
        f"= {args.learners / elapsed:,.0f} awards/s (target < {TARGET_SECONDS:.0f} s: "
        f"{'met' if elapsed < TARGET_SECONDS else 'MISSED'})"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"  CPU time of this process {cpu:.2f} s; load average {load:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"  rows: awards {awards:,}, audit events {audited:,}, OB 3.0 credentials "
        f"{credentials:,}, outbox deliveries {deliveries:,}, users {users:,}"
    )
    expected = args.learners
    if not (awards == audited == credentials == deliveries == expected):
        print("  MISMATCH: every learner must have one of each", file=sys.stderr)
        return 1
    if args.profile:
        pstats.Stats(args.profile).sort_stats("cumulative").print_stats(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
