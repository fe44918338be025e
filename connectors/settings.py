"""Connector settings: secret fields, redaction and validation through marshmallow schemas.

A settings schema flags each secret field with ``metadata={"secret": True}``. A connection
stores the other fields in the clear and the secret ones encrypted; the engine hands them to
the connector separately (``settings`` and ``secrets``) and :func:`load_settings` validates
them together. Works with marshmallow 3.20+ and 4.x.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from marshmallow import Schema, ValidationError

REDACTED = "********"
SECRET = {"secret": True}  # metadata for secret fields: fields.String(metadata=SECRET)


class SettingsError(ValueError):
    """Settings that a connector cannot use. ``errors`` maps field names to messages."""

    def __init__(self, errors: Mapping[str, Any]) -> None:
        self.errors: dict[str, Any] = dict(errors)
        super().__init__(format_errors(self.errors))


def format_errors(errors: Mapping[str, Any], prefix: str = "") -> str:
    """Flatten marshmallow's nested error messages into ``field: message; ...``."""
    parts: list[str] = []
    for name, messages in sorted(errors.items(), key=lambda item: str(item[0])):
        label = f"{prefix}{name}"
        if isinstance(messages, Mapping):
            parts.append(format_errors(messages, prefix=f"{label}."))
        elif isinstance(messages, str):
            parts.append(f"{label}: {messages}")
        else:
            parts.append(f"{label}: {' '.join(str(message) for message in messages)}")
    return "; ".join(part for part in parts if part)


def secret_fields(schema: type[Schema] | Schema) -> frozenset[str]:
    """Names of the fields flagged ``metadata={"secret": True}``."""
    instance = schema() if isinstance(schema, type) else schema
    return frozenset(
        name for name, field in instance.fields.items() if field.metadata.get("secret") is True
    )


def redact(schema: type[Schema] | Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` fit for display and logs: secret values become ``REDACTED``."""
    hidden = secret_fields(schema)
    return {
        name: (REDACTED if name in hidden and value not in (None, "") else value)
        for name, value in data.items()
    }


def secret_values(schema: type[Schema] | Schema, data: Mapping[str, Any]) -> tuple[str, ...]:
    """Every non-empty secret string in ``data`` (lists of secrets are flattened)."""
    found: list[str] = []
    for name in secret_fields(schema):
        found.extend(_strings(data.get(name)))
    return tuple(found)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        if value:
            yield value
    elif isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
        for item in value:
            yield from _strings(item)


def load_settings(
    schema: type[Schema], settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> dict[str, Any]:
    """Validate ``settings`` + ``secrets`` with ``schema``; raise :class:`SettingsError`.

    Secret fields must arrive through ``secrets`` (so they are never stored in the clear) and
    ``secrets`` may hold nothing else.
    """
    hidden = secret_fields(schema)
    errors: dict[str, list[str]] = {}
    for name in sorted(hidden & settings.keys()):
        errors[name] = ["Is a secret: pass it through secrets, not settings."]
    for name in sorted(secrets.keys() - hidden):
        errors[name] = ["Is not a secret field of this connector."]
    if errors:
        raise SettingsError(errors)
    try:
        loaded: dict[str, Any] = schema().load({**settings, **secrets})
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, Mapping) else {"_schema": exc.messages}
        raise SettingsError(messages) from None
    return loaded
