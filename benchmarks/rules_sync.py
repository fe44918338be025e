""" "Sync grades now" for a gradebook rule over a large course.

The instructor binds an achievement to an AGS line item (score >= 80 %) and presses "Sync
grades now" in the real app. The tool reads every result from the built-in test LMS on
127.0.0.1 (100 per page, `Link: rel="next"`), fetches the NRPS roster once (none of the
learners ever launched the tool), adds them as users, and awards everyone at or above the
threshold (award, audit event, signed OB 3.0 credential, outbox row each). A second press
must create nothing.

Printed: the time of both presses and the rows written, checked against what must exist.

    python -m benchmarks.rules_sync [--learners 5000] [--page-size 100]
        [--database-url postgresql://postgres@127.0.0.1:5432/bench --reset]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.course import TEACHER, learner_sub, open_course  # noqa: E402
from lti_tool.models import AchievementRule, Award  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=5000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temp dir")
    parser.add_argument("--reset", action="store_true", help="drop every table of the URL first")
    args = parser.parse_args(argv)

    with open_course(
        args.database_url, learners=args.learners, page_size=args.page_size, reset=args.reset
    ) as course:
        backend = course.database.engine.dialect.name
        lms = course.lms
        lms.gradebook.page_size = args.page_size
        line = lms.gradebook.add_lineitem(lms, "Final exam", 50)
        expected = 0
        for i in range(args.learners):
            score = 30 + (i % 21)  # 30..50 of 50: 60 % .. 100 %
            lms.gradebook.set_result(line, learner_sub(i), score, 50)
            expected += score >= 40  # 80 %
        teacher = course.launch(TEACHER)
        achievement_id = course.create_achievement(teacher, "Rule benchmark")
        page = f"/app/instructor/achievements/{achievement_id}/rule"
        saved = teacher.post(
            page,
            {"lineitem": line["id"], "kind": "score_at_least", "threshold": "80", "enabled": "on"},
            csrf_from=page,
        )
        if saved.status_code != 303:
            raise SystemExit(f"saving the rule answered {saved.status_code}")

        timings = []
        for _ in range(2):
            started = time.perf_counter()
            response = teacher.post(page + "/sync", {}, csrf_from=page)
            timings.append(time.perf_counter() - started)
            if response.status_code != 303:
                print(response.get_data(as_text=True)[:2000], file=sys.stderr)
                raise SystemExit(f"the sync answered {response.status_code}")

        with course.database.read_session() as session:
            awards = session.scalar(
                select(func.count()).where(
                    Award.achievement_id == achievement_id, Award.source == "rule"
                )
            )
            detail = session.scalars(select(AchievementRule.last_detail)).one()
        print(f"backend: {backend}; learners: {args.learners}; results page size: {args.page_size}")
        print(f"first sync (fetch + provision + award): {timings[0]:.2f} s, {awards} awards")
        print(f"second sync (nothing new): {timings[1]:.2f} s")
        print(f"rule's last run: {detail}")
        if awards != expected:
            raise SystemExit(f"expected {expected} awards, found {awards}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
