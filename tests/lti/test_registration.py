"""Dynamic Registration (LTI-DR 1.0) against fake Moodle and Canvas platforms on loopback.

The fakes serve the OpenID configuration and the registration endpoint in the shapes the
real platforms use (Moodle `mod/lti/openid-configuration.php` and `openid-registration.php`,
including the quirks of Moodle 3.10; Canvas `api/lti/security/openid-configuration` and
`api/lti/registrations`) and refuse a registration request the way they would when it is
not well formed. The OIDC, token and JWKS endpoints they advertise are a real TestPlatform,
so the launch after registration is a real signed launch.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask, Response, jsonify, request
from flask.testing import FlaskClient
from sqlalchemy import func, select

from lti_tool.app import create_app
from lti_tool.db import Database
from lti_tool.lti.provisioning import HR_ID_CUSTOM_KEYS
from lti_tool.lti.registration import _is_under
from lti_tool.models import Deployment, Platform
from lti_tool.platforms import add_platform
from lti_tool.settings import Settings
from lti_tool.testplatform import ROLE_INSTRUCTOR, ROLE_LEARNER, TestPlatform

from ..support.launcher import Launcher
from ..support.served import free_port, serving

PLATFORM_CONFIG = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIG = "https://purl.imsglobal.org/spec/lti-tool-configuration"
AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
CANVAS = "https://canvas.instructure.com/lti/"
RL, DL = "LtiResourceLinkRequest", "LtiDeepLinkingRequest"

MOODLE_VARIABLES = [
    "basic-lti-launch-request",
    "ContentItemSelectionRequest",
    "ToolProxyRegistrationRequest",
    "Context.id",
    "Context.title",
    "Context.label",
    "Context.sourcedId",
    "CourseSection.sourcedId",
    "ResourceLink.id",
    "ResourceLink.title",
    "User.id",
    "User.username",
    "Person.name.full",
    "Person.name.given",
    "Person.name.family",
    "Person.email.primary",
    "Person.sourcedId",
    "Membership.role",
    "Result.sourcedId",
]
CANVAS_VARIABLES = [
    "ResourceLink.id",
    "Context.id",
    "Person.sourcedId",
    "Canvas.api.domain",
    "Canvas.course.id",
    "Canvas.user.sisIntegrationId",
    "Canvas.environment.test",
]


@dataclass
class FakeLMS:
    """An LMS's registration side. `flavour`: moodle (4.1+), moodle310 or canvas."""

    flavour: str
    lms: TestPlatform
    port: int
    token: str = field(default_factory=lambda: "reg." + uuid.uuid4().hex)
    config_status: int = 200
    config_raw: bytes | None = None
    mutate_config: Callable[[dict[str, Any]], None] | None = None
    registration_status: int | None = None  # force an error answer
    registration_raw: bytes | None = None
    registrations: list[dict[str, Any]] = field(default_factory=list)
    config_requests: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_canvas(self) -> bool:
        return self.flavour == "canvas"

    @property
    def config_path(self) -> str:
        return (
            "/api/lti/security/openid-configuration"
            if self.is_canvas
            else "/mod/lti/openid-configuration.php"
        )

    @property
    def registration_path(self) -> str:
        return "/api/lti/registrations" if self.is_canvas else "/mod/lti/openid-registration.php"

    @property
    def config_url(self) -> str:
        return self.base_url + self.config_path

    def scopes_supported(self) -> list[str]:
        if self.is_canvas:
            return [
                AGS + "lineitem",
                AGS + "lineitem.readonly",
                AGS + "result.readonly",
                AGS + "score",
                NRPS,
                "https://canvas.instructure.com/lti/public_jwk/scope/update",
                "https://canvas.instructure.com/lti/account_lookup/scope/show",
                "https://canvas.instructure.com/lti-ags/progress/scope/show",
            ]
        return [
            AGS + "lineitem",
            AGS + "lineitem.readonly",
            AGS + "result.readonly",
            AGS + "score",
            NRPS,
            "https://purl.imsglobal.org/spec/lti-ts/scope/toolsetting",
            "openid",
        ]

    def openid_configuration(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "issuer": self.lms.issuer,
            "token_endpoint": self.lms.auth_token_url,
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "jwks_uri": self.lms.key_set_url,
            "authorization_endpoint": self.lms.auth_login_url,
            "registration_endpoint": self.base_url + self.registration_path,
            "scopes_supported": self.scopes_supported(),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
        }
        if self.is_canvas:
            doc["subject_types_supported"] = ["public"]
            doc["authorization_server"] = urlsplit(self.base_url).netloc
            doc[PLATFORM_CONFIG] = {
                "product_family_code": "canvas",
                "version": "vCloud",
                "messages_supported": [
                    {
                        "type": RL,
                        "placements": [
                            "account_navigation",
                            "course_navigation",
                            "link_selection",
                        ],
                    },
                    {
                        "type": DL,
                        "placements": ["assignment_selection", "editor_button", "link_selection"],
                    },
                ],
                "notice_types_supported": ["LtiHelloWorldNotice"],
                "variables": CANVAS_VARIABLES,
                CANVAS + "account_name": "Test University",
                CANVAS + "account_lti_guid": "pNu5F9EoIATW6XqZ33C5tiqomb7bFJ4IGWFoCFy6:canvas-lms",
            }
        elif self.flavour == "moodle":
            doc[PLATFORM_CONFIG] = {
                "product_family_code": "moodle",
                "version": "4.1.2 (Build: 20230313)",
                "messages_supported": [RL, DL],
                "placements": ["AddContentMenu"],
                "variables": MOODLE_VARIABLES,
            }
        else:  # Moodle 3.10: as its openid-configuration.php printed it
            del doc["authorization_endpoint"]
            doc[PLATFORM_CONFIG + " "] = {
                "product_family_code": "moodle",
                "version": "3.10.4 (Build: 20210517)",
                "messages_supported": ["LtiResourceLink", DL],
                "placements": ["AddContentMenu"],
                "variables": MOODLE_VARIABLES,
            }
        if self.mutate_config is not None:
            self.mutate_config(doc)
        return doc

    # -- checks a real platform makes on the registration request ---------------------

    def problems(self, body: Any) -> list[str]:
        if not isinstance(body, dict):
            return ["body is not a JSON object"]
        problems = []
        for name in (
            "application_type",
            "response_types",
            "grant_types",
            "initiate_login_uri",
            "redirect_uris",
            "client_name",
            "jwks_uri",
            "token_endpoint_auth_method",
            TOOL_CONFIG,
        ):
            if not body.get(name):
                problems.append(f"missing required attribute {name}")
        if problems:
            return problems
        if body["application_type"] != "web":
            problems.append("application_type: Must be 'web'")
        if "id_token" not in body["response_types"]:
            problems.append("invalid_response_types")
        if {"client_credentials", "implicit"} - set(body["grant_types"]):
            problems.append("grant_types: Must include client_credentials, implicit")
        if not isinstance(body["redirect_uris"], list) or not all(
            isinstance(u, str) and u.startswith("http") for u in body["redirect_uris"]
        ):
            problems.append("invalid_redirect_uris")
        if body["token_endpoint_auth_method"] != "private_key_jwt":
            problems.append("invalid_token_endpoint_auth_method")
        scopes = body.get("scope", "")
        if not isinstance(scopes, str):
            problems.append("scope must be a space-separated string")
        else:
            invalid = [s for s in scopes.split() if s not in self.scopes_supported()]
            if invalid:
                problems.append(f"Invalid scopes: {', '.join(invalid)}")
        config = body[TOOL_CONFIG]
        required = ["domain", "target_link_uri"]
        if self.is_canvas:
            required += ["messages", "claims"]
        problems += [f"missing required attribute {n}" for n in required if not config.get(n)]
        for message in config.get("messages", []):
            if message.get("type") not in (RL, DL):
                problems.append(f"message type {message.get('type')!r}")
            placements = message.get("placements", [])
            if not isinstance(placements, list) or not all(isinstance(p, str) for p in placements):
                problems.append("placements must be a list of strings")
        custom = config.get("custom_parameters", {})
        if not all(isinstance(v, str) for v in custom.values()):
            problems.append("custom parameter values must be strings")
        return problems

    # -- HTTP -----------------------------------------------------------------------------

    def app(self) -> Flask:
        app = Flask("fake-lms")

        @app.get(self.config_path)
        def openid_configuration() -> Response | tuple[Response, int]:
            self.config_requests += 1
            if self.is_canvas and request.headers.get("Authorization") != f"Bearer {self.token}":
                return jsonify({"errors": [{"message": "Invalid access token format"}]}), 401
            if self.config_raw is not None:
                return Response(self.config_raw, self.config_status, mimetype="application/json")
            return jsonify(self.openid_configuration()), self.config_status

        @app.post(self.registration_path)
        def register() -> Response | tuple[Response | str, int]:
            auth = request.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                return "missing_registration_token", 401
            if auth.removeprefix("Bearer ").strip() != self.token:
                return jsonify({"errors": [{"message": "Invalid registration token"}]}), 401
            if request.mimetype != "application/json":
                return jsonify({"error": "invalid_client_metadata"}), 415
            body = request.get_json(silent=True)
            problems = self.problems(body)
            if problems:
                if self.is_canvas:
                    return jsonify({"errors": problems}), 422
                return "; ".join(problems), 400
            self.registrations.append(body)
            if self.registration_status is not None:
                answer = self.registration_raw or b'{"error": "server_error"}'
                return Response(answer, self.registration_status, mimetype="application/json")
            if self.registration_raw is not None:
                return Response(self.registration_raw, 200, mimetype="application/json")
            return jsonify(self.answer(body)), 200

        return app

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        tool = body[TOOL_CONFIG]
        if self.is_canvas:  # the registration as created, plus client_id; no deployment yet
            return {**body, "client_id": self.lms.client_id}
        # Moodle's registration_helper::config_to_registration()
        messages = [
            {"type": DL, "target_link_uri": m["target_link_uri"]}
            for m in tool.get("messages", [])
            if m["type"] == DL
        ]
        return {
            "client_id": self.lms.client_id,
            "token_endpoint_auth_method": "private_key_jwt",
            "response_types": ["id_token"],
            "jwks_uri": body["jwks_uri"],
            "initiate_login_uri": body["initiate_login_uri"],
            "grant_types": ["client_credentials", "implicit"],
            "redirect_uris": body["redirect_uris"],
            "application_type": ["web"],
            "client_name": body["client_name"],
            "logo_uri": body.get("logo_uri", ""),
            "scope": body.get("scope", ""),
            TOOL_CONFIG: {
                "deployment_id": self.lms.deployment_id,
                "target_link_uri": tool["target_link_uri"],
                "domain": tool["domain"],
                "description": tool.get("description", ""),
                "messages": messages,
                "claims": ["sub", "iss", "name", "family_name", "middle_name", "email"],
            },
        }


@pytest.fixture
def make_lms(settings: Settings) -> Iterator[Callable[..., FakeLMS]]:
    """Start a fake LMS (registration side) and the TestPlatform behind its OIDC endpoints."""
    started: list[Any] = []

    def make(flavour: str = "moodle", **kwargs: Any) -> FakeLMS:
        port = free_port()
        canvas = flavour == "canvas"
        lms = TestPlatform(
            tool_url=settings.public_url,
            issuer=f"http://127.0.0.1:{port}",
            client_id="10000000000042" if canvas else "aB3dE5gH7jK9mN1",
            deployment_id="42:8865aa05b4b79b64a91a86042e43af5ea8ae79eb" if canvas else "7",
            name="Fake Canvas" if canvas else "Fake Moodle",
        ).serve()
        lms.add_member("learner-1", "Ada Lovelace", [ROLE_LEARNER])
        lms.add_member("teacher-1", "Grace Hopper", [ROLE_INSTRUCTOR])
        fake = FakeLMS(flavour, lms, port, **kwargs)
        server = serving(fake.app(), port)
        server.__enter__()
        started.append((lms, server))
        return fake

    yield make
    for lms, server in started:
        server.__exit__(None, None, None)
        lms.stop()


def _register(client: FlaskClient, fake: FakeLMS, token: str | None = "", **extra: str) -> Any:
    query = {"openid_configuration": fake.config_url, **extra}
    token = fake.token if token == "" else token
    if token is not None:
        query["registration_token"] = token
    return client.get("/lti/register", query_string=query, base_url="https://tool.test")


def _platforms(database: Database) -> list[tuple[str, str, str, list[str], bool]]:
    with database.session() as s:
        rows = s.scalars(select(Platform).order_by(Platform.id)).all()
        return [
            (
                p.issuer,
                p.client_id,
                p.auth_login_url,
                [d.deployment_id for d in p.deployments],
                p.auto_deployments,
            )
            for p in rows
        ]


def _count(database: Database, model: type) -> int:
    with database.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


# -- Moodle ---------------------------------------------------------------------------


def test_moodle_registration_stores_platform_and_deployment_then_launches(
    client: FlaskClient, database: Database, make_lms: Callable[..., FakeLMS], caplog: Any
) -> None:
    caplog.set_level(logging.INFO)
    fake = make_lms("moodle")
    response = _register(client, fake)
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert response.headers["Cache-Control"] == "no-store"
    assert "Microcred is registered" in html
    assert "Moodle (127.0.0.1:" in html
    assert fake.lms.client_id in html and fake.lms.deployment_id in html
    # The close message comes from a static script (CSP script-src 'self'), never inline.
    assert '<script src="/static/registration_close.js" defer></script>' in html
    assert "<script>" not in html
    assert 'data-subject="org.imsglobal.lti.close"' in html
    assert fake.token not in html and fake.token not in caplog.text

    lms = fake.lms
    assert _platforms(database) == [
        (lms.issuer, lms.client_id, lms.auth_login_url, [lms.deployment_id], True)
    ]
    with database.session() as s:
        platform = s.scalars(select(Platform)).one()
        assert platform.name == f"Moodle ({urlsplit(lms.issuer).netloc})"
        assert platform.auth_token_url == lms.auth_token_url
        assert platform.key_set_url == lms.key_set_url
        assert platform.auth_audience is None
        assert platform.product["product_family_code"] == "moodle"
        assert platform.product["version"].startswith("4.1.2")

    page = Launcher(client, lms).land("teacher-1")
    assert page.status_code == 200
    assert "Course credentials" in page.get_data(as_text=True)


def test_moodle_registration_request_shape(
    client: FlaskClient, settings: Settings, make_lms: Callable[..., FakeLMS]
) -> None:
    fake = make_lms("moodle")
    assert _register(client, fake).status_code == 200
    [body] = fake.registrations
    assert body["application_type"] == "web"
    assert body["response_types"] == ["id_token"]
    assert set(body["grant_types"]) == {"implicit", "client_credentials"}
    assert body["initiate_login_uri"] == "https://tool.test/lti/login"
    assert body["redirect_uris"] == ["https://tool.test/lti/launch"]
    assert body["jwks_uri"] == "https://tool.test/lti/jwks"
    assert body["client_name"] == settings.tool_name
    assert body["token_endpoint_auth_method"] == "private_key_jwt"
    assert body["scope"].split() == [
        AGS + "lineitem",
        AGS + "score",
        AGS + "result.readonly",
        NRPS,
    ]
    tool = body[TOOL_CONFIG]
    assert tool["domain"] == "tool.test"
    assert tool["target_link_uri"] == "https://tool.test/lti/launch"
    assert {"iss", "sub", "name", "email"} <= set(tool["claims"])
    assert [m["type"] for m in tool["messages"]] == [RL, DL]
    deep_link = tool["messages"][1]
    assert deep_link["target_link_uri"] == "https://tool.test/lti/launch"
    assert deep_link["placements"] == ["AddContentMenu"]
    assert tool["custom_parameters"] == {"person_id": "$Person.sourcedId"}
    assert set(tool["custom_parameters"]) <= set(HR_ID_CUSTOM_KEYS)


def test_moodle_310_quirks(
    client: FlaskClient, database: Database, make_lms: Callable[..., FakeLMS]
) -> None:
    """Trailing-space configuration key, `LtiResourceLink`, no authorization_endpoint."""
    fake = make_lms("moodle310")
    response = _register(client, fake)
    assert response.status_code == 200, response.get_data(as_text=True)
    [(issuer, _client_id, auth_url, deployments, _auto)] = _platforms(database)
    assert auth_url == issuer + "/mod/lti/auth.php"
    assert deployments == [fake.lms.deployment_id]
    assert [m["type"] for m in fake.registrations[0][TOOL_CONFIG]["messages"]] == [RL, DL]
    # The login redirects to Moodle's OIDC endpoint; the rest of the launch is real.
    launcher = Launcher(client, fake.lms)
    login = launcher.login("learner-1")
    assert login.location.startswith(issuer + "/mod/lti/auth.php?")
    assert launcher.land("learner-1").status_code == 200


def test_only_scopes_the_platform_offers_are_requested(
    client: FlaskClient, make_lms: Callable[..., FakeLMS]
) -> None:
    def no_nrps(doc: dict[str, Any]) -> None:
        doc["scopes_supported"] = [s for s in doc["scopes_supported"] if s != NRPS]

    fake = make_lms("moodle", mutate_config=no_nrps)
    assert _register(client, fake).status_code == 200
    assert NRPS not in fake.registrations[0]["scope"]
    assert AGS + "score" in fake.registrations[0]["scope"]


# -- Canvas ---------------------------------------------------------------------------


def test_canvas_registration_without_deployment_then_first_launch_adds_it(
    client: FlaskClient, database: Database, make_lms: Callable[..., FakeLMS]
) -> None:
    fake = make_lms("canvas")
    response = _register(client, fake)
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert "Canvas (Test University)" in html
    assert "none yet" in html
    lms = fake.lms
    assert _platforms(database) == [(lms.issuer, lms.client_id, lms.auth_login_url, [], True)]
    with database.session() as s:
        platform = s.scalars(select(Platform)).one()
        assert platform.auth_audience == urlsplit(lms.issuer).netloc  # authorization_server
        assert platform.product["product_family_code"] == "canvas"

    launcher = Launcher(client, lms)
    assert launcher.land("learner-1").status_code == 200
    assert launcher.land("teacher-1").status_code == 200
    assert _platforms(database)[0][3] == [lms.deployment_id]

    # A deployment an admin deactivated stays refused.
    with database.session() as s:
        s.scalars(select(Deployment)).one().active = False
        s.commit()
    refused = launcher.launch("learner-1")
    assert refused.status_code == 403
    assert _count(database, Deployment) == 1


def test_canvas_registration_request_shape(
    client: FlaskClient, make_lms: Callable[..., FakeLMS]
) -> None:
    fake = make_lms("canvas")
    assert _register(client, fake).status_code == 200
    assert fake.config_requests == 1
    [body] = fake.registrations
    tool = body[TOOL_CONFIG]
    assert tool[CANVAS + "privacy_level"] == "public"
    by_type = {m["type"]: m for m in tool["messages"]}
    assert by_type[RL]["placements"] == [CANVAS + "course_navigation"]
    assert by_type[DL]["placements"] == [
        CANVAS + "link_selection",
        CANVAS + "assignment_selection",
        CANVAS + "editor_button",
    ]
    assert all(m["icon_uri"] == "https://tool.test/static/icon.svg" for m in tool["messages"])
    assert tool["custom_parameters"] == {
        "person_id": "$Person.sourcedId",
        "sis_id": "$Canvas.user.sisIntegrationId",
        "canvas_course_id": "$Canvas.course.id",
        "canvas_api_domain": "$Canvas.api.domain",
    }


def test_registering_again_updates_instead_of_duplicating(
    client: FlaskClient, database: Database, make_lms: Callable[..., FakeLMS]
) -> None:
    fake = make_lms("canvas")
    assert _register(client, fake).status_code == 200

    def moved(doc: dict[str, Any]) -> None:
        doc["jwks_uri"] = fake.lms.key_set_url + "?v=2"
        doc[PLATFORM_CONFIG][CANVAS + "account_name"] = "Renamed University"

    fake.mutate_config = moved
    again = _register(client, fake)
    assert again.status_code == 200
    assert "Updated the registration" in again.get_data(as_text=True)
    with database.session() as s:
        platform = s.scalars(select(Platform)).one()
        assert platform.key_set_url == fake.lms.key_set_url + "?v=2"
        assert platform.name == "Canvas (Renamed University)"


def test_existing_manual_registration_keeps_refusing_unknown_deployments(
    client: FlaskClient, database: Database, make_lms: Callable[..., FakeLMS]
) -> None:
    fake = make_lms("canvas")
    lms = fake.lms
    with database.session() as s:
        platform, _ = add_platform(
            s,
            issuer=lms.issuer,
            client_id=lms.client_id,
            auth_login_url=lms.auth_login_url,
            auth_token_url=lms.auth_token_url,
            key_set_url=lms.key_set_url,
            deployment_ids=["another-deployment"],
        )
        assert platform.auto_deployments is False
        s.commit()
    response = Launcher(client, lms).launch("learner-1")
    assert response.status_code == 403
    assert _count(database, Deployment) == 1


# -- failures: a clear page, nothing stored ------------------------------------------


def _failed(response: Any, status: int, text: str, database: Database) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == status, html
    assert "Registration failed" in html
    assert text in html
    assert response.headers["Cache-Control"] == "no-store"
    assert _count(database, Platform) == 0
    assert _count(database, Deployment) == 0


def test_missing_openid_configuration(client: FlaskClient, database: Database) -> None:
    response = client.get("/lti/register", base_url="https://tool.test")
    _failed(response, 400, "open it from your LMS", database)


def test_unreachable_configuration(client: FlaskClient, database: Database, caplog: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}/mod/lti/openid-configuration.php"
    response = client.get(
        "/lti/register",
        query_string={"openid_configuration": url, "registration_token": "secret-token"},
        base_url="https://tool.test",
    )
    _failed(response, 502, "could not be reached", database)
    assert "secret-token" not in caplog.text


def test_configuration_not_under_issuer(
    client: FlaskClient, database: Database, make_lms: Callable[..., FakeLMS]
) -> None:
    fake = make_lms("moodle")
    # A prefix of the real origin as a string ("http://127.0.0.1:5432" of ":54321"), but
    # another origin: a plain startswith() check would accept it.
    fake.mutate_config = lambda doc: doc.update(issuer=fake.base_url[:-1])
    _failed(_register(client, fake), 400, "does not belong to the issuer", database)
    assert fake.registrations == []


def test_is_under_issuer() -> None:
    assert _is_under("https://lms.example.edu/mod/lti/x.php", "https://lms.example.edu")
    assert _is_under("https://LMS.example.edu/moodle/x", "https://lms.example.edu/moodle/")
    assert not _is_under("https://lms.example.edu.evil.test/x", "https://lms.example.edu")
    assert not _is_under("https://lms.example.edu/moodle2/x", "https://lms.example.edu/moodle")
    assert not _is_under("http://lms.example.edu/x", "https://lms.example.edu")
    assert not _is_under("https://lms.example.edu:8443/x", "https://lms.example.edu")


@pytest.mark.parametrize(
    ("flavour", "remove"),
    [
        ("moodle", "token_endpoint"),
        ("moodle", "jwks_uri"),
        ("moodle", "registration_endpoint"),
        ("moodle", "issuer"),
        ("moodle", PLATFORM_CONFIG),
        ("moodle", PLATFORM_CONFIG + ".product_family_code"),
        ("moodle", PLATFORM_CONFIG + ".messages_supported"),
        ("canvas", "authorization_endpoint"),
    ],
)
def test_missing_required_configuration_fields(
    client: FlaskClient,
    database: Database,
    make_lms: Callable[..., FakeLMS],
    flavour: str,
    remove: str,
) -> None:
    def drop(doc: dict[str, Any]) -> None:
        if remove.startswith(PLATFORM_CONFIG + "."):
            del doc[PLATFORM_CONFIG][remove.split(".")[-1]]
        else:
            del doc[remove]

    fake = make_lms(flavour, mutate_config=drop)
    _failed(_register(client, fake), 502, "not usable for LTI registration", database)
    assert fake.registrations == []


def test_configuration_endpoints_must_be_urls(
    client: FlaskClient, database: Database, make_lms: Callable[..., FakeLMS]
) -> None:
    fake = make_lms("moodle", mutate_config=lambda d: d.update(jwks_uri="file:///etc/passwd"))
    _failed(_register(client, fake), 502, "jwks_uri must be an http(s) URL", database)


def test_production_requires_https(
    settings: Settings, database: Database, make_lms: Callable[..., FakeLMS]
) -> None:
    app = create_app(dataclasses.replace(settings, env="production"), database=database)
    fake = make_lms("moodle")
    response = _register(app.test_client(), fake)
    _failed(response, 400, "must be an https URL", database)
    assert fake.config_requests == 0


def test_canvas_configuration_needs_the_token(
    client: FlaskClient, database: Database, make_lms: Callable[..., FakeLMS]
) -> None:
    fake = make_lms("canvas")
    _failed(_register(client, fake, token=None), 502, "HTTP 401", database)


@pytest.mark.parametrize("flavour", ["moodle", "canvas"])
def test_registration_refused_with_wrong_token(
    client: FlaskClient, database: Database, make_lms: Callable[..., FakeLMS], flavour: str
) -> None:
    fake = make_lms(flavour)
    response = _register(client, fake, token="wrong")
    if flavour == "canvas":  # Canvas checks the token on the configuration request already
        _failed(response, 502, "could not be read (HTTP 401)", database)
    else:
        _failed(response, 502, "The LMS refused the registration (HTTP 401", database)
        assert "expired or been used already" in response.get_data(as_text=True)


def test_registration_without_token_is_refused_by_moodle(
    client: FlaskClient, database: Database, make_lms: Callable[..., FakeLMS]
) -> None:
    fake = make_lms("moodle")
    response = _register(client, fake, token=None)
    _failed(response, 502, "missing_registration_token", database)


def test_registration_endpoint_server_error(
    client: FlaskClient, database: Database, make_lms: Callable[..., FakeLMS]
) -> None:
    fake = make_lms("canvas", registration_status=500)
    _failed(_register(client, fake), 502, "HTTP 500: server_error", database)


def test_canvas_422_errors_are_shown(
    client: FlaskClient, database: Database, make_lms: Callable[..., FakeLMS]
) -> None:
    fake = make_lms(
        "canvas",
        registration_status=422,
        registration_raw=json.dumps({"errors": ["Invalid scopes: x"]}).encode(),
    )
    _failed(_register(client, fake), 502, "HTTP 422: Invalid scopes: x", database)


@pytest.mark.parametrize(
    ("field_name", "raw", "text"),
    [
        ("config_raw", b"<html>not json{", "OpenID configuration is not valid JSON"),
        ("config_raw", b"[1, 2]", "OpenID configuration is not a JSON object"),
        ("registration_raw", b"{not json", "registration answer is not valid JSON"),
        ("registration_raw", b'{"client_name": "x"}', "no usable client_id"),
    ],
)
def test_malformed_answers(
    client: FlaskClient,
    database: Database,
    make_lms: Callable[..., FakeLMS],
    field_name: str,
    raw: bytes,
    text: str,
) -> None:
    fake = make_lms("moodle", **{field_name: raw})
    _failed(_register(client, fake), 502, text, database)


@pytest.mark.parametrize("status", [404, 302])
def test_configuration_http_error(
    client: FlaskClient, database: Database, make_lms: Callable[..., FakeLMS], status: int
) -> None:
    """Error answers and redirects (never followed: they could point anywhere) stop here."""
    fake = make_lms("moodle", config_status=status)
    _failed(_register(client, fake), 502, f"HTTP {status}", database)
    assert fake.registrations == []
