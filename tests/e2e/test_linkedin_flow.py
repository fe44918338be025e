"""LinkedIn in a real browser, from the learner's credentials inside the cross-site LMS iframe.

"Add to LinkedIn profile" opens a new tab; the request to www.linkedin.com is intercepted and
aborted (no network), its parameters checked. "Share on LinkedIn" runs end to end in a new
tab against the local LinkedIn contract server (tests/web/linkedin_server.py): sign-in,
callback, post. Every tool page is checked with axe-core.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from sqlalchemy import select

from lti_tool.credentials import awards
from lti_tool.db import Database
from lti_tool.models import Achievement, Context, IssuedCredential, Platform, User
from lti_tool.settings import Settings, load_settings
from lti_tool.testplatform import TestPlatform

from ..conftest import SECRET_KEY
from ..web.linkedin_server import LinkedInServer
from .conftest import Served, _Dispatcher
from .test_lms_iframe import assert_accessible, open_course, screenshot, tool_frame

CLIENT_ID = "microcred-li-e2e"
CLIENT_SECRET = "li-e2e-secret-7Kq"
CREDENTIALS = re.compile(r"/app/me\?s=[\w-]+")


@pytest.fixture
def linkedin(tool_server: tuple[Served, _Dispatcher]) -> Iterator[LinkedInServer]:
    server = LinkedInServer(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=f"{tool_server[0].url}/linkedin/callback",
    )
    yield server
    server.close()


@pytest.fixture
def settings(
    tool_server: tuple[Served, _Dispatcher],
    database: Database,
    tmp_path: Path,
    linkedin: LinkedInServer,
) -> Settings:
    """The tool's settings with a LinkedIn app pointing at the local contract server."""
    return load_settings(
        {
            "MICROCRED_LINKEDIN_CLIENT_ID": CLIENT_ID,
            "MICROCRED_LINKEDIN_CLIENT_SECRET": CLIENT_SECRET,
        },
        database_url=database.url,
        public_url=tool_server[0].url,
        secret_key=SECRET_KEY,
        instance_path=str(tmp_path),
        linkedin_auth_url=linkedin.url,
        linkedin_api_url=linkedin.url,
    )


def _earned(database: Database, lms: TestPlatform, name: str) -> str:
    """Award `name` to Ada (who launched once); the public id of its issued credential."""
    with database.session() as session:
        platform_id = session.scalars(
            select(Platform.id).where(Platform.issuer == lms.issuer)
        ).one()
        achievement = Achievement(
            platform_id=platform_id,
            context_id=session.scalars(select(Context.id)).one(),
            name=name,
            description=f"Shows {name}.",
            criteria_narrative=f"Practise {name}.",
        )
        session.add(achievement)
        session.flush()
        learner = session.scalars(select(User).where(User.sub == "learner-1")).one()
        award, _ = awards.award(session, achievement, learner, source="manual", actor="admin:e2e")
        award_id = award.id
    with database.read_session() as session:
        return session.scalars(
            select(IssuedCredential.public_id).where(IssuedCredential.award_id == award_id)
        ).one()


def _my_credentials(page: Any, lms: TestPlatform) -> Any:
    inside = open_course(page, lms, "learner-1")
    tool_frame(page)
    inside.get_by_test_id("link-credentials").click()
    return inside


def test_add_to_profile_opens_linkedin_with_the_credential(
    page: Any, lms: TestPlatform, tool: str, database: Database, axe_source: str, tmp_path: Path
) -> None:
    _my_credentials(page, lms).get_by_text("No active credentials yet.").wait_for()
    public_id = _earned(database, lms, "Data & Analytics")
    inside = _my_credentials(page, lms)
    add = inside.get_by_test_id("active").get_by_test_id("linkedin-add")
    add.wait_for()
    assert add.get_attribute("target") == "_blank"
    assert_accessible(tool_frame(page, CREDENTIALS), axe_source, "credentials with LinkedIn")
    screenshot(page, "learner-linkedin.png", tmp_path)

    # Follow the button's own address with the browser context's request client, without
    # following the redirect: linkedin.com is never loaded, and no race with a new tab.
    href = add.get_attribute("href")
    assert href
    answer = page.request.get(urljoin(tool + "/", href), max_redirects=0)
    assert answer.status in (302, 303), answer.status
    parts = urlsplit(answer.headers["location"])
    assert (parts.netloc, parts.path) == ("www.linkedin.com", "/profile/add")
    query = parse_qs(parts.query, strict_parsing=True)
    assert query["startTask"] == ["CERTIFICATION_NAME"]
    assert query["name"] == ["Data & Analytics"]
    assert query["certUrl"] == [f"{tool}/credentials/{public_id}"]
    assert query["certId"] and query["issueYear"] and query["issueMonth"]
    assert "organizationName" in query or "organizationId" in query


def test_share_on_linkedin_end_to_end(
    page: Any,
    lms: TestPlatform,
    tool: str,
    database: Database,
    linkedin: LinkedInServer,
    axe_source: str,
) -> None:
    _my_credentials(page, lms).get_by_text("No active credentials yet.").wait_for()
    public_id = _earned(database, lms, "Cell culture")
    inside = _my_credentials(page, lms)
    share = inside.get_by_test_id("active").get_by_test_id("linkedin-share")
    with page.context.expect_page() as opened:
        share.click()
    tab = opened.value
    tab.get_by_role("heading", name="Share Cell culture on LinkedIn").wait_for()
    assert tab.get_by_test_id("linkedin-connect").is_visible()
    assert_accessible(tab, axe_source, "the share page (not connected)")

    # Sign in with LinkedIn (the contract server consents at once) and come back connected.
    tab.get_by_role("button", name="Connect LinkedIn").click()
    tab.get_by_test_id("linkedin-connected").wait_for()
    assert re.search(r"/app/me/linkedin/\d+/share\?s=", tab.url)
    assert "Ada Lovelace" in tab.get_by_test_id("linkedin-connected").inner_text()
    assert_accessible(tab, axe_source, "the share page (connected)")

    # An empty post is refused by the browser; a real one is posted.
    post = tab.get_by_label("Your post")
    post.fill("")
    tab.get_by_role("button", name="Post on LinkedIn").click()
    assert post.evaluate("e => e.validity.valueMissing")
    assert linkedin.posts == []
    post.fill("Proud to share: Cell culture.")
    tab.get_by_role("button", name="Post on LinkedIn").click()
    tab.get_by_test_id("linkedin-posted").wait_for()
    assert_accessible(tab, axe_source, "the posted page")
    (posted,) = linkedin.posts
    assert posted["commentary"] == "Proud to share: Cell culture."
    assert posted["content"]["article"]["source"] == f"{tool}/credentials/{public_id}"
    link = tab.get_by_role("link", name="See the post on LinkedIn")
    assert (link.get_attribute("href") or "").startswith("https://www.linkedin.com/feed/update/")
