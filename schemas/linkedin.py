"""Forms of the LinkedIn pages (``lti_tool.web.linkedin``)."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

COMMENTARY_MAX = 2800  # LinkedIn allows 3000 after escaping; leave room for the escapes


class SharePostSchema(Schema):
    """The text a learner posts with their credential's verification link."""

    class Meta:
        unknown = EXCLUDE  # csrf and s travel in the same form

    commentary = fields.String(
        required=True,
        validate=validate.Length(
            min=1, max=COMMENTARY_MAX, error="Write between 1 and {max} characters."
        ),
    )


class CallbackSchema(Schema):
    """What LinkedIn appends to the redirect URI: a code, or an error, and our state."""

    class Meta:
        unknown = EXCLUDE

    state = fields.String(required=True, validate=validate.Length(min=1, max=256))
    code = fields.String(validate=validate.Length(min=1, max=2048))
    error = fields.String(validate=validate.Length(max=256))
    error_description = fields.String(validate=validate.Length(max=2048))
