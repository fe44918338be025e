"""Settings of the Degreed connector (``connectors.degreed``)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from schemas.connectors.common import TargetURL, timeout_field

#: Degreed environments: (API base URL, OAuth token URL), from developer.degreed.com.
REGIONS: dict[str, tuple[str, str]] = {
    "us": ("https://api.degreed.com", "https://degreed.com/oauth/token"),
    "eu": ("https://api.eu.degreed.com", "https://eu.degreed.com/oauth/token"),
    "ca": ("https://api.ca.degreed.com", "https://ca.degreed.com/oauth/token"),
    "us-betatest": ("https://api.betatest.degreed.com", "https://betatest.degreed.com/oauth/token"),
    "eu-betatest": (
        "https://api.eu.betatest.degreed.com",
        "https://eu.betatest.degreed.com/oauth/token",
    ),
}
USER_IDENTIFIERS = ("email", "employee_id")
CONTENT_TYPES = ("Course", "Article", "Book", "Video", "Event", "Assessment", "Podcast")
DEFAULT_SCOPE = "content:read,content:write,completions:read,completions:write"
PUBLISHED_RATE_LIMIT = 200  # requests per minute per client_id (since 2026-06-16)


class DegreedSettingsSchema(Schema):
    """An API key (client id + secret) of the customer's Degreed organisation."""

    region = fields.String(
        load_default="us",
        validate=validate.OneOf(sorted(REGIONS)),
        metadata={"description": "Degreed environment: us, eu, ca, us-betatest, eu-betatest."},
    )
    api_url = TargetURL(
        required=False,
        load_default=None,
        metadata={"description": "Override the region's API base URL (tests, proxies)."},
    )
    token_url = TargetURL(
        required=False,
        load_default=None,
        metadata={"description": "Override the region's OAuth token URL."},
    )
    client_id = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "API key client_id (Degreed admin > API keys)."},
    )
    client_secret = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"secret": True, "description": "API key client_secret."},
    )
    scope = fields.String(
        load_default=DEFAULT_SCOPE,
        validate=validate.Regexp(r"^[a-z_]+:[a-z]+(,[a-z_]+:[a-z]+)*$"),
        metadata={"description": "Comma-separated scopes requested with the token."},
    )
    user_identifier = fields.String(
        load_default="email",
        validate=validate.OneOf(USER_IDENTIFIERS),
        metadata={"description": "Find the Degreed user by email or by employee id."},
    )
    employee_id_key = fields.String(
        load_default="employee_id",
        validate=validate.Length(min=1, max=64),
        metadata={"description": "Which learner HR id holds the Degreed employee id."},
    )
    content_type = fields.String(
        load_default="Course",
        validate=validate.OneOf(CONTENT_TYPES),
        metadata={"description": "Degreed content type of the achievement."},
    )
    create_content = fields.Boolean(
        load_default=True,
        metadata={"description": "Create the achievement as content when it is missing."},
    )
    is_verified = fields.Boolean(
        load_default=True,
        metadata={"description": "Mark completions as verified by the issuer."},
    )
    rate_limit_per_minute = fields.Integer(
        load_default=PUBLISHED_RATE_LIMIT,
        validate=validate.Range(min=1, max=10_000),
        metadata={"description": "Requests per minute this client may send (Degreed: 200)."},
    )
    timeout = timeout_field()

    @validates_schema
    def _overrides_together(self, data: dict[str, Any], **_: Any) -> None:
        if (data.get("api_url") is None) != (data.get("token_url") is None):
            raise ValidationError("Give both api_url and token_url, or neither.", "api_url")

    @post_load
    def _resolve_urls(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        api, token = REGIONS[data["region"]]
        data["api_url"] = (data.get("api_url") or api).rstrip("/")
        data["token_url"] = data.get("token_url") or token
        return data
