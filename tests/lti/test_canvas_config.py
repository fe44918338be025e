"""GET /lti/config/canvas.json: the Canvas developer key configuration ("Enter URL")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask.testing import FlaskClient

from lti_tool.lti.provisioning import HR_ID_CUSTOM_KEYS
from lti_tool.settings import Settings

AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_canvas_json(client: FlaskClient, settings: Settings) -> None:
    response = client.get("/lti/config/canvas.json", base_url="https://tool.test")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["X-Microcred-Config-Version"]
    config = response.get_json()

    assert config["title"] == settings.tool_name
    assert config["description"] == settings.tool_description
    assert config["oidc_initiation_url"] == "https://tool.test/lti/login"
    assert config["target_link_uri"] == "https://tool.test/lti/launch"
    assert config["public_jwk_url"] == "https://tool.test/lti/jwks"
    assert set(config["scopes"]) == {
        AGS + "lineitem",
        AGS + "score",
        AGS + "result.readonly",
        NRPS,
    }
    custom = config["custom_fields"]
    assert custom["canvas_course_id"] == "$Canvas.course.id"
    assert custom["sis_id"] == "$Canvas.user.sisIntegrationId"
    assert {k for k in custom if k in HR_ID_CUSTOM_KEYS} == {"sis_id", "person_id"}
    assert all(isinstance(v, str) and v.startswith("$") for v in custom.values())

    [extension] = config["extensions"]
    assert extension["platform"] == "canvas.instructure.com"
    assert extension["privacy_level"] == "public"
    assert extension["domain"] == "tool.test"
    placements = {p["placement"]: p for p in extension["settings"]["placements"]}
    assert {name: p["message_type"] for name, p in placements.items()} == {
        "course_navigation": "LtiResourceLinkRequest",
        "link_selection": "LtiDeepLinkingRequest",
        "assignment_selection": "LtiDeepLinkingRequest",
        "editor_button": "LtiDeepLinkingRequest",
    }
    for placement in placements.values():
        assert placement["target_link_uri"] == "https://tool.test/lti/launch"
        assert placement["text"] == settings.tool_name
        assert placement["icon_url"] == "https://tool.test/static/icon.svg"

    # Every address Canvas will call or show lies under the tool's public URL (scopes are
    # identifiers, not addresses).
    urls = [s for s in _strings({k: v for k, v in config.items() if k != "scopes"}) if "://" in s]
    assert urls
    assert all(url.startswith(settings.public_url + "/") for url in urls), urls


def test_canvas_json_icon_is_served(client: FlaskClient) -> None:
    response = client.get("/static/icon.svg", base_url="https://tool.test")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
