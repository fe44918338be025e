"""The launch in a real browser, inside a cross-site LMS iframe.

The test LMS's course page (localhost) embeds the tool (127.0.0.1) in `tool-frame` and starts
the OIDC login there with a GET, as Canvas does. The tool's login cookie never reaches the
tool inside that frame (see conftest), so these tests show what a learner whose browser
blocks third-party cookies gets: a launch through LTI Platform Storage when the LMS offers it,
the "Open in a new window" fallback when it does not.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from lti_tool.testplatform import TestPlatform

LANDED = re.compile(r"/app\?s=[\w-]+$")
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
BLOCKING = ("serious", "critical")


# -- helpers ----------------------------------------------------------------------------------


def open_course(page: Any, lms: TestPlatform, user: str, *, storage: bool = True) -> Any:
    """Open the LMS course page as `user`; return a locator into the tool's iframe."""
    page.goto(f"{lms.base_url}/course?user={user}&storage={int(storage)}")
    return page.frame_locator("iframe[name=tool-frame]")


def launch_posts(page: Any) -> list[dict[str, str]]:
    """Record the form posts to the tool's /lti/launch made by this page and its frames."""
    posts: list[dict[str, str]] = []

    def on_request(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/lti/launch"):
            fields = dict(
                pair.split("=", 1) for pair in (request.post_data or "").split("&") if "=" in pair
            )
            posts.append(fields)

    page.on("request", on_request)
    return posts


def tool_frame(page: Any, url: re.Pattern[str] = LANDED, timeout: float = 10.0) -> Any:
    """The tool's frame once its URL matches `url`.

    Looked up afresh while polling: the frame changes renderer process at every hop between
    the two sites, and a Frame handle taken earlier can be left behind on the old URL.
    """
    deadline = time.monotonic() + timeout
    while True:
        frames = [f for f in page.frames if f.name == "tool-frame"]
        for frame in frames:
            if url.search(frame.url):
                return frame
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the tool frame never reached {url.pattern}; frames: "
                + ", ".join(f"{f.name or '(top)'}={f.url[:120]}" for f in page.frames)
            )
        page.wait_for_timeout(50)


def assert_landed(page: Any, *, name: str, role: str, heading: str) -> Any:
    frame = tool_frame(page)
    assert frame.get_by_role("heading", level=1).inner_text() == heading
    assert frame.get_by_test_id("user").inner_text() == name
    assert frame.get_by_test_id("course").inner_text() == "Biology 101"
    assert frame.get_by_test_id("platform").inner_text() == "Test LMS"
    assert frame.get_by_test_id("role").inner_text() == role
    return frame


def run_axe(target: Any, axe_source: str, *, include_frames: bool = False) -> list[dict[str, Any]]:
    """axe-core's violations on the page or frame `target` (its own document only).

    Both the tool and the LMS forbid inline scripts (CSP), so axe is not added as a <script>:
    it is evaluated as a function through the DevTools protocol, which CSP does not govern.
    """
    if target.evaluate("() => typeof window.axe") == "undefined":
        target.evaluate("() => {\n" + axe_source + "\n}")
    result = target.evaluate(
        """async (iframes) => {
            const r = await axe.run(document, {
                iframes,
                runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                                "best-practice"]},
            });
            if (!r.passes.length) { throw new Error("axe-core checked nothing"); }
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target, html: n.html.slice(0, 200),
                                          summary: n.failureSummary})),
            }));
        }""",
        include_frames,
    )
    return list(result)


def assert_accessible(target: Any, axe_source: str, what: str) -> None:
    violations = run_axe(target, axe_source)
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    report = "\n".join(
        f"- [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})\n"
        + "\n".join(f"    at {n['target']}: {n['html']}\n      {n['summary']}" for n in v["nodes"])
        for v in blocking
    )
    assert not blocking, f"axe-core: serious/critical violations on {what}:\n{report}"
    minor = [f"{v['impact']}:{v['id']}" for v in violations if v not in blocking]
    if minor:
        print(f"axe-core on {what}, minor: {json.dumps(minor)}")


def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """Take a screenshot; with MICROCRED_UPDATE_SCREENSHOTS=1 also store it in docs/."""
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size > 10_000, "the screenshot looks empty"
    if os.environ.get("MICROCRED_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOT_DIR / name)
    return path


# -- the launch -------------------------------------------------------------------------------


def test_learner_launches_through_platform_storage(
    page: Any, lms: TestPlatform, axe_source: str, tmp_path: Path
) -> None:
    posts = launch_posts(page)
    open_course(page, lms, "learner-1")
    frame = assert_landed(page, name="Ada Lovelace", role="learner", heading="My credentials")

    # The LMS's form post came without the cookie; the tool asked the LMS frame for the
    # browser binding (lti.get_data) and posted again with it.
    assert len(posts) == 2, posts
    assert "lti_storage_value" not in posts[0]
    assert posts[1]["lti_storage_value"]
    assert posts[1]["state"] == posts[0]["state"]

    assert_accessible(frame, axe_source, "the learner landing page")
    screenshot(page, "learner.png", tmp_path)


def test_instructor_lands_on_the_instructor_page(
    page: Any, lms: TestPlatform, axe_source: str, tmp_path: Path
) -> None:
    open_course(page, lms, "teacher-1")
    frame = assert_landed(
        page, name="Grace Hopper", role="instructor", heading="Course credentials"
    )
    assert frame.get_by_text("Define micro-credentials for this course").is_visible()
    assert_accessible(frame, axe_source, "the instructor landing page")
    screenshot(page, "instructor.png", tmp_path)


def test_without_platform_storage_the_tool_offers_a_new_window(
    page: Any, lms: TestPlatform, axe_source: str
) -> None:
    inside = open_course(page, lms, "learner-1", storage=False)
    assert page.get_by_test_id("storage").inner_text() == "off"
    link = inside.get_by_role("link", name="Open in a new window")
    link.wait_for()
    frame = tool_frame(page, re.compile(r"/lti/launch$"))
    # No Platform Storage offered: the login initiation has no lti_storage_target.
    src = page.locator("iframe[name=tool-frame]").get_attribute("src") or ""
    assert "/lti/login?" in src and "lti_storage_target" not in src
    assert_accessible(frame, axe_source, "the new-window fallback page")

    # The new window is top-level: the tool is first-party there and its cookie is kept.
    with page.context.expect_page() as opened:
        link.click()
    popup = opened.value
    popup.wait_for_url(LANDED)
    assert popup.get_by_test_id("user").inner_text() == "Ada Lovelace"
    assert popup.get_by_test_id("role").inner_text() == "learner"
    # The frame itself stays on the fallback page.
    assert link.is_visible()


def test_refused_launch_shows_an_accessible_error(
    page: Any, lms: TestPlatform, axe_source: str
) -> None:
    def unknown_deployment(claims: dict[str, Any]) -> dict[str, Any]:
        claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] = "not-registered"
        return claims

    lms.claim_overrides = unknown_deployment
    inside = open_course(page, lms, "learner-1")
    inside.get_by_role("heading", name="Launch refused").wait_for()
    assert "deployment of the tool is not registered" in inside.get_by_role("alert").inner_text()
    frame = tool_frame(page, re.compile(r"/lti/launch$"))
    assert_accessible(frame, axe_source, "the launch-refused error page")


# -- the LMS course page itself -----------------------------------------------------------


def test_course_page_is_an_accessible_clearly_labelled_test_lms(
    page: Any, lms: TestPlatform, axe_source: str
) -> None:
    open_course(page, lms, "learner-1")
    assert "not a real learning management system" in page.locator("header").inner_text()
    assert page.get_by_test_id("lms-user").inner_text() == "Ada Lovelace"
    assert page.get_by_test_id("storage").inner_text() == "on"
    iframe = page.locator("iframe[name=tool-frame]")
    assert iframe.get_attribute("title") == "Microcred (external tool)"
    assert "lti_storage_target=_parent" in (iframe.get_attribute("src") or "")
    tool_frame(page)  # let the launch settle before auditing
    assert_accessible(page, axe_source, "the LMS course page")


def test_the_accessibility_check_finds_problems(
    page: Any, lms: TestPlatform, axe_source: str
) -> None:
    """Canary: axe-core really runs under the CSP and reports a critical problem."""
    page.goto(f"{lms.base_url}/course?user=learner-1&storage=0")
    page.evaluate("() => document.querySelector('main').append(document.createElement('img'))")
    ids = {(v["id"], v["impact"]) for v in run_axe(page, axe_source)}
    assert ("image-alt", "critical") in ids
    with pytest.raises(AssertionError, match="image-alt"):
        assert_accessible(page, axe_source, "a page with an image without alt text")


def test_platform_storage_messages_follow_the_spec(page: Any, lms: TestPlatform) -> None:
    """The LMS answers the tool frame's postMessages: capabilities, put, get, errors."""
    open_course(page, lms, "learner-1")
    frame = tool_frame(page)
    answers = frame.evaluate(
        """async (origin) => {
            const ask = (message) => new Promise((resolve) => {
                const id = "t-" + Math.random();
                const listener = (event) => {
                    if (event.data && event.data.message_id === id) {
                        window.removeEventListener("message", listener);
                        resolve({origin: event.origin, ...event.data});
                    }
                };
                window.addEventListener("message", listener);
                window.parent.postMessage({...message, message_id: id}, origin);
            });
            return [
                await ask({subject: "lti.capabilities"}),
                await ask({subject: "lti.put_data", key: "k1", value: "v1"}),
                await ask({subject: "lti.get_data", key: "k1"}),
                await ask({subject: "lti.get_data", key: "nope"}),
                await ask({subject: "lti.put_data", key: "k2"}),
                await ask({subject: "lti.frobnicate"}),
                await ask({subject: "org.imsglobal.lti.get_data", key: "k1"}),
            ];
        }""",
        lms.base_url,
    )
    caps, put, get, unknown, no_value, unsupported, old_get = answers
    assert {a["origin"] for a in answers} == {lms.base_url}
    assert caps["subject"] == "lti.capabilities.response"
    assert {m["subject"] for m in caps["supported_messages"]} >= {"lti.put_data", "lti.get_data"}
    assert put == {**put, "subject": "lti.put_data.response", "key": "k1", "value": "v1"}
    assert "error" not in put
    assert get == {**get, "subject": "lti.get_data.response", "key": "k1", "value": "v1"}
    assert unknown["subject"] == "lti.get_data.response"
    assert unknown["error"]["code"] == "bad_request" and "value" not in unknown
    assert no_value["error"]["code"] == "bad_request"
    assert unsupported["subject"] == "lti.frobnicate.response"
    assert unsupported["error"]["code"] == "unsupported_subject"
    assert old_get["subject"] == "org.imsglobal.lti.get_data.response"
    assert old_get["value"] == "v1"

    # Values are kept per origin: the LMS page itself (another origin) does not see k1.
    mine = page.evaluate(
        """() => new Promise((resolve) => {
            window.addEventListener("message", (e) => {
                if (e.data && e.data.subject === "lti.get_data.response") { resolve(e.data); }
            });
            window.postMessage({subject: "lti.get_data", message_id: "lms-1", key: "k1"},
                               window.location.origin);
        })"""
    )
    assert mine["error"]["code"] == "bad_request"


def test_unknown_user_gets_a_chooser(page: Any, lms: TestPlatform) -> None:
    response = page.goto(f"{lms.base_url}/course?user=nobody")
    assert response is not None and response.status == 404
    assert "There is no user" in page.get_by_role("alert").inner_text()
    page.get_by_role("link", name="Grace Hopper").click()
    assert page.get_by_test_id("lms-user").inner_text() == "Grace Hopper"


@pytest.fixture(autouse=True)
def _no_page_errors(page: Any) -> Any:
    """Any uncaught JavaScript error on the LMS page or in the tool frame fails the test."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield
    assert not errors, f"JavaScript errors: {errors}"
