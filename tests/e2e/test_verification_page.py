"""The public verification page in a real browser: valid, revoked, suspended and expired
credentials each show their status, axe-core finds no serious or critical WCAG 2.1 AA
violations, and the Open Graph tags a share preview reads are there and resolve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lti_tool.credentials import awards as svc
from lti_tool.credentials import issuance
from lti_tool.credentials.achievements import set_issuer_profile
from lti_tool.db import Database
from lti_tool.models import Award
from tests.credentials.conftest import ADMIN, make_achievement, make_platform, make_user

from .test_lms_iframe import assert_accessible

STATUS_TEXT = {
    "valid": "Valid",
    "revoked": "Revoked",
    "suspended": "Suspended",
    "expired": "Expired",
}


def make_credentials(database: Database) -> dict[str, str]:
    """One credential per status; returns status -> public id."""
    ids: dict[str, str] = {}
    with database.session() as s:
        platform = make_platform(s)
        set_issuer_profile(
            s, platform, {"name": "Example University", "url": "https://example.edu"}, actor=ADMIN
        )
        achievement = make_achievement(
            s,
            platform,
            "Cell culture lab",
            validity_days=30,
            alignments=[
                {
                    "target_name": "Cell culture",
                    "target_url": "https://esco.example/skill/42",
                    "target_framework": "ESCO",
                }
            ],
        )
        for status in STATUS_TEXT:
            learner = make_user(s, platform, f"learner-{status}", name=f"Learner {status.title()}")
            issued_at = (
                datetime(2020, 1, 1, tzinfo=UTC)
                if status == "expired"
                else datetime.now(UTC) - timedelta(days=1)
            )
            award, _ = svc.award(
                s, achievement, learner, source="manual", actor=ADMIN, issued_at=issued_at
            )
            if status == "revoked":
                svc.revoke(s, award, reason="issued by mistake", actor=ADMIN)
            elif status == "suspended":
                svc.suspend(s, award, reason="under review", actor=ADMIN)
            row = issuance.credential_of_award(s, award.id)
            assert row is not None
            ids[status] = row.public_id
        svc.expire_due(s)  # what housekeeping does: the lapsed award is recorded as expired
        assert {a.status for a in s.query(Award)} >= {"expired", "revoked", "suspended"}
    return ids


def og(page: Any, name: str) -> str:
    value = page.locator(f'meta[property="og:{name}"]').get_attribute("content")
    assert value, f"og:{name} is missing"
    return str(value)


@pytest.mark.parametrize("status", list(STATUS_TEXT))
def test_verification_page_status_accessibility_and_sharing(
    page: Any, tool: str, database: Database, axe_source: str, status: str
) -> None:
    public_id = make_credentials(database)[status]
    url = f"{tool}/credentials/{public_id}"
    response = page.goto(url)
    assert response is not None and response.status == 200

    box = page.get_by_role("status")
    assert box.get_attribute("data-status") == status
    assert f"Status: {STATUS_TEXT[status]}" in box.inner_text()
    assert page.get_by_role("heading", level=1).inner_text() == "Cell culture lab"
    assert f"Earned by Learner {status.title()}" in page.locator(".earner").inner_text()
    assert page.get_by_role("link", name="Cell culture").get_attribute("href") == (
        "https://esco.example/skill/42"
    )
    linkedin = page.get_by_role("link", name="Add to LinkedIn profile")
    assert linkedin.count() == (1 if status == "valid" else 0)

    assert_accessible(page, axe_source, f"the verification page of a {status} credential")

    # Keyboard: the first Tab reaches the skip link, which leads to the main content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"

    # Open Graph: what LinkedIn and others read for a share preview.
    assert og(page, "title").startswith("Cell culture lab")
    assert og(page, "url") == url
    assert og(page, "type") == "website"
    assert og(page, "description")
    image = page.request.get(og(page, "image"))
    assert image.ok and image.headers["content-type"].startswith("image/")
    download = page.request.get(url + ".json")
    assert download.ok and download.json()["id"] == url
