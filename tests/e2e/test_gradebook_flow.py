"""Gradebook in a real browser, inside the cross-site LMS iframe: the instructor places an
achievement through the deep-linking picker, binds a score rule to its gradebook column, the
LMS records a passing score, "Sync grades now" awards it, the learner sees it, and the score
went back to the LMS. Every page is checked with axe-core."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select

from lti_tool.db import Database
from lti_tool.models import Achievement, Context, Platform
from lti_tool.testplatform import TestPlatform

from .test_lms_iframe import assert_accessible, open_course, screenshot, tool_frame

PERCENT = {"result_type": "Percent", "name": "Score", "value_min": 0, "value_max": 100}


def _achievement(database: Database, lms: TestPlatform, name: str) -> int:
    with database.session() as session:
        platform_id = session.scalars(
            select(Platform.id).where(Platform.issuer == lms.issuer)
        ).one()
        found = Achievement(
            platform_id=platform_id,
            context_id=session.scalars(select(Context.id)).one(),
            name=name,
            description=f"Shows {name}.",
            criteria_narrative=f"Score well in {name}.",
            result_description=PERCENT,
        )
        session.add(found)
        session.flush()
        return found.id


def test_placed_achievement_is_earned_from_the_gradebook(
    page: Any, lms: TestPlatform, tool: str, database: Database, axe_source: str, tmp_path: Path
) -> None:
    open_course(page, lms, "learner-1")
    tool_frame(page)  # the course now knows the learner
    _achievement(database, lms, "Data literacy")

    # The instructor starts a deep-linking launch in the tool frame (as the LMS's "add
    # content" button would) and places the achievement.
    inside = open_course(page, lms, "teacher-1")
    frame = tool_frame(page)
    login = lms.login_params(
        "teacher-1", lti_message_hint="deep-link", lti_storage_target="_parent"
    )
    frame.goto(f"{tool}/lti/login?{urlencode(login)}")
    picker = tool_frame(page, re.compile(r"/app/deep-linking\?s="))
    inside.get_by_role("heading", name="Place an achievement in Biology 101").wait_for()
    assert_accessible(picker, axe_source, "the deep-linking picker")
    inside.get_by_label("Data literacy (with a gradebook column)").check()
    inside.get_by_role("button", name="Place in the course").click()
    inside.get_by_text("Placed 1 item(s).").wait_for()
    (link,) = lms.gradebook.links
    (line,) = lms.gradebook.lineitems.values()
    assert link["title"] == "Data literacy" and link["lineitem"] == line["id"]

    # The instructor opens the placed link and binds a score rule to its column.
    lms.claim_overrides = lms.link_launch(link)
    inside = open_course(page, lms, "teacher-1")
    placed = tool_frame(page, re.compile(r"/app/placed/[\w-]+\?s="))
    inside.get_by_test_id("achievement-name").wait_for()
    assert_accessible(placed, axe_source, "the placed achievement (instructor)")
    inside.get_by_test_id("manage-rule").click()
    inside.get_by_role("heading", name="Gradebook rule for Data literacy").wait_for()
    assert_accessible(tool_frame(page, re.compile(r"/rule\?s=")), axe_source, "the rule form")
    inside.get_by_label("Gradebook column").select_option(line["id"])
    inside.get_by_label("the score reaches a threshold").check()
    inside.get_by_label("Threshold (% of the maximum score)").fill("80")
    inside.get_by_role("button", name="Save the rule").click()
    assert inside.get_by_test_id("rule-notice").inner_text() == "The rule was saved."
    assert inside.get_by_test_id("last-run").inner_text() == "Not evaluated yet"

    # The LMS records a passing score; "Sync grades now" awards the achievement.
    lms.gradebook.set_result(line, "learner-1", 90, 100)
    inside.get_by_role("button", name="Sync grades now").click()
    rule_page = tool_frame(page, re.compile(r"/rule\?.*notice=synced"))
    assert inside.get_by_test_id("rule-notice").inner_text() == "Grades were read from the LMS."
    assert "1 awarded" in inside.get_by_test_id("last-run").inner_text()
    assert inside.get_by_test_id("postbacks").inner_text() == "0 pending, 0 failed"
    assert_accessible(rule_page, axe_source, "the rule page after a sync")
    screenshot(page, "rules.png", tmp_path)

    # The score went back to the LMS, into the placed link's column.
    (score,) = lms.gradebook.scores_for("learner-1")
    assert (score["lineitem"], score["scoreGiven"]) == (line["id"], 90)

    # The learner opens the placed link and sees it earned, then finds it in the list.
    inside = open_course(page, lms, "learner-1")
    placed = tool_frame(page, re.compile(r"/app/placed/[\w-]+\?s="))
    assert inside.get_by_test_id("progress").inner_text().startswith("Earned on ")
    assert inside.get_by_test_id("score").inner_text() == "90 of 100"
    assert inside.get_by_test_id("manage").count() == 0
    assert_accessible(placed, axe_source, "the placed achievement (learner)")
    inside.get_by_role("link", name="All my credentials").click()
    inside.get_by_test_id("active").get_by_role("link", name="Data literacy").wait_for()
    assert_accessible(tool_frame(page, re.compile(r"/app/me\?s=")), axe_source, "credentials")
