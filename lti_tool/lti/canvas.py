"""GET /lti/config/canvas.json: the Canvas developer key configuration, generated from settings.

A Canvas admin creates an LTI key with method "Enter URL" and this address (or pastes the
JSON). Placements: course navigation launches a resource link; link selection, assignment
selection and the rich-text editor button open deep linking so instructors place a
credential from the Canvas picker. Custom fields and scopes are the ones dynamic
registration asks Canvas for, so both install paths give the same tool.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, jsonify
from werkzeug.wrappers import Response

from ..requestscope import services
from ..settings import Settings
from .registration import DEEP_LINKING, RESOURCE_LINK, TOOL_SCOPES, custom_parameters

bp = Blueprint("lti_canvas", __name__, url_prefix="/lti")

# Bump when the generated configuration changes in a way admins should re-import.
CANVAS_CONFIG_VERSION = "1"
CANVAS_PLATFORM = "canvas.instructure.com"
PLACEMENTS = (
    ("course_navigation", RESOURCE_LINK),
    ("link_selection", DEEP_LINKING),
    ("assignment_selection", DEEP_LINKING),
    ("editor_button", DEEP_LINKING),
)


def canvas_configuration(settings: Settings) -> dict[str, Any]:
    launch_url = settings.url("/lti/launch")
    icon_url = settings.url("/static/icon.svg")
    placements: list[dict[str, Any]] = []
    for placement, message_type in PLACEMENTS:
        item: dict[str, Any] = {
            "placement": placement,
            "message_type": message_type,
            "target_link_uri": launch_url,
            "text": settings.tool_name,
            "icon_url": icon_url,
        }
        if placement == "course_navigation":
            item["default"] = "enabled"
            item["visibility"] = "members"
        placements.append(item)
    return {
        "title": settings.tool_name,
        "description": settings.tool_description,
        "oidc_initiation_url": settings.url("/lti/login"),
        "target_link_uri": launch_url,
        "public_jwk_url": settings.url("/lti/jwks"),
        "scopes": list(TOOL_SCOPES),
        "custom_fields": custom_parameters("canvas", None),
        "extensions": [
            {
                "platform": CANVAS_PLATFORM,
                "domain": urlsplit(settings.public_url).netloc,
                "tool_id": "microcred",
                "privacy_level": "public",
                "settings": {
                    "text": settings.tool_name,
                    "icon_url": icon_url,
                    "placements": placements,
                },
            }
        ],
    }


@bp.get("/config/canvas.json")
def canvas_json() -> Response:
    response = jsonify(canvas_configuration(services().settings))
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["X-Microcred-Config-Version"] = CANVAS_CONFIG_VERSION
    return response
