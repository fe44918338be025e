"""Fields shared by connector settings schemas."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from marshmallow import ValidationError, fields, validate

DEFAULT_TIMEOUT = 15.0
LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_https(value: str) -> None:
    """HTTPS only; plain HTTP is accepted for loopback hosts (local development and tests)."""
    parts = urlsplit(value)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname)):
        return
    raise ValidationError("Must be an https:// URL (http:// is only accepted for localhost).")


def no_credentials_in_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.username or parts.password:
        raise ValidationError("Must not contain credentials; use the secret fields instead.")


class TargetURL(fields.URL):
    """An absolute http(s) URL of a target system, HTTPS unless it is a loopback address."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", True)
        validators = [require_https, no_credentials_in_url]
        super().__init__(
            schemes={"http", "https"}, require_tld=False, validate=validators, **kwargs
        )


def timeout_field() -> fields.Float:
    """Seconds to wait for the target (connect and each read), 15 by default."""
    return fields.Float(
        load_default=DEFAULT_TIMEOUT,
        validate=validate.Range(min=0.1, max=60, error="Must be between 0.1 and 60 seconds."),
        metadata={"description": "Seconds to wait for the target before giving up."},
    )
