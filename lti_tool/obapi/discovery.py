"""The service description document (``GET /ims/ob/v3p0/discovery``, OB 3.0 spec §6.3).

An OpenAPI 3.0 document: ``info`` with the ``x-imssf-*`` fields, one OAuth 2.0 security scheme
(authorization code grant) carrying the registration, authorization, token and refresh URLs and
the scopes offered, and the paths this host serves. Pure: URLs and names are arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import scopes as S

SECURITY_SCHEME = "OAuth2ACG"


@dataclass(frozen=True)
class Endpoints:
    base: str  # https://host/ims/ob/v3p0
    authorize: str
    token: str
    register: str


def _operation(operation_id: str, summary: str, scope: str, ok: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["OpenBadgeCredentials"],
        "security": [{SECURITY_SCHEME: [scope]}],
        "responses": {
            ok: {"description": "OK"},
            "400": {"description": "Bad request (Imsx_StatusInfo)"},
            "401": {"description": "No or invalid access token (Imsx_StatusInfo)"},
            "403": {"description": "The access token lacks the scope (Imsx_StatusInfo)"},
            "405": {"description": "Not allowed on this host (Imsx_StatusInfo)"},
            "500": {"description": "Server error (Imsx_StatusInfo)"},
        },
    }


def service_description(
    *,
    name: str,
    endpoints: Endpoints,
    image_url: str,
    privacy_policy_url: str,
    terms_of_service_url: str,
    upsert: bool,
) -> dict[str, Any]:
    offered = S.supported(upsert=upsert)
    paths: dict[str, Any] = {
        "/credentials": {
            "get": _operation(
                "getCredentials",
                "The learner's Open Badges credentials (paged with limit/offset).",
                S.CREDENTIAL_READONLY,
                "200",
            ),
        },
        "/profile": {
            "get": _operation("getProfile", "The learner's profile.", S.PROFILE_READONLY, "200"),
        },
    }
    if upsert:
        paths["/credentials"]["post"] = _operation(
            "upsertCredential",
            "Create or replace one of the learner's credentials (stored unverified).",
            S.CREDENTIAL_UPSERT,
            "201",
        )
    return {
        "openapi": "3.0.1",
        "info": {
            "title": f"{name} Open Badges API",
            "version": "3.0",
            "termsOfService": terms_of_service_url,
            "x-imssf-image": image_url,
            "x-imssf-privacyPolicyUrl": privacy_policy_url,
        },
        "servers": [{"url": endpoints.base}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "oauth2",
                    "description": "OAuth 2.0 Authorization Code Grant authorization",
                    "x-imssf-name": name,
                    "x-imssf-registrationUrl": endpoints.register,
                    "flows": {
                        "authorizationCode": {
                            "tokenUrl": endpoints.token,
                            "authorizationUrl": endpoints.authorize,
                            "refreshUrl": endpoints.token,
                            "scopes": {scope: S.DESCRIPTIONS[scope] for scope in offered},
                        }
                    },
                }
            },
            "schemas": {},
        },
    }
