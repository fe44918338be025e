"""REST API for HR systems and integrators: /api/v1, one flask-smorest blueprint per
resource, OAuth 2.0 client credentials, OpenAPI 3 at /api/v1/openapi.json and a browsable,
self-hosted reference at /api/v1/docs (rendered on the server: no CDN, no script)."""

from __future__ import annotations

import http
from typing import Any

from flask import Blueprint, Flask, current_app, render_template
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from lti_tool.models.api_clients import SCOPES
from lti_tool.settings import Settings
from lti_tool.web import api_clients as api_clients_web
from schemas.api.common import ProblemSchema

from . import (
    achievements,
    auth,
    awards,
    connections,
    deliveries,
    learners,
    pathways,
    ratelimit,
    webhooks,
)
from .base import BODY_LIMIT_KEY
from .errors import PROBLEM_JSON

API_VERSION = "1.0.0"
SCOPE_DESCRIPTIONS = {
    "achievements:read": "Read achievements",
    "achievements:write": "Create, change and archive achievements",
    "awards:read": "Read awards",
    "awards:write": "Award, revoke, suspend and reinstate",
    "learners:read": "Look up learners, their awards and pathway progress",
    "pathways:read": "Read pathways and progress",
    "pathways:write": "Create, change and archive pathways",
    "connections:admin": "Manage connections to HR systems and send test events",
    "deliveries:read": "Read deliveries to connections",
    "deliveries:write": "Replay dead deliveries",
}
RESOURCES = (
    achievements.bp,
    awards.bp,
    learners.bp,
    pathways.bp,
    connections.bp,
    webhooks.bp,
    deliveries.bp,
)


class MicrocredApi(Api):
    """flask-smorest's Api with problem+json errors documented, and its app-wide error
    handler left out: errors are handled per API blueprint (see errors.install), so the
    in-LMS pages keep their own HTML error pages."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        return None

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not 100 <= status < 200 and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        default: dict[str, Any] = {"description": "An error", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)


docs_bp = Blueprint("api_docs", __name__, template_folder="templates")


@docs_bp.get("/api/v1/docs")
def docs() -> str:
    api: MicrocredApi = current_app.extensions["microcred_api"]
    return render_template("api/docs.html", spec=api.spec.to_dict())


def init_api(app: Flask, settings: Settings) -> MicrocredApi:
    app.config.update(
        API_TITLE="Microcred API",
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "Pull and manage micro-credentials from HR systems. Authenticate with "
                    "OAuth 2.0 client credentials; errors are application/problem+json."
                )
            }
        },
    )
    app.config[BODY_LIMIT_KEY] = settings.api_max_body_bytes
    auth.init_app(app, settings)
    ratelimit.init_app(app, settings)
    api = MicrocredApi(app)
    api.spec.components.security_scheme(
        auth.SECURITY_SCHEME,
        {
            "type": "oauth2",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": settings.url(auth.TOKEN_PATH),
                    "scopes": {s: SCOPE_DESCRIPTIONS[s] for s in SCOPES},
                }
            },
        },
    )
    for bp in RESOURCES:
        api.register_blueprint(bp)
    app.register_blueprint(auth.token_bp)
    app.register_blueprint(docs_bp)
    app.register_blueprint(api_clients_web.bp)  # the admin page managing this API's clients
    app.extensions["microcred_api"] = api
    return api
