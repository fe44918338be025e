"""Settings of the SAP SuccessFactors connector (``connectors.successfactors``)."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from schemas.connectors.common import TargetURL, timeout_field

ENTITY_PATTERN = r"^Background_[A-Za-z][A-Za-z0-9_]{0,99}$"
PROPERTY_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,99}$"
HR_ID_KEY = r"^[a-z][a-z0-9_]{0,62}$"
REVOCATION_MODES = ("end_date", "remove")


def validate_private_key(value: str) -> None:
    """An unencrypted PEM RSA private key. Messages never repeat the value: it is a secret."""
    try:
        key = serialization.load_pem_private_key(value.encode(), password=None)
    except (ValueError, TypeError):
        raise ValidationError("Must be an unencrypted PEM private key.") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValidationError("Must be an RSA key (assertions are signed with RSA-SHA256).")


def validate_certificate(value: str) -> None:
    try:
        x509.load_pem_x509_certificate(value.encode())
    except ValueError:
        raise ValidationError("Must be a PEM X.509 certificate.") from None


def _property(description: str, default: str | None) -> fields.String:
    return fields.String(
        load_default=default,
        allow_none=default is None,
        validate=validate.Regexp(PROPERTY_PATTERN, error="Must be an OData property name."),
        metadata={"description": description},
    )


class SuccessFactorsSettingsSchema(Schema):
    """The OData API server, the OAuth client (SAML bearer) and the background element."""

    api_url = TargetURL(
        metadata={
            "description": "The data center's API server, e.g. https://api4.successfactors.com."
        }
    )
    company_id = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "SuccessFactors company ID."},
    )
    client_id = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "API key of the OAuth client application registered for us."},
    )
    user_id = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "The SuccessFactors user the API calls run as (NameID)."},
    )
    private_key = fields.String(
        required=True,
        validate=validate_private_key,
        metadata={"secret": True, "description": "PEM RSA key that signs the SAML assertion."},
    )
    certificate = fields.String(
        required=True,
        validate=validate_certificate,
        metadata={"description": "The X.509 certificate registered with the OAuth client."},
    )
    audience = fields.String(
        load_default="www.successfactors.com",
        validate=validate.Length(min=1, max=200),
        metadata={"description": "SAML audience SuccessFactors expects."},
    )
    entity = fields.String(
        required=True,
        validate=validate.Regexp(ENTITY_PATTERN, error="Must be a Background_* entity name."),
        metadata={
            "description": "The Employee Profile background element, e.g. Background_Certificates."
        },
    )
    external_id_field = _property(
        "Field holding Microcred's award id (the external id).", "externalId"
    )
    name_field = _property("Field holding the achievement name.", "name")
    issuer_field = _property("Field holding the issuer, if the element has one.", None)
    issued_field = _property("Date field for the issue date, if any.", "startDate")
    expires_field = _property("Date field for the expiry/end date, if any.", "endDate")
    url_field = _property("Field holding the verification URL, if any.", None)
    issuer = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=255),
        metadata={"description": "Issuer written to issuer_field."},
    )
    user_id_source = fields.String(
        load_default="employee_id",
        validate=validate.Regexp(HR_ID_KEY, error="Must be an HR identifier key."),
        metadata={
            "description": "Which of the learner's HR identifiers is their SuccessFactors userId."
        },
    )
    revocation = fields.String(
        load_default="end_date",
        validate=validate.OneOf(REVOCATION_MODES),
        metadata={
            "description": "end_date: set expires_field to the withdrawal date; "
            "remove: delete the entry."
        },
    )
    timeout = timeout_field()

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("revocation", "end_date") == "end_date" and not data.get(
            "expires_field", "endDate"
        ):
            raise ValidationError("end_date revocation needs an expires_field.", "expires_field")
        if data.get("issuer_field") and not data.get("issuer"):
            raise ValidationError("Give the issuer to write into issuer_field.", "issuer")

    @post_load
    def _normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["api_url"] = data["api_url"].rstrip("/")
        return data
