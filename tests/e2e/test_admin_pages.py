"""The administrator's API clients page in a real browser, inside the cross-site LMS iframe:
register a client (its secret shown once, and working), revoke it; and the API reference
page at /api/v1/docs. Every page is checked with axe-core."""

from __future__ import annotations

import re
from typing import Any

import requests

from lti_tool.testplatform import TestPlatform

from .test_lms_iframe import assert_accessible, open_course, tool_frame

PAGE = re.compile(r"/app/admin/api-clients\?s=[\w-]+")


def _token(tool: str, client_id: str, secret: str) -> requests.Response:
    return requests.post(
        f"{tool}/api/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=5,
    )


def test_admin_registers_and_revokes_an_api_client(
    page: Any, lms: TestPlatform, tool: str, axe_source: str
) -> None:
    inside = open_course(page, lms, "admin-1")
    landed = tool_frame(page)
    token = re.search(r"[?&]s=([\w-]+)", landed.url)
    assert token
    landed.goto(f"{tool}/app/admin/api-clients?s={token.group(1)}")
    inside.get_by_role("heading", name="API clients").wait_for()
    assert inside.get_by_text("No clients yet.").is_visible()
    assert_accessible(tool_frame(page, PAGE), axe_source, "the API clients page")

    # A name is required (the browser refuses an empty one); no scope: the tool refuses it.
    name = inside.get_by_label("Name (who uses it)")
    inside.get_by_role("button", name="Register").click()
    assert name.evaluate("e => e.validity.valueMissing")
    name.fill("Workday")
    inside.get_by_role("button", name="Register").click()
    inside.get_by_test_id("error").wait_for()
    assert inside.get_by_test_id("created").count() == 0
    assert_accessible(tool_frame(page, PAGE), axe_source, "the page with an error")

    inside.get_by_label("Name (who uses it)").fill("Workday")
    inside.get_by_label("awards:read").check()
    inside.get_by_role("button", name="Register").click()
    created = inside.get_by_test_id("created")
    created.wait_for()
    client_id = inside.get_by_test_id("client-id").inner_text()
    secret = inside.get_by_test_id("client-secret").inner_text()
    assert client_id and len(secret) >= 32
    assert_accessible(tool_frame(page, PAGE), axe_source, "the page showing a new secret")
    granted = _token(tool, client_id, secret)
    assert granted.status_code == 200 and granted.json()["scope"] == "awards:read"

    # The secret is shown once: a fresh visit lists the client without it.
    frame = tool_frame(page, PAGE)
    frame.goto(frame.url)
    row = inside.get_by_role("row", name=re.compile("Workday"))
    row.wait_for()
    assert client_id in row.inner_text() and "active" in row.inner_text()
    assert secret not in frame.content()

    # Revoke it: the page says so, and the secret no longer gets a token.
    inside.get_by_role("button", name="Revoke Workday").click()
    inside.get_by_text("The client was revoked: its tokens no longer work.").wait_for()
    assert "revoked" in inside.get_by_role("row", name=re.compile("Workday")).inner_text()
    assert_accessible(tool_frame(page, PAGE), axe_source, "the page after a revocation")
    assert _token(tool, client_id, secret).status_code == 401


def test_api_docs_page_renders_and_is_accessible(page: Any, tool: str, axe_source: str) -> None:
    page.goto(f"{tool}/api/v1/docs")
    page.get_by_role("heading", level=1).wait_for()
    assert page.get_by_text("/api/v1/awards").first.is_visible()
    assert_accessible(page, axe_source, "the API documentation")
