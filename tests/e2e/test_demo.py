"""`microcred demo` in a real browser: the demo page, the instructor (in the demo course's
cross-site tool iframe) creates an achievement and awards it to the roster fetched with
NRPS, the learner sees it. Every page says DEMO; axe-core finds no serious or critical
violations. With MICROCRED_UPDATE_SCREENSHOTS=1 the screenshots go to docs/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lti_tool.testplatform.demo import RunningDemo, start_demo

from ..conftest import SECRET_KEY
from .test_lms_iframe import assert_accessible, screenshot, tool_frame


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[RunningDemo]:
    environ = {"MICROCRED_INSTANCE_PATH": str(tmp_path), "MICROCRED_SECRET_KEY": SECRET_KEY}
    running = start_demo(environ, port=0, lms_port=0)
    yield running
    running.stop()


def in_tool(page: Any, path: str) -> Any:
    return tool_frame(page, re.compile(re.escape(path) + r"(/\d+)?\?s=[\w-]+[^/]*$"))


def test_demo_instructor_awards_and_learner_sees_it(
    page: Any, demo: RunningDemo, axe_source: str, tmp_path: Path
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(demo.url)
    assert "DEMO" in page.get_by_test_id("demo-banner").inner_text()
    assert_accessible(page, axe_source, "the demo page")
    screenshot(page, "demo.png", tmp_path)

    # The instructor opens the course: a real LTI launch in the iframe.
    page.get_by_test_id("open-teacher-1").click()
    assert page.get_by_test_id("lms-user").inner_text() == "Grace Hopper"
    landed = tool_frame(page)
    assert "DEMO" in landed.get_by_test_id("demo-banner").inner_text()
    assert_accessible(page, axe_source, "the demo course page")
    inside = page.frame_locator("iframe[name=tool-frame]")
    inside.get_by_test_id("link-instructor").click()
    inside.get_by_role("heading", name="Achievements of Data Skills (demo course)").wait_for()
    inside.get_by_role("link", name="New achievement").click()
    inside.get_by_label("Name (required)").fill("Spreadsheet modelling")
    inside.get_by_label("Description (required)").fill("Builds a sound spreadsheet model.")
    inside.get_by_label("How to earn it").fill("Hand in a model that passes the review.")
    inside.get_by_label("Target name").fill("Use spreadsheets software")
    inside.get_by_label("Target URL").fill("https://esco.example/skill/spreadsheets")
    inside.get_by_label("Framework (e.g. ESCO)").fill("ESCO")
    inside.get_by_role("button", name="Save").click()
    inside.get_by_test_id("achievement-name").wait_for()
    assert inside.get_by_test_id("notice").inner_text() == "The achievement was created."

    # The whole roster, from the demo LMS through NRPS (learners who never launched too).
    inside.get_by_role("button", name="Award to the whole course roster").click()
    inside.get_by_test_id("notice").get_by_text("The roster award is done.").wait_for()
    notice = inside.get_by_test_id("notice").inner_text()
    assert "Roster members: 6; new to the tool: 5." in notice and "New awards: 4." in notice
    awards = inside.get_by_test_id("awards")
    for name in ("Ada Lovelace", "Katherine Johnson", "Mary Jackson", "Dorothy Vaughan"):
        assert awards.get_by_role("link", name=name).is_visible()
    achievement = in_tool(page, "/app/instructor/achievements")
    assert "DEMO" in achievement.get_by_test_id("demo-banner").inner_text()
    assert_accessible(achievement, axe_source, "the achievement page in the demo")
    screenshot(page, "demo-instructor.png", tmp_path)

    inside.get_by_role("link", name="Who earned what").click()
    inside.get_by_test_id("earned").wait_for()
    assert inside.get_by_test_id("earned").locator("tbody tr").count() == 4
    assert_accessible(in_tool(page, "/app/instructor/awards"), axe_source, "who earned what")

    # Switch to Ada: she holds the credential.
    page.get_by_test_id("demo-switch").get_by_role("link", name=re.compile("Ada Lovelace")).click()
    assert page.get_by_test_id("lms-user").inner_text() == "Ada Lovelace"
    tool_frame(page)
    inside = page.frame_locator("iframe[name=tool-frame]")
    inside.get_by_test_id("link-credentials").click()
    inside.get_by_test_id("active").get_by_role("link", name="Spreadsheet modelling").wait_for()
    mine = in_tool(page, "/app/me")
    assert "DEMO" in mine.get_by_test_id("demo-banner").inner_text()
    screenshot(page, "demo-learner.png", tmp_path)
    assert_accessible(mine, axe_source, "my credentials in the demo")
    assert not errors, f"JavaScript errors: {errors}"
