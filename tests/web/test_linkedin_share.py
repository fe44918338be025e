"""Share on LinkedIn: OpenID Connect sign-in and a Posts API post, against the local LinkedIn
contract server (tests/web/linkedin_server.py), through the real Flask pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from lti_tool.db import Database
from lti_tool.models import utcnow
from lti_tool.models.linkedin import LinkedInAccount, LinkedInAuthState, LinkedInUse
from lti_tool.settings import Settings, load_settings

from ..conftest import SECRET_KEY, TOOL_URL
from .conftest import As, text
from .linkedin_server import LinkedInServer
from .test_linkedin_add_to_profile import give

CLIENT_ID = "microcred-li-test"
CLIENT_SECRET = "li-secret-Zq9!x"
REDIRECT_URI = f"{TOOL_URL}/linkedin/callback"


@pytest.fixture
def linkedin() -> Iterator[LinkedInServer]:
    server = LinkedInServer(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI
    )
    yield server
    server.close()


@pytest.fixture
def pkce() -> bool:
    return False


@pytest.fixture
def settings(database: Database, tmp_path: Path, linkedin: LinkedInServer, pkce: bool) -> Settings:
    return load_settings(
        {
            "MICROCRED_LINKEDIN_CLIENT_ID": CLIENT_ID,
            "MICROCRED_LINKEDIN_CLIENT_SECRET": CLIENT_SECRET,
            "MICROCRED_LINKEDIN_PKCE": "1" if pkce else "0",
        },
        database_url=database.url,
        public_url=TOOL_URL,
        secret_key=SECRET_KEY,
        instance_path=str(tmp_path),
        linkedin_auth_url=linkedin.url,
        linkedin_api_url=linkedin.url,
    )


def connect(student: As, award_id: int) -> requests.Response:
    """Connect LinkedIn from the share page; returns LinkedIn's answer (the redirect back)."""
    share = text(student.get(f"/app/me/linkedin/{award_id}/share"))
    assert 'data-testid="linkedin-connect"' in share
    started = student.post(f"/app/me/linkedin/{award_id}/connect")
    assert started.status_code == 303, text(started)
    assert student.token not in started.location, "the tool session never goes to LinkedIn"
    return requests.get(started.location, allow_redirects=False, timeout=5)


def come_back(student: As, answer: requests.Response) -> TestResponse:
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    parts = urlsplit(location)
    return student.client.get(parts.path, query_string=parts.query)  # no ?s=: a fresh tab


def sign_in(student: As, award_id: int) -> None:
    answer = connect(student, award_id)
    assert answer.status_code == 302, answer.text
    back = come_back(student, answer)
    assert back.status_code == 303, text(back)
    assert f"s={student.token}" in back.location


def test_share_button_signs_in_and_posts_the_verification_link(
    teacher: As, student: As, database: Database, linkedin: LinkedInServer
) -> None:
    award_id = give(teacher, "Data & Analytics")
    page = text(student.get("/app/me"))
    assert 'data-testid="linkedin-share"' in page and 'target="_blank"' in page
    sign_in(student, award_id)

    share = text(student.get(f"/app/me/linkedin/{award_id}/share"))
    assert 'data-testid="linkedin-connected"' in share and "Ada Lovelace" in share
    posted = student.post(
        f"/app/me/linkedin/{award_id}/post", {"commentary": "Proud of this (#data) @work"}
    )
    assert posted.status_code == 200, text(posted)
    assert 'data-testid="linkedin-posted"' in text(posted)
    (post,) = linkedin.posts
    assert post["author"] == f"urn:li:person:{linkedin.member.sub}"
    assert post["commentary"] == r"Proud of this \(\#data\) \@work"
    assert post["content"]["article"]["title"] == "Data & Analytics"
    assert "/credentials/" in post["content"]["article"]["source"]
    assert post["lifecycleState"] == "PUBLISHED" and post["visibility"] == "PUBLIC"
    request = next(r for r in linkedin.requests if r.path == "/rest/posts")
    assert request.headers["linkedin-version"] == "202510"
    assert request.headers["x-restli-protocol-version"] == "2.0.0"

    with database.read_session() as session:
        account = session.scalars(select(LinkedInAccount)).one()
        assert account.member_sub == linkedin.member.sub
        token = next(iter(linkedin.tokens))
        assert account.token_encrypted and token.encode() not in account.token_encrypted
        use = session.scalars(select(LinkedInUse).where(LinkedInUse.kind == "post")).one()
        assert use.award_id == award_id and use.post_urn == post["id"]
        assert session.scalars(select(LinkedInAuthState)).all() == []  # state was single use


def test_authorization_request_follows_the_contract(
    teacher: As, student: As, linkedin: LinkedInServer
) -> None:
    award_id = give(teacher, "Contract")
    started = student.post(f"/app/me/linkedin/{award_id}/connect")
    query = parse_qs(urlsplit(started.location).query)
    assert query["response_type"] == ["code"]
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [REDIRECT_URI]
    assert query["scope"] == ["openid profile w_member_social"]
    assert len(query["state"][0]) >= 32
    assert "code_challenge" not in query  # PKCE off unless LinkedIn enabled it for the app


@pytest.mark.parametrize("pkce", [True])
def test_pkce_when_enabled(teacher: As, student: As, linkedin: LinkedInServer) -> None:
    linkedin.require_pkce = True
    award_id = give(teacher, "PKCE")
    answer = connect(student, award_id)
    request = linkedin.requests[-1]
    assert "code_challenge_method=S256" in request.path
    come_back(student, answer)
    exchange = next(r for r in linkedin.requests if r.path == "/oauth/v2/accessToken")
    assert b"code_verifier=" in exchange.body
    assert text(student.get(f"/app/me/linkedin/{award_id}/share")).count("linkedin-connected")


def test_state_is_single_use_and_codes_too(teacher: As, student: As) -> None:
    award_id = give(teacher, "Replay")
    answer = connect(student, award_id)
    first = come_back(student, answer)
    assert first.status_code == 303
    replay = come_back(student, answer)
    assert replay.status_code == 400
    assert "expired or was already used" in text(replay)
    forged = student.client.get("/linkedin/callback", query_string={"state": "x", "code": "y"})
    assert forged.status_code == 400
    assert student.client.get("/linkedin/callback").status_code == 400


def test_refused_consent_says_so(teacher: As, student: As, linkedin: LinkedInServer) -> None:
    award_id = give(teacher, "Refused")
    linkedin.deny_next = True
    back = come_back(student, connect(student, award_id))
    assert back.status_code == 400
    page = text(back)
    assert "LinkedIn was not connected" in page and "Nothing was shared" in page
    assert f"s={student.token}" in page  # a way back to the tool tab


def test_wrong_client_secret_fails_clearly(
    teacher: As, student: As, linkedin: LinkedInServer
) -> None:
    award_id = give(teacher, "Bad secret")
    linkedin.client_secret = "rotated-on-linkedin"
    back = come_back(student, connect(student, award_id))
    assert back.status_code == 502
    page = text(back)
    assert "LinkedIn refused the sign-in (invalid_client)" in page
    assert CLIENT_SECRET not in page


def test_refused_token_asks_to_connect_again(
    teacher: As, student: As, database: Database, linkedin: LinkedInServer
) -> None:
    award_id = give(teacher, "Refused token")
    sign_in(student, award_id)
    linkedin.expire_tokens()  # revoked on LinkedIn, or expired early
    response = student.post(f"/app/me/linkedin/{award_id}/post", {"commentary": "Hello"})
    assert response.status_code == 409
    page = text(response)
    assert "no longer accepts your sign-in; nothing was posted" in page
    assert "Connect LinkedIn again" in page
    assert linkedin.posts == []
    with database.read_session() as session:
        account = session.scalars(select(LinkedInAccount)).one()
        assert account.token_encrypted is None and account.reconnect_reason
    sign_in(student, award_id)  # connecting again works and clears the reason
    assert (
        student.post(f"/app/me/linkedin/{award_id}/post", {"commentary": "Hi"}).status_code == 200
    )


def test_expired_token_after_60_days_is_not_used(
    teacher: As, student: As, database: Database, linkedin: LinkedInServer
) -> None:
    award_id = give(teacher, "Sixty days")
    sign_in(student, award_id)
    with database.session() as session:
        session.execute(update(LinkedInAccount).values(expires_at=utcnow() - timedelta(seconds=1)))
    page = text(student.get(f"/app/me/linkedin/{award_id}/share"))
    assert "sign-in has expired" in page and "Connect LinkedIn again" in page
    response = student.post(f"/app/me/linkedin/{award_id}/post", {"commentary": "Hello"})
    assert response.status_code == 409
    assert not any(r.path == "/rest/posts" for r in linkedin.requests)


def test_bad_commentary_is_refused_and_kept(teacher: As, student: As) -> None:
    award_id = give(teacher, "Long text")
    sign_in(student, award_id)
    response = student.post(f"/app/me/linkedin/{award_id}/post", {"commentary": "x" * 2801})
    assert response.status_code == 400
    assert "between 1 and 2800" in text(response)
    assert "x" * 2801 in text(response)  # nothing the learner wrote is lost


def test_posts_need_csrf_and_an_active_credential(teacher: As, student: As) -> None:
    award_id = give(teacher, "Guarded")
    assert student.post(f"/app/me/linkedin/{award_id}/connect", csrf=None).status_code == 400
    teacher.post(f"/app/instructor/awards/{award_id}/revoke", {"reason": "No"})
    assert student.get(f"/app/me/linkedin/{award_id}/share").status_code == 409
    assert student.post(f"/app/me/linkedin/{award_id}/connect").status_code == 409


def test_linkedin_down_is_reported(teacher: As, student: As, linkedin: LinkedInServer) -> None:
    award_id = give(teacher, "Down")
    sign_in(student, award_id)
    linkedin.close()
    response = student.post(f"/app/me/linkedin/{award_id}/post", {"commentary": "Hello"})
    assert response.status_code == 502
    assert "could not be reached; nothing was posted" in text(response)


def test_client_secret_from_a_file_and_never_in_repr(tmp_path: Path) -> None:
    secret_file = tmp_path / "linkedin-secret"
    secret_file.write_text(CLIENT_SECRET + "\n")
    loaded = load_settings(
        {
            "MICROCRED_SECRET_KEY": SECRET_KEY,
            "MICROCRED_LINKEDIN_CLIENT_ID": CLIENT_ID,
            "MICROCRED_LINKEDIN_CLIENT_SECRET_FILE": str(secret_file),
        }
    )
    assert loaded.linkedin_client_secret == CLIENT_SECRET
    assert CLIENT_SECRET not in repr(loaded)


def test_old_state_is_refused(teacher: As, student: As, database: Database) -> None:
    award_id = give(teacher, "Slow sign-in")
    answer = connect(student, award_id)
    with database.session() as session:
        session.execute(
            update(LinkedInAuthState).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    back = come_back(student, answer)
    assert back.status_code == 400
    assert "expired or was already used" in text(back)
    with database.read_session() as session:
        assert session.scalars(select(LinkedInAccount)).all() == []
