"""Query parameters of the OB 3.0 API resource endpoints (marshmallow)."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from .resources import DEFAULT_LIMIT, MAX_LIMIT


class CredentialsQuerySchema(Schema):
    """getCredentials: ``limit`` (1..100), ``offset`` (>= 0), ``since`` (RFC 3339 with zone)."""

    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(
        load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT)
    )
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))
    since = fields.AwareDateTime(format="iso")
