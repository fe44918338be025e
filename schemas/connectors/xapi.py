"""Settings of the xAPI connector (``connectors.xapi``)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_load, validate

from schemas.connectors.common import TargetURL, timeout_field

LANGUAGE_TAG = r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$"  # RFC 5646 shape, for language maps


class XapiSettingsSchema(Schema):
    """An LRS endpoint and its HTTP Basic credentials (the LRS key and secret)."""

    endpoint = TargetURL(
        metadata={"description": "The LRS's xAPI base URL, without /statements."},
    )
    username = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "LRS key (HTTP Basic user name)."},
    )
    password = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"secret": True, "description": "LRS secret (HTTP Basic password)."},
    )
    timeout = timeout_field()
    share_email = fields.Boolean(
        load_default=False,
        metadata={"description": "Identify learners by mbox (email) instead of their LMS account."},
    )
    language = fields.String(
        load_default="en",
        validate=validate.Regexp(LANGUAGE_TAG, error="Must be a language tag such as en-US."),
        metadata={"description": "Language tag of names and descriptions in statements."},
    )

    @post_load
    def _normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["endpoint"] = data["endpoint"].rstrip("/")
        if data["endpoint"].endswith("/statements"):
            data["endpoint"] = data["endpoint"][: -len("/statements")]
        return data
