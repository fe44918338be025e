"""Sign In with LinkedIn using OpenID Connect, through Authlib's OAuth 2.0 client.

Authorization code flow: ``/oauth/v2/authorization`` (``response_type=code``, ``client_id``,
exact ``redirect_uri``, ``scope=openid profile w_member_social``, ``state``; PKCE S256 when
the app has it enabled), then ``/oauth/v2/accessToken`` (form-encoded, ``client_secret`` in
the body), then ``/v2/userinfo`` for the member's ``sub``. LinkedIn access tokens last 60
days and, outside its partner programmes, come without a refresh token: when one expires or
is refused the learner signs in again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

SCOPE = "openid profile w_member_social"
DEFAULT_LIFETIME = 60 * 24 * 3600  # LinkedIn: 60 days


class LinkedInError(Exception):
    """LinkedIn could not be reached or refused the request; the message is for the learner."""


class TokenRefused(LinkedInError):
    """The access token is expired or revoked: the learner must connect again."""


@dataclass(frozen=True, slots=True)
class LinkedInConfig:
    client_id: str
    client_secret: str
    redirect_uri: str
    auth_url: str = "https://www.linkedin.com"
    api_url: str = "https://api.linkedin.com"
    version: str = "202510"
    pkce: bool = False
    timeout: float = 10.0

    @property
    def authorize_endpoint(self) -> str:
        return self.auth_url.rstrip("/") + "/oauth/v2/authorization"

    @property
    def token_endpoint(self) -> str:
        return self.auth_url.rstrip("/") + "/oauth/v2/accessToken"

    @property
    def userinfo_endpoint(self) -> str:
        return self.api_url.rstrip("/") + "/v2/userinfo"

    @property
    def posts_endpoint(self) -> str:
        return self.api_url.rstrip("/") + "/rest/posts"


@dataclass(frozen=True, slots=True)
class Member:
    sub: str
    name: str
    access_token: str
    expires_in: int
    scope: str


def _client(config: LinkedInConfig) -> OAuth2Session:
    return OAuth2Session(
        client_id=config.client_id,
        client_secret=config.client_secret,
        token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
        scope=SCOPE,
        redirect_uri=config.redirect_uri,
        code_challenge_method="S256" if config.pkce else None,
    )


def new_code_verifier() -> str:
    return str(generate_token(64))


def authorization_url(config: LinkedInConfig, state: str, code_verifier: str | None) -> str:
    """Where to send the learner (in a top-level tab) to sign in and consent."""
    with _client(config) as client:
        url, _state = client.create_authorization_url(
            config.authorize_endpoint,
            state=state,
            code_verifier=code_verifier if config.pkce else None,
        )
    return str(url)


def sign_in(config: LinkedInConfig, code: str, code_verifier: str | None) -> Member:
    """Exchange the code for a token and read the member's OpenID Connect ``userinfo``."""
    extra: dict[str, Any] = {"code_verifier": code_verifier} if config.pkce else {}
    with _client(config) as client:
        try:
            token = client.fetch_token(
                config.token_endpoint,
                grant_type="authorization_code",
                code=code,
                timeout=config.timeout,
                allow_redirects=False,
                **extra,
            )
        except OAuthError as exc:
            raise LinkedInError(f"LinkedIn refused the sign-in ({exc.error}).") from None
        except (requests.RequestException, ValueError) as exc:
            raise LinkedInError(
                f"LinkedIn could not be reached to finish the sign-in ({type(exc).__name__})."
            ) from None
    access_token = token.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise LinkedInError("LinkedIn answered the sign-in without an access token.")
    info = userinfo(config, access_token)
    expires_in = token.get("expires_in")
    return Member(
        sub=info["sub"],
        name=str(info.get("name") or ""),
        access_token=access_token,
        expires_in=int(expires_in) if isinstance(expires_in, int | float) else DEFAULT_LIFETIME,
        scope=str(token.get("scope") or SCOPE),
    )


def userinfo(config: LinkedInConfig, access_token: str) -> dict[str, Any]:
    """The OpenID Connect userinfo of the token's member (``sub`` at least)."""
    try:
        response = requests.get(
            config.userinfo_endpoint,
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=config.timeout,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise LinkedInError(f"LinkedIn could not be reached ({type(exc).__name__}).") from None
    if response.status_code == 401:
        raise TokenRefused("LinkedIn no longer accepts this sign-in.")
    if response.status_code != 200:
        raise LinkedInError(f"LinkedIn answered HTTP {response.status_code} to userinfo.")
    try:
        info = response.json()
    except ValueError:
        info = None
    if not isinstance(info, dict) or not isinstance(info.get("sub"), str) or not info["sub"]:
        raise LinkedInError("LinkedIn's userinfo carried no member id (sub).")
    return info
