"""A local LinkedIn that enforces the documented request contract (127.0.0.1 only).

Sources: LinkedIn's docs on learn.microsoft.com: "Authorization Code Flow (3-legged OAuth)",
"Sign In with LinkedIn using OpenID Connect", "Posts API" (prose; LinkedIn publishes no
machine-readable schema for these). What it enforces:

* ``GET /oauth/v2/authorization``: ``response_type=code``, a known ``client_id``, the exact
  registered ``redirect_uri``, ``scope`` (space-separated) within the app's products,
  a ``state``; ``code_challenge`` + ``code_challenge_method=S256`` when PKCE is required.
  The member then consents (or refuses: ``deny_next``) and is sent back with
  ``code`` + ``state`` (or ``error`` + ``state``).
* ``POST /oauth/v2/accessToken``: form-encoded, ``grant_type=authorization_code``, a
  single-use code younger than 30 minutes, ``client_id`` + ``client_secret``, the same
  ``redirect_uri``, and the PKCE ``code_verifier`` when a challenge was given.
* ``GET /v2/userinfo`` (OIDC) and ``POST /rest/posts``: ``Authorization: Bearer`` with a live
  token (401 otherwise); posts also need ``w_member_social``, ``LinkedIn-Version: YYYYMM``,
  ``X-Restli-Protocol-Version: 2.0.0`` and a JSON body whose ``author`` is the token's
  member; they answer 201 with the post URN in ``x-restli-id``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from connectors.testing import LocalServer, QuietHandler, RecordedRequest

APP_SCOPES = frozenset({"openid", "profile", "email", "w_member_social"})
CODE_TTL = 1800
TOKEN_TTL = 5183999  # about 60 days
VERSION = re.compile(r"^20[0-9]{2}(0[1-9]|1[0-2])$")
VISIBILITIES = frozenset({"PUBLIC", "CONNECTIONS", "LOGGED_IN", "CONTAINER"})


@dataclass
class Grant:
    redirect_uri: str
    scopes: frozenset[str]
    challenge: str | None
    issued: float


@dataclass
class Member:
    sub: str = field(default_factory=lambda: secrets.token_urlsafe(8))
    name: str = "Ada Lovelace"


class LinkedInServer:
    def __init__(self, *, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.require_pkce = False
        self.member = Member()
        self.codes: dict[str, Grant] = {}
        self.tokens: dict[str, tuple[str, frozenset[str], float]] = {}
        self.posts: list[dict[str, Any]] = []
        self.requests: list[RecordedRequest] = []
        self.deny_next = False
        self._lock = threading.Lock()
        server = self

        class Handler(QuietHandler):
            def handle_any(self) -> None:
                server._handle(self)

            do_GET = do_POST = handle_any

        self._server = LocalServer(Handler)
        self.url = self._server.base_url

    def close(self) -> None:
        self._server.close()

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    # -- dispatch ---------------------------------------------------------------------------

    def _handle(self, handler: QuietHandler) -> None:
        body = handler.read_body()
        headers = {k.lower(): v for k, v in handler.headers.items()}
        parts = urlsplit(handler.path)
        with self._lock:
            self.requests.append(RecordedRequest(handler.command, handler.path, headers, body))
            route = (handler.command, parts.path)
            if route == ("GET", "/oauth/v2/authorization"):
                status, out, extra = self._authorize(parse_qs(parts.query))
            elif route == ("POST", "/oauth/v2/accessToken"):
                status, out, extra = self._token(headers, body)
            elif route == ("GET", "/v2/userinfo"):
                status, out, extra = self._userinfo(headers)
            elif route == ("POST", "/rest/posts"):
                status, out, extra = self._post(headers, body)
            else:
                status, out, extra = 404, {"message": "not found", "status": 404}, {}
        data = json.dumps(out).encode() if out is not None else b""
        handler.reply(status, data, {"Content-Type": "application/json", **extra})

    # -- OAuth ------------------------------------------------------------------------------

    def _authorize(
        self, query: dict[str, list[str]]
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        one = {k: v[0] for k, v in query.items() if len(v) == 1}
        problems = []
        if one.get("response_type") != "code":
            problems.append("response_type must be code")
        if one.get("client_id") != self.client_id:
            problems.append("unknown client_id")
        if one.get("redirect_uri") != self.redirect_uri:
            problems.append("redirect_uri does not match the registered one")
        scopes = frozenset(one.get("scope", "").split(" ")) - {""}
        if not scopes or not scopes <= APP_SCOPES:
            problems.append("scope must be space-separated scopes of the app's products")
        if not one.get("state"):
            problems.append("state is required")
        challenge = one.get("code_challenge")
        if challenge is not None and one.get("code_challenge_method") != "S256":
            problems.append("code_challenge_method must be S256")
        if self.require_pkce and challenge is None:
            problems.append("this app requires PKCE")
        if problems:  # LinkedIn shows an error page: it never redirects a bad request
            return 400, {"error": "invalid_request", "error_description": "; ".join(problems)}, {}
        if self.deny_next:
            self.deny_next = False
            params = {
                "error": "user_cancelled_authorize",
                "error_description": "The user cancelled the authorization",
                "state": one["state"],
            }
        else:
            code = secrets.token_urlsafe(24)
            self.codes[code] = Grant(one["redirect_uri"], scopes, challenge, time.time())
            params = {"code": code, "state": one["state"]}
        return 302, None, {"Location": f"{self.redirect_uri}?{urlencode(params)}"}

    def _token(
        self, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        if headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return 400, {"error": "invalid_request", "error_description": "form-encode it"}, {}
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}, {}
        if form.get("client_id") != self.client_id or not secrets.compare_digest(
            form.get("client_secret", ""), self.client_secret
        ):
            return 401, {"error": "invalid_client"}, {}
        grant = self.codes.pop(form.get("code", ""), None)  # single use
        if grant is None or time.time() - grant.issued > CODE_TTL:
            return 400, {"error": "invalid_grant", "error_description": "bad or used code"}, {}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}, {}
        if grant.challenge is not None:
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not verifier or expected != grant.challenge:
                return 400, {"error": "invalid_grant", "error_description": "code_verifier"}, {}
        token = secrets.token_urlsafe(32)
        self.tokens[token] = (self.member.sub, grant.scopes, time.time() + TOKEN_TTL)
        return (
            200,
            {
                "access_token": token,
                "expires_in": TOKEN_TTL,
                "scope": ",".join(sorted(grant.scopes)),
                "token_type": "Bearer",
            },
            {},
        )

    def _bearer(self, headers: dict[str, str]) -> tuple[str, frozenset[str]] | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        found = self.tokens.get(token) if scheme == "Bearer" else None
        if found is None or found[2] < time.time():
            return None
        return found[0], found[1]

    def _userinfo(
        self, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        who = self._bearer(headers)
        if who is None:
            return 401, {"serviceErrorCode": 65600, "message": "Invalid access token"}, {}
        if "openid" not in who[1]:
            return 403, {"message": "Not enough permissions to access: userinfo"}, {}
        return 200, {"sub": who[0], "name": self.member.name, "locale": "en_US"}, {}

    # -- Posts API --------------------------------------------------------------------------

    def _post(
        self, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        who = self._bearer(headers)
        if who is None:
            return 401, {"serviceErrorCode": 65600, "message": "Invalid access token"}, {}
        if "w_member_social" not in who[1]:
            return 403, {"message": "Not enough permissions: w_member_social"}, {}
        if not VERSION.match(headers.get("linkedin-version", "")):
            return 426, {"code": "NONEXISTENT_VERSION", "status": 426}, {}
        if headers.get("x-restli-protocol-version") != "2.0.0":
            return 400, {"message": "X-Restli-Protocol-Version 2.0.0 required"}, {}
        if headers.get("content-type", "").split(";")[0] != "application/json":
            return 415, {"message": "send JSON"}, {}
        try:
            post = json.loads(body)
        except ValueError:
            return 400, {"message": "malformed JSON"}, {}
        problems = []
        if post.get("author") != f"urn:li:person:{who[0]}":
            return 403, {"message": "author must be the token's member"}, {}
        if not isinstance(post.get("commentary"), str):
            problems.append("commentary")
        if post.get("visibility") not in VISIBILITIES:
            problems.append("visibility")
        distribution = post.get("distribution")
        if not isinstance(distribution, dict) or distribution.get("feedDistribution") not in (
            "MAIN_FEED",
            "NONE",
        ):
            problems.append("distribution.feedDistribution")
        if post.get("lifecycleState") != "PUBLISHED":
            problems.append("lifecycleState")
        article = (post.get("content") or {}).get("article")
        if article is not None and not str(article.get("source", "")).startswith("http"):
            problems.append("content.article.source")
        if problems:
            return 422, {"message": "invalid fields: " + ", ".join(problems)}, {}
        urn = f"urn:li:share:{7000000000000000000 + len(self.posts)}"
        self.posts.append({**post, "id": urn})
        return 201, None, {"x-restli-id": urn}
