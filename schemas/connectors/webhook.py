"""Settings of the Standard Webhooks connector (``connectors.webhook``)."""

from __future__ import annotations

import base64
import binascii

from marshmallow import Schema, ValidationError, fields, validate

from schemas.connectors.common import TargetURL, timeout_field

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format prefix, not a secret
MIN_KEY_BYTES = 24  # Standard Webhooks: keys SHOULD be 24 to 64 bytes
MAX_KEY_BYTES = 64


def validate_whsec(value: str) -> None:
    """A ``whsec_`` secret whose remainder is base64 of 24 to 64 random bytes.

    Messages never repeat the value: it is a secret.
    """
    if not value.startswith(SECRET_PREFIX):
        raise ValidationError(f"Must start with {SECRET_PREFIX!r}.")
    try:
        key = base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(f"Must be {SECRET_PREFIX!r} followed by base64.") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValidationError(
            f"Must decode to {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, not {len(key)}."
        )


class WebhookSettingsSchema(Schema):
    """Where to POST events and how to sign them.

    ``secrets`` holds one or two signing secrets: two while rotating (the new one first);
    each request then carries both signatures and a receiver holding either accepts it.
    """

    url = TargetURL(metadata={"description": "The receiver's endpoint (HTTPS)."})
    secrets = fields.List(
        fields.String(validate=validate_whsec),
        required=True,
        validate=validate.Length(min=1, max=2, error="Give one secret, or two while rotating."),
        metadata={"secret": True, "description": "whsec_ signing secrets, newest first."},
    )
    timeout = timeout_field()
    include_credential = fields.Boolean(
        load_default=True,
        metadata={"description": "Send the signed OB 3.0 credential in the payload."},
    )
    share_email = fields.Boolean(
        load_default=False,
        metadata={"description": "Add the learner's email to the learner identifiers."},
    )
