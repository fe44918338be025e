"""A platform registration as an admin (CLI, dynamic registration) gives it."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates


class _HttpUrl(fields.Url):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(schemes={"http", "https"}, require_tld=False, **kwargs)  # type: ignore[arg-type]


class PlatformSchema(Schema):
    issuer = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    auth_login_url = _HttpUrl(required=True)
    auth_token_url = _HttpUrl(required=True)
    key_set_url = _HttpUrl(required=True)
    auth_audience = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=2048)
    )
    name = fields.String(load_default="", validate=validate.Length(max=255))
    deployment_ids = fields.List(
        fields.String(validate=validate.Length(min=1, max=255)),
        required=True,
        validate=validate.Length(min=1, max=1000),
    )

    @validates("issuer")
    def _issuer_has_no_whitespace(self, value: str, **_: object) -> None:
        if value.strip() != value or not value:
            raise ValidationError("must not start or end with whitespace")
