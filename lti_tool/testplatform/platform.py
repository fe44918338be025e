"""A small, real LTI 1.3 platform: RSA keys, JWKS, OIDC authorization, service tokens, NRPS.

Used by the tests, the launch benchmark and the demo. It signs real id_tokens with its own
RSA key and serves its JWKS over HTTP, so the tool validates exactly as it would against
Moodle or Canvas. It is not a mock of pylti1p3: the tool's code path is the production one.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, abort, jsonify, request
from jwt.algorithms import RSAAlgorithm
from markupsafe import escape
from werkzeug.serving import BaseWSGIServer, make_server

from .gradebook import AGS_SCOPES, Gradebook, fetch_tool_jwks, register_gradebook
from .pages import register_pages

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
ROLE_LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
ROLE_INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
ROLE_ADMIN = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"


@dataclass
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(uuid.uuid4().hex, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return jwk


@dataclass
class Member:
    sub: str
    name: str
    email: str
    roles: list[str]
    given_name: str = ""
    family_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TestPlatform:
    """One LMS with one registration of the tool. `base_url` is set by `serve()`."""

    __test__ = False  # not a pytest test class

    tool_url: str
    issuer: str = ""
    client_id: str = field(default_factory=lambda: "client-" + uuid.uuid4().hex[:8])
    deployment_id: str = "deployment-1"
    name: str = "Test LMS"
    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.generate()])
    members: dict[str, Member] = field(default_factory=dict)
    context: dict[str, Any] = field(
        default_factory=lambda: {"id": "course-1", "label": "BIO101", "title": "Biology 101"}
    )
    nrps_page_size: int = 100
    token_lifetime: int = 3600
    base_url: str = ""
    token_requests: int = 0
    jwks_requests: int = 0
    _server: BaseWSGIServer | None = None
    _thread: threading.Thread | None = None
    # Hook for tests: id_token claim overrides applied by the /auth endpoint.
    claim_overrides: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # AGS line items, results, scores and deep-linked links (testplatform/gradebook.py).
    gradebook: Gradebook = field(default_factory=Gradebook)
    deep_link_data: str = "dl-data"  # what deep-linking requests ask the tool to echo

    # -- URLs ---------------------------------------------------------------------------

    @property
    def auth_login_url(self) -> str:
        return self.base_url + "/auth"

    @property
    def auth_token_url(self) -> str:
        return self.base_url + "/token"

    @property
    def key_set_url(self) -> str:
        return self.base_url + "/jwks"

    def nrps_url(self) -> str:
        return f"{self.base_url}/nrps/{self.context['id']}/memberships"

    def lineitems_url(self) -> str:
        return f"{self.base_url}/ags/{self.context['id']}/lineitems"

    def registration(self) -> dict[str, Any]:
        """What `microcred platforms add` (lti_tool.platforms.add_platform) needs."""
        return {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "auth_login_url": self.auth_login_url,
            "auth_token_url": self.auth_token_url,
            "key_set_url": self.key_set_url,
            "deployment_ids": [self.deployment_id],
            "name": self.name,
        }

    def add_classroom(self) -> None:
        """The three people the tests and the demo use: a learner, a teacher, an admin."""
        self.add_member("learner-1", "Ada Lovelace", [ROLE_LEARNER])
        self.add_member("teacher-1", "Grace Hopper", [ROLE_INSTRUCTOR])
        self.add_member("admin-1", "Alan Turing", [ROLE_ADMIN])

    # -- members ------------------------------------------------------------------------

    def add_member(self, sub: str, name: str, roles: list[str], email: str = "") -> Member:
        given, _, family = name.partition(" ")
        member = Member(sub, name, email or f"{sub}@example.edu", roles, given, family)
        self.members[sub] = member
        return member

    # -- OIDC: what the LMS sends the tool ----------------------------------------------

    def login_params(self, sub: str, *, target: str | None = None, **extra: str) -> dict[str, str]:
        """Third-party initiated login parameters (LTI Core §5.1.1.1)."""
        params = {
            "iss": self.issuer,
            "login_hint": sub,
            "target_link_uri": target or self.tool_url + "/lti/launch",
            "lti_message_hint": "rl-1",
            "client_id": self.client_id,
            "lti_deployment_id": self.deployment_id,
        }
        params.update(extra)
        return params

    def claims_for(
        self, sub: str, nonce: str, *, message_type: str = "LtiResourceLinkRequest"
    ) -> dict[str, Any]:
        member = self.members[sub]
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": member.sub,
            "exp": now + 300,
            "iat": now,
            "nonce": nonce,
            "name": member.name,
            "given_name": member.given_name,
            "family_name": member.family_name,
            "email": member.email,
            LTI + "message_type": message_type,
            LTI + "version": "1.3.0",
            LTI + "deployment_id": self.deployment_id,
            LTI + "target_link_uri": self.tool_url + "/lti/launch",
            LTI + "roles": list(member.roles),
            LTI + "context": dict(self.context),
            LTI + "tool_platform": {
                "guid": self.issuer,
                "name": self.name,
                "product_family_code": "microcred-testplatform",
            },
            LTI + "launch_presentation": {"document_target": "iframe"},
            LTI + "custom": dict(member.extra.get("custom", {})),
            "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
                "context_memberships_url": self.nrps_url(),
                "service_versions": ["2.0"],
            },
            "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {
                "scope": list(AGS_SCOPES),
                "lineitems": self.lineitems_url(),
            },
        }
        if message_type == "LtiResourceLinkRequest":
            claims[LTI + "resource_link"] = {"id": "rl-1", "title": "Credentials"}
        if message_type == "LtiDeepLinkingRequest":
            claims["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"] = {
                "deep_link_return_url": self.base_url + "/deep-link-return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "data": self.deep_link_data,
            }
        return claims

    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        key: SigningKey | None = None,
        headers: Mapping[str, Any] | None = None,
        algorithm: str = "RS256",
    ) -> str:
        key = key or self.keys[0]
        all_headers = {"kid": key.kid}
        all_headers.update(headers or {})
        return jwt.encode(dict(claims), key.private_key, algorithm=algorithm, headers=all_headers)

    def authorize(self, auth_request_url: str) -> dict[str, str]:
        """Answer an OIDC authorization request as the LMS would: {id_token, state, action}.

        Checks what a platform checks (LTI Core §5.1.1.3): fixed OIDC values, the client id,
        a redirect URI on the tool, a nonce, a known user.
        """
        query = {k: v[0] for k, v in parse_qs(urlsplit(auth_request_url).query).items()}
        problems = [
            f"{name}={query.get(name)!r}"
            for name, expected in (
                ("scope", "openid"),
                ("response_type", "id_token"),
                ("response_mode", "form_post"),
                ("prompt", "none"),
                ("client_id", self.client_id),
            )
            if query.get(name) != expected
        ]
        if not query.get("redirect_uri", "").startswith(self.tool_url):
            problems.append("redirect_uri")
        if not query.get("nonce") or not query.get("state"):
            problems.append("nonce/state")
        sub = query.get("login_hint", "")
        if sub not in self.members:
            problems.append("login_hint")
        if problems:
            raise ValueError("invalid authorization request: " + ", ".join(problems))
        message_type = (
            "LtiDeepLinkingRequest"
            if query.get("lti_message_hint") == "deep-link"
            else "LtiResourceLinkRequest"
        )
        claims = self.claims_for(sub, query["nonce"], message_type=message_type)
        if self.claim_overrides:
            claims = self.claim_overrides(claims)
        return {
            "id_token": self.sign(claims),
            "state": query["state"],
            "action": query["redirect_uri"],
        }

    # -- HTTP side: JWKS, /auth form post, /token, NRPS ---------------------------------

    def wsgi_app(self) -> Flask:
        app = Flask("testplatform")

        @app.get("/jwks")
        def jwks() -> Response:
            self.jwks_requests += 1
            return jsonify({"keys": [k.jwk() for k in self.keys]})

        @app.get("/auth")
        def auth() -> str:
            try:
                answer = self.authorize(request.url)
            except ValueError as exc:
                abort(400, str(exc))
            return (
                "<!doctype html><html><body>"
                f'<form id="f" method="post" action="{escape(answer["action"])}">'
                f'<input type="hidden" name="id_token" value="{escape(answer["id_token"])}">'
                f'<input type="hidden" name="state" value="{escape(answer["state"])}">'
                "</form><script>document.getElementById('f').submit()</script>"
                "</body></html>"
            )

        @app.post("/token")
        def token() -> tuple[Response, int] | Response:
            return self._token_endpoint()

        @app.get("/nrps/<context_id>/memberships")
        def nrps(context_id: str) -> Response:
            self._require_bearer(NRPS_SCOPE)
            if context_id != self.context["id"]:
                abort(404)
            members = sorted(self.members.values(), key=lambda m: m.sub)
            page = int(request.args.get("page", "1"))
            size = self.nrps_page_size
            chunk = members[(page - 1) * size : page * size]
            response = jsonify(
                {
                    "id": request.url,
                    "context": self.context,
                    "members": [
                        {
                            "user_id": m.sub,
                            "status": "Active",
                            "name": m.name,
                            "given_name": m.given_name,
                            "family_name": m.family_name,
                            "email": m.email,
                            "roles": m.roles,
                        }
                        for m in chunk
                    ],
                }
            )
            response.headers["Content-Type"] = (
                "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
            )
            if page * size < len(members):
                next_url = f"{self.nrps_url()}?{urlencode({'page': page + 1})}"
                response.headers["Link"] = f'<{next_url}>; rel="next"'
            return response

        register_pages(app, self)  # /course: the tool in an iframe, with Platform Storage
        register_gradebook(app, self, fetch_tool_jwks(self))  # AGS, deep-linking return
        return app

    _issued_tokens: dict[str, tuple[set[str], float]] = field(default_factory=dict)
    _seen_jti: set[str] = field(default_factory=set)

    def _token_endpoint(self) -> tuple[Response, int] | Response:
        """OAuth 2.0 client credentials with a JWT client assertion (RFC 7523)."""
        self.token_requests += 1
        form = request.form
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("client_assertion_type")
            != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ):
            return jsonify({"error": "unsupported_grant_type"}), 400
        assertion = form.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            tool_jwks = requests.get(self.tool_url + "/lti/jwks", timeout=5).json()
            jwk = next(k for k in tool_jwks["keys"] if k["kid"] == header.get("kid"))
            key = RSAAlgorithm.from_jwk(json.dumps(jwk))
            if not isinstance(key, rsa.RSAPublicKey):
                raise KeyError("not an RSA public key")
            claims = jwt.decode(
                assertion,
                key,
                algorithms=["RS256"],
                audience=self.auth_token_url,
                options={"require": ["iss", "sub", "jti", "exp"]},
            )
        except (jwt.PyJWTError, StopIteration, KeyError, requests.RequestException) as exc:
            return jsonify({"error": "invalid_client", "error_description": str(exc)}), 401
        if claims["iss"] != self.client_id or claims["sub"] != self.client_id:
            return jsonify({"error": "invalid_client"}), 401
        if claims["jti"] in self._seen_jti:
            return jsonify({"error": "invalid_grant", "error_description": "jti reused"}), 400
        self._seen_jti.add(claims["jti"])
        access_token = secrets.token_urlsafe(24)
        scopes = set(form.get("scope", "").split())
        self._issued_tokens[access_token] = (scopes, time.time() + self.token_lifetime)
        return jsonify(
            {
                "access_token": access_token,
                "token_type": "bearer",
                "expires_in": self.token_lifetime,
                "scope": " ".join(sorted(scopes)),
            }
        )

    def require_bearer_any(self, *scopes: str) -> None:
        """401 unless the request carries a live token granted one of `scopes`."""
        auth = request.headers.get("Authorization", "")
        issued = self._issued_tokens.get(auth.removeprefix("Bearer ").strip())
        if issued is None or issued[1] < time.time() or not issued[0] & set(scopes):
            abort(401)

    def link_launch(self, link: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """Claims for launching a deep-linked resource link (for `Launcher.authorize`)."""

        def mutate(claims: dict[str, Any]) -> dict[str, Any]:
            claims[LTI + "resource_link"] = {"id": link["id"], "title": link["title"]}
            claims[LTI + "custom"] = dict(link["custom"])
            if link.get("lineitem"):
                ags = claims["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"]
                ags["lineitem"] = link["lineitem"]
            return claims

        return mutate

    def _require_bearer(self, scope: str) -> None:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        issued = self._issued_tokens.get(token)
        if issued is None or issued[1] < time.time() or scope not in issued[0]:
            abort(401)

    # -- lifecycle ----------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> TestPlatform:
        self._server = make_server(host, port, self.wsgi_app(), threaded=True)
        self.base_url = f"http://{host}:{self._server.server_port}"
        if not self.issuer:
            self.issuer = self.base_url
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def rotate_key(self) -> SigningKey:
        """Publish a new key and sign with it from now on (like D2L's hourly rotation)."""
        key = SigningKey.generate()
        self.keys.insert(0, key)
        return key
