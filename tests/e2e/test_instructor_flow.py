"""The instructor and learner pages in a real browser, inside the cross-site LMS iframe:
an instructor creates an achievement and awards it to a learner, the learner sees it. Every
new page is checked with axe-core (no serious or critical WCAG 2.1 AA violations)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from lti_tool.testplatform import TestPlatform

from .test_lms_iframe import assert_accessible, open_course, tool_frame


def frame_at(page: Any, path: str) -> Any:
    return tool_frame(page, re.compile(re.escape(path) + r"(/\d+)?\?s=[\w-]+[^/]*$"))


def test_instructor_creates_and_awards_and_the_learner_sees_it(
    page: Any, lms: TestPlatform, axe_source: str
) -> None:
    # The learner opens the tool once (so the course knows them), sees no credentials yet.
    inside = open_course(page, lms, "learner-1")
    tool_frame(page)
    inside.get_by_test_id("link-credentials").click()
    inside.get_by_text("No active credentials yet.").wait_for()

    # The instructor: landing page -> achievements -> new achievement.
    inside = open_course(page, lms, "teacher-1")
    tool_frame(page)
    inside.get_by_test_id("link-instructor").click()
    inside.get_by_role("heading", name="Achievements of Biology 101").wait_for()
    assert_accessible(frame_at(page, "/app/instructor"), axe_source, "the achievements list")
    inside.get_by_role("link", name="New achievement").click()
    inside.get_by_role("heading", name="New achievement").wait_for()
    assert_accessible(
        frame_at(page, "/app/instructor/achievements/new"), axe_source, "the achievement form"
    )

    # A validation error is shown next to its field, accessibly.
    inside.get_by_label("Name (required)").fill("Cell biology lab")
    inside.get_by_label("Description (required)").fill("Runs a cell culture safely.")
    inside.get_by_label("Criteria URL").fill("https://example.edu/criteria")
    inside.get_by_label("Valid for (days; empty: no expiry)").fill("soon")
    inside.get_by_role("button", name="Save").click()
    inside.get_by_test_id("errors").wait_for()
    assert "Not a valid integer" in inside.locator("#validity_days-error").inner_text()
    assert (
        inside.get_by_label("Valid for (days; empty: no expiry)").get_attribute("aria-invalid")
        == "true"
    )
    assert_accessible(
        frame_at(page, "/app/instructor/achievements/new"), axe_source, "the form with errors"
    )
    inside.get_by_label("Valid for (days; empty: no expiry)").fill("365")
    inside.get_by_label("How to earn it").fill("Pass the practical <with care>.")
    inside.get_by_label("Target name").fill("Cell culture")
    inside.get_by_label("Target URL").fill("https://esco.example/skill/42")
    inside.get_by_role("button", name="Save").click()
    inside.get_by_test_id("achievement-name").wait_for()
    assert inside.get_by_test_id("achievement-name").inner_text() == "Cell biology lab"
    assert inside.get_by_test_id("notice").inner_text() == "The achievement was created."
    assert inside.get_by_test_id("criteria").inner_text() == "Pass the practical <with care>."
    assert_accessible(
        frame_at(page, "/app/instructor/achievements"), axe_source, "the achievement page"
    )

    # Award it to Ada.
    inside.get_by_role("link", name="Award to learners of this course").click()
    inside.get_by_label("Ada Lovelace").check()
    assert_accessible(tool_frame(page, re.compile(r"/award\?s=")), axe_source, "the award form")
    inside.get_by_role("button", name="Award to the selected learners").click()
    inside.get_by_test_id("notice").wait_for()
    assert "New awards: 1." in inside.get_by_test_id("notice").inner_text()
    inside.get_by_test_id("awards").get_by_role("link", name="Ada Lovelace").click()
    inside.get_by_role("button", name="Suspend (can be reinstated)").wait_for()
    assert inside.get_by_test_id("status").inner_text() == "active"
    assert_accessible(
        tool_frame(page, re.compile(r"/app/instructor/awards/\d+\?s=")), axe_source, "an award"
    )
    inside.get_by_role("link", name="Back to “Cell biology lab”").click()

    # The bulk page too (its upload step).
    inside.get_by_role("link", name="Award from a CSV file").click()
    inside.get_by_role("button", name="Check the file (dry run)").wait_for()
    assert_accessible(tool_frame(page, re.compile(r"/bulk\?s=")), axe_source, "the CSV page")

    # The learner sees the credential and its details.
    inside = open_course(page, lms, "learner-1")
    tool_frame(page)
    inside.get_by_test_id("link-credentials").click()
    active = inside.get_by_test_id("active")
    active.get_by_role("link", name="Cell biology lab").wait_for()
    assert_accessible(frame_at(page, "/app/me"), axe_source, "my credentials")
    active.get_by_role("link", name="Cell biology lab").click()
    inside.get_by_role("heading", name="Cell biology lab", level=1).wait_for()
    assert inside.get_by_test_id("status").inner_text() == "active"
    assert inside.get_by_role("link", name="Cell culture").is_visible()
    assert_accessible(
        tool_frame(page, re.compile(r"/app/me/credentials/\d+\?s=")), axe_source, "a credential"
    )
    inside.get_by_role("link", name="Pathways").click()
    inside.get_by_role("heading", name="Pathway progress").wait_for()
    assert_accessible(
        tool_frame(page, re.compile(r"/app/me/pathways\?s=")), axe_source, "pathway progress"
    )


@pytest.fixture(autouse=True)
def _no_page_errors(page: Any) -> Any:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield
    assert not errors, f"JavaScript errors: {errors}"
