"""A learner connects a wallet in a real browser: the tool runs in a cross-site LMS iframe,
the wallet opens the authorization endpoint top-level, "Connect a wallet" in the course opens a
new tab that signs the browser in first-party, the consent page comes up, Allow sends the code
to the wallet, which exchanges it (PKCE) and reads the learner's credentials. axe-core checks
the wallets page, the sign-in page and the consent page."""

from __future__ import annotations

import base64
import hashlib
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from lti_tool.credentials import awards as svc
from lti_tool.db import Database
from lti_tool.models import Platform, User
from lti_tool.obapi import scopes as S
from lti_tool.testplatform import TestPlatform
from tests.credentials.conftest import ADMIN, make_achievement
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, missing
from tests.e2e.test_lms_iframe import assert_accessible, open_course, tool_frame

REDIRECT = "https://wallet.example.org/callback"
SCOPE = f"{S.CREDENTIAL_READONLY} {S.PROFILE_READONLY}"


def _award(database: Database, issuer: str) -> None:
    with database.session() as session:
        platform = session.scalars(select(Platform).where(Platform.issuer == issuer)).one()
        learner = session.scalars(
            select(User).where(User.platform_id == platform.id, User.sub == "learner-1")
        ).one()
        achievement = make_achievement(session, platform, "Field biology")
        svc.award(session, achievement, learner, source="manual", actor=ADMIN)


def test_learner_connects_a_wallet(
    lms: TestPlatform, tool: str, database: Database, axe_source: str
) -> None:
    http = requests.Session()
    registered = http.post(
        f"{tool}/ims/ob/v3p0/register",
        json={
            "client_name": "Field Wallet",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": SCOPE,
        },
        timeout=10,
    )
    assert registered.status_code == 201, registered.text
    client = registered.json()
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    authorize_url = f"{tool}/ims/ob/v3p0/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": REDIRECT,
            "scope": SCOPE,
            "state": "st-1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    with ThreadPoolExecutor(max_workers=1) as pool:  # a Playwright of its own (see conftest)
        arrived = pool.submit(_drive, lms, database, axe_source, authorize_url).result(180)

    query = parse_qs(urlsplit(arrived[-1]).query)
    assert query["state"] == ["st-1"]
    tokens = http.post(
        f"{tool}/ims/ob/v3p0/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    )
    assert tokens.status_code == 200, tokens.text
    listed = http.get(
        f"{tool}/ims/ob/v3p0/credentials",
        headers={"Authorization": f"Bearer {tokens.json()['access_token']}"},
        timeout=10,
    )
    assert listed.status_code == 200
    assert listed.headers["X-Total-Count"] == "1"
    names = [c["credentialSubject"]["achievement"]["name"] for c in listed.json()["credential"]]
    assert names == ["Field biology"]


def _drive(lms: TestPlatform, database: Database, axe_source: str, authorize_url: str) -> list[str]:
    """The browser part, in this thread: course -> wallets page -> wallet's authorization
    request -> "Connect a wallet" -> consent -> Allow. Returns the URLs the wallet received."""
    if not Path(CHROMIUM).is_file():
        missing(f"Chromium ({CHROMIUM})", "apt-get install chromium, or set MICROCRED_CHROMIUM")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
            context.set_default_timeout(10_000)
            page = context.new_page()
            arrived: list[str] = []

            def wallet_callback(route: Any) -> None:
                arrived.append(route.request.url)
                route.fulfill(status=200, content_type="text/html", body="<title>Wallet</title>ok")

            context.route("https://wallet.example.org/**", wallet_callback)

            # The learner is in the course; the tool runs in the LMS's cross-site iframe.
            frame_locator = open_course(page, lms, "learner-1")
            tool_frame(page)
            _award(database, lms.issuer)
            frame_locator.get_by_role("link", name="My credentials").click()
            frame_locator.get_by_role("link", name="Manage wallets and HR portals").click()
            frame_locator.get_by_role("heading", name="Wallets and HR portals").wait_for()
            wallets = next(f for f in page.frames if "/app/me/wallets" in f.url)
            assert_accessible(wallets, axe_source, "the wallets page")

            # The wallet sends the learner to the tool, top-level: not signed in yet.
            wallet_tab = context.new_page()
            wallet_tab.goto(authorize_url)
            assert wallet_tab.get_by_test_id("signin-needed").is_visible()
            assert_accessible(wallet_tab, axe_source, "the sign-in needed page")

            # "Connect a wallet" in the course opens a new tab: signed in, on to the consent page.
            with context.expect_page() as opened:
                frame_locator.get_by_role("button", name="Connect a wallet").click()
            consent = opened.value
            consent.wait_for_load_state()
            assert consent.get_by_test_id("client-name").inner_text() == "Field Wallet"
            assert consent.get_by_test_id("redirect-host").inner_text() == "wallet.example.org"
            assert_accessible(consent, axe_source, "the consent page")
            consent.get_by_role("button", name="Allow").click()
            consent.wait_for_url(REDIRECT + "*")
            return arrived
        finally:
            browser.close()
