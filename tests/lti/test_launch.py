"""Launches through a real test platform: real RSA keys, real signed JWTs, JWKS on loopback."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from sqlalchemy import func, select

from lti_tool.db import Database
from lti_tool.models import Context, Enrollment, LoginState, ResourceLink, ToolSession, User
from lti_tool.testplatform import SigningKey, TestPlatform

from ..support.launcher import Launcher

LTI = "https://purl.imsglobal.org/spec/lti/claim/"


def _count(database: Database, model: type) -> int:
    with database.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


# -- good launches -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sub", "role", "heading"),
    [
        ("learner-1", "learner", "My credentials"),
        ("teacher-1", "instructor", "Course credentials"),
        ("admin-1", "administrator", "Administration"),
    ],
)
def test_launch_lands_on_role_page(launcher: Launcher, sub: str, role: str, heading: str) -> None:
    page = launcher.land(sub)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert heading in html
    assert f'data-testid="role">{role}<' in html
    assert "Biology 101" in html
    assert launcher.platform.members[sub].name in html
    assert page.headers["Cache-Control"] == "no-store"
    # Reloading uses the GET address the page moved to; it shows the same page.
    again = launcher.client.get(launcher.page_url(page), base_url="https://tool.test")
    assert again.status_code == 200
    assert heading in again.get_data(as_text=True)
    assert f'data-testid="role">{role}<' in again.get_data(as_text=True)
    assert 'id="page-url"' not in again.get_data(as_text=True)


def test_post_login_works_like_get(launcher: Launcher) -> None:
    response = launcher.login(method="POST")
    assert response.status_code == 302
    assert response.location.startswith(launcher.platform.auth_login_url + "?")


def test_launch_upserts_user_context_link_and_roles(
    launcher: Launcher, database: Database, platform: TestPlatform
) -> None:
    platform.members["learner-1"].extra["custom"] = {"employee_id": "E-42"}
    launcher.land("learner-1")
    platform.members["learner-1"].email = "ada@new.example.edu"
    platform.context["title"] = "Biology 101 (renamed)"
    launcher.land("learner-1")
    with database.session() as s:
        users = s.scalars(select(User)).all()
        assert [(u.sub, u.email, u.hr_ids) for u in users] == [
            ("learner-1", "ada@new.example.edu", {"employee_id": "E-42"})
        ]
        context = s.scalars(select(Context)).one()
        assert context.title == "Biology 101 (renamed)"
        assert "nrps" in context.services
        enrollment = s.scalars(select(Enrollment)).one()
        assert enrollment.role == "learner"
        assert s.scalars(select(ResourceLink.resource_link_id)).all() == ["rl-1"]
        assert len(s.scalars(select(ToolSession)).all()) == 2


def test_landing_needs_a_session(launcher: Launcher) -> None:
    response = launcher.client.get("/app?s=not-a-session")
    assert response.status_code == 401
    assert "Open this tool from your LMS course" in response.get_data(as_text=True)


def test_state_cookie_is_partitioned_and_secure(launcher: Launcher) -> None:
    response = launcher.login()
    cookie = response.headers["Set-Cookie"]
    for attribute in ("Secure", "HttpOnly", "SameSite=None", "Partitioned", "Path=/"):
        assert attribute in cookie


def test_platform_key_rotation_is_picked_up_on_unknown_kid(
    launcher: Launcher, platform: TestPlatform
) -> None:
    assert launcher.launch().status_code == 200
    fetches = platform.jwks_requests
    new_key = platform.rotate_key()
    response = launcher.launch(sign=lambda c: platform.sign(c, key=new_key))
    assert response.status_code == 200
    assert platform.jwks_requests == fetches + 1
    # Cached afterwards: no further downloads.
    assert launcher.launch().status_code == 200
    assert platform.jwks_requests == fetches + 1


# -- refusals ------------------------------------------------------------------------------


def _refused(response: Any, status: int = 400, text: str = "") -> str:
    html = response.get_data(as_text=True)
    assert response.status_code == status, html
    assert "Traceback" not in html
    assert text in html, html
    return html


def _mutate(**changes: Any) -> Any:
    def apply(claims: dict[str, Any]) -> dict[str, Any]:
        for key, value in changes.items():
            if value is _DROP:
                claims.pop(key, None)
            else:
                claims[key] = value
        return claims

    return apply


_DROP = object()


def test_bad_signature(launcher: Launcher, platform: TestPlatform) -> None:
    auth = launcher.authorize()
    header, body, signature = auth.id_token.split(".")
    forged = f"{header}.{body}.{signature[:-4]}AAAA"
    _refused(launcher.post_launch(forged, auth.state), text="signature is not valid")


def test_token_signed_by_another_key_with_our_kid(
    launcher: Launcher, platform: TestPlatform
) -> None:
    impostor = SigningKey.generate()
    impostor.kid = platform.keys[0].kid
    response = launcher.launch(sign=lambda c: platform.sign(c, key=impostor))
    _refused(response, text="signature is not valid")


def test_unknown_kid(launcher: Launcher, platform: TestPlatform) -> None:
    stranger = SigningKey.generate()
    response = launcher.launch(sign=lambda c: platform.sign(c, key=stranger))
    _refused(response, text="key it does not publish")


def test_alg_none(launcher: Launcher, platform: TestPlatform) -> None:
    def unsigned(claims: dict[str, Any]) -> str:
        return jwt.encode(claims, None, algorithm="none", headers={"kid": platform.keys[0].kid})

    _refused(launcher.launch(sign=unsigned), text="not signed with RS256")


def test_hs256_signed_with_the_public_key(launcher: Launcher, platform: TestPlatform) -> None:
    from cryptography.hazmat.primitives import serialization

    public_pem = (
        platform.keys[0]
        .private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )

    def hs256(claims: dict[str, Any]) -> str:
        # PyJWT refuses PEM keys as HMAC secrets, so build the token by hand as an attacker would.
        import base64
        import hashlib
        import hmac
        import json

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": platform.keys[0].kid}).encode())
        body = b64(json.dumps(claims).encode())
        sig = hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{b64(sig)}"

    _refused(launcher.launch(sign=hs256), text="not signed with RS256")


def test_wrong_iss(launcher: Launcher) -> None:
    _refused(launcher.launch(mutate=_mutate(iss="https://evil.example")), text="not registered")


def test_wrong_aud(launcher: Launcher) -> None:
    _refused(launcher.launch(mutate=_mutate(aud="someone-else")), text="not registered")


def test_aud_list_without_us(launcher: Launcher) -> None:
    response = launcher.launch(mutate=_mutate(aud=["a", "b"], azp="a"))
    _refused(response, text="not registered")


def test_azp_mismatch_with_several_audiences(launcher: Launcher, platform: TestPlatform) -> None:
    response = launcher.launch(mutate=_mutate(aud=[platform.client_id, "other"], azp="other"))
    _refused(response)


def test_several_audiences_without_azp(launcher: Launcher, platform: TestPlatform) -> None:
    response = launcher.launch(mutate=_mutate(aud=[platform.client_id, "other"]))
    _refused(response, text="authorized party")


def test_several_audiences_with_our_azp_is_accepted(
    launcher: Launcher, platform: TestPlatform
) -> None:
    response = launcher.launch(
        mutate=_mutate(aud=["other", platform.client_id], azp=platform.client_id)
    )
    assert response.status_code == 200


def test_expired(launcher: Launcher) -> None:
    now = int(time.time())
    response = launcher.launch(mutate=_mutate(exp=now - 3600, iat=now - 4000))
    _refused(response, text="expired")


def test_iat_in_the_future(launcher: Launcher) -> None:
    now = int(time.time())
    response = launcher.launch(mutate=_mutate(iat=now + 3600, exp=now + 7200))
    _refused(response, text="dated in the future")


def test_replayed_id_token(launcher: Launcher) -> None:
    auth = launcher.authorize()
    assert launcher.post_launch(auth.id_token, auth.state).status_code == 200
    _refused(launcher.post_launch(auth.id_token, auth.state), text="already used")


def test_replayed_id_token_with_a_fresh_state(launcher: Launcher) -> None:
    first = launcher.authorize()
    assert launcher.post_launch(first.id_token, first.state).status_code == 200
    second = launcher.authorize()  # a new login: fresh state and browser cookie
    _refused(launcher.post_launch(first.id_token, second.state), text="already used (nonce)")


def test_state_mismatch(launcher: Launcher) -> None:
    auth = launcher.authorize()
    _refused(launcher.post_launch(auth.id_token, "state-that-we-never-issued"), text="already used")


def test_state_from_another_browser(launcher: Launcher, client: Any, app: Any) -> None:
    auth = launcher.authorize()
    other_browser = app.test_client()
    response = other_browser.post(
        "/lti/launch",
        data={"id_token": auth.id_token, "state": auth.state},
        base_url=launcher.platform.tool_url,
    )
    # No cookie and no platform storage: refused, with the new-window way out.
    html = _refused(response, status=403, text="Open in a new window")
    assert "/lti/login?" in html
    assert 'id="lti-same-site-retry"' in html  # top-level: one same-site re-post
    retried = other_browser.post(
        "/lti/launch",
        data={"id_token": auth.id_token, "state": auth.state, "lti_same_site_retry": "1"},
        base_url=launcher.platform.tool_url,
    )
    html = _refused(retried, status=403, text="Allow cookies")
    assert "lti-same-site-retry" not in html  # never loops
    framed = other_browser.post(
        "/lti/launch",
        data={"id_token": auth.id_token, "state": auth.state},
        base_url=launcher.platform.tool_url,
        headers={"Sec-Fetch-Dest": "iframe"},
    )
    assert "lti-same-site-retry" not in _refused(framed, status=403)


def test_unknown_deployment(launcher: Launcher) -> None:
    response = launcher.launch(mutate=_mutate(**{LTI + "deployment_id": "not-ours"}))
    _refused(response, status=403, text="deployment")


def test_missing_message_type(launcher: Launcher) -> None:
    response = launcher.launch(mutate=_mutate(**{LTI + "message_type": _DROP}))
    _refused(response, text="no message type")


def test_unknown_message_type(launcher: Launcher) -> None:
    response = launcher.launch(mutate=_mutate(**{LTI + "message_type": "LtiSomethingElse"}))
    _refused(response, text="does not handle")


def test_wrong_version(launcher: Launcher) -> None:
    response = launcher.launch(mutate=_mutate(**{LTI + "version": "1.1"}))
    _refused(response, text="version")


def test_resource_link_launch_without_sub(launcher: Launcher) -> None:
    _refused(launcher.launch(mutate=_mutate(sub=_DROP)), text="(sub)")


def test_resource_link_launch_without_resource_link_id(launcher: Launcher) -> None:
    response = launcher.launch(mutate=_mutate(**{LTI + "resource_link": {"title": "x"}}))
    _refused(response, text="Resource Link Id")


def test_target_link_uri_not_ours_at_launch(launcher: Launcher) -> None:
    response = launcher.launch(
        mutate=_mutate(**{LTI + "target_link_uri": "https://evil.example/lti/launch"})
    )
    _refused(response, text="target_link_uri is not this tool")


def test_target_link_uri_not_ours_at_login(launcher: Launcher) -> None:
    response = launcher.login(target="https://tool.test.evil.example/lti/launch")
    _refused(response, text="not this tool")


def test_not_a_jwt(launcher: Launcher) -> None:
    auth = launcher.authorize()
    _refused(launcher.post_launch("this is not a jwt", auth.state), text="not a JWT")
    _refused(launcher.post_launch("a.b.c", auth.state), text="not a JWT")


def test_jwt_whose_body_is_not_an_object(launcher: Launcher) -> None:
    auth = launcher.authorize()
    _refused(launcher.post_launch("WzFd.WzFd.AA", auth.state), text="not a JWT")


def test_token_of_a_megabyte(launcher: Launcher) -> None:
    auth = launcher.authorize()
    huge = auth.id_token + "A" * (1024 * 1024)
    _refused(launcher.post_launch(huge, auth.state), status=413)


def test_token_over_the_configured_limit(launcher: Launcher) -> None:
    auth = launcher.authorize()
    _refused(launcher.post_launch(auth.id_token + "A" * 70_000, auth.state), status=413)


def test_missing_nonce_claim(launcher: Launcher) -> None:
    _refused(launcher.launch(mutate=_mutate(nonce=_DROP)), text="not valid")


def test_login_without_issuer_or_hint(launcher: Launcher) -> None:
    response = launcher.client.get("/lti/login", base_url="https://tool.test")
    _refused(response, text="login request is not valid")


def test_login_for_unknown_platform(launcher: Launcher) -> None:
    response = launcher.login(iss="https://unknown.example")
    _refused(response, text="not registered")


def test_refusals_consume_nothing_but_the_state(launcher: Launcher, database: Database) -> None:
    auth = launcher.authorize()
    header, body, signature = auth.id_token.split(".")
    response = launcher.post_launch(f"{header}.{body}.{signature[:-4]}AAAA", auth.state)
    assert response.status_code == 400
    # The bad signature was caught before the state was consumed: the real token still works.
    assert launcher.post_launch(auth.id_token, auth.state).status_code == 200
    assert _count(database, LoginState) == 0


# -- cookie-less paths ---------------------------------------------------------------------


def test_platform_storage_round_trip(launcher: Launcher, app: Any) -> None:
    login = launcher.login(lti_storage_target="_parent")
    assert login.status_code == 200
    assert login.mimetype == "text/html"  # with nosniff, text/plain would never run the JS
    html = login.get_data(as_text=True)
    assert 'data-mode="put"' in html
    assert 'data-target="_parent"' in html
    assert launcher.platform.base_url in html  # the platform origin messages go to
    # The browser in the LMS iframe loses the cookie; the platform frame keeps the value.
    import re
    from urllib.parse import parse_qs, urlsplit

    value = re.search(r'data-value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    auth_url = re.search(r'data-next="([^"]+)"', html).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    query = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
    claims = launcher.platform.claims_for("learner-1", query["nonce"])
    id_token = launcher.platform.sign(claims)
    cookieless = app.test_client()
    first = cookieless.post(
        "/lti/launch",
        data={"id_token": id_token, "state": query["state"]},
        base_url="https://tool.test",
    )
    assert first.status_code == 200
    assert first.mimetype == "text/html"
    assert 'data-mode="get"' in first.get_data(as_text=True)
    second = cookieless.post(
        "/lti/launch",
        data={"id_token": id_token, "state": query["state"], "lti_storage_value": value},
        base_url="https://tool.test",
    )
    assert second.status_code == 200
    wrong = launcher.authorize()
    forged = cookieless.post(
        "/lti/launch",
        data={"id_token": wrong.id_token, "state": wrong.state, "lti_storage_value": value},
        base_url="https://tool.test",
    )
    _refused(forged, text="did not start in this browser")


def test_refusals_are_logged_with_the_reason(
    launcher: Launcher, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = SigningKey.generate()
    with caplog.at_level("WARNING", logger="lti_tool.app"):
        launcher.launch(sign=lambda c: launcher.platform.sign(c, key=stranger))
    assert any(f"unknown kid {stranger.kid!r}" in r.getMessage() for r in caplog.records)
    assert not any("eyJ" in r.getMessage() for r in caplog.records)  # never the token


def test_deep_linking_launch_data_is_kept_for_the_response(
    launcher: Launcher, database: Database, platform: TestPlatform, app: Any
) -> None:
    from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskRequest
    from pylti1p3.session import SessionService

    from lti_tool.lti.cookies import PartitionedCookieService
    from lti_tool.lti.launch_data import DatabaseLaunchDataStorage
    from lti_tool.lti.tool_config import DatabaseToolConf
    from lti_tool.models import LaunchData

    assert launcher.launch().status_code == 200
    assert _count(database, LaunchData) == 0  # a resource link is never read back

    def deep_link(claims: dict[str, Any]) -> dict[str, Any]:
        return platform.claims_for(
            "teacher-1", claims["nonce"], message_type="LtiDeepLinkingRequest"
        )

    picker = launcher.launch("teacher-1", mutate=deep_link)  # continues at the picker
    assert picker.status_code == 303 and "/app/deep-linking?s=" in picker.location
    signing_keys = app.extensions["microcred"].signing_keys
    with database.session() as s, app.test_request_context("/"):
        stored = s.scalars(select(LaunchData)).one()
        assert stored.value[LTI + "message_type"] == "LtiDeepLinkingRequest"
        # pylti1p3 restores the launch from our storage to build the deep-linking response.
        request = FlaskRequest(request_data={}, session={})
        sessions = SessionService(request)
        sessions.set_data_storage(DatabaseLaunchDataStorage(s))
        restored = FlaskMessageLaunch.from_cache(
            stored.key,
            request,
            DatabaseToolConf(s, lambda: signing_keys.current(s)),
            session_service=sessions,
            cookie_service=PartitionedCookieService(request, secure=True),
        )
        settings = restored.get_deep_link()._deep_link_settings
        assert settings["deep_link_return_url"] == platform.base_url + "/deep-link-return"
