"""The connection form: the common fields (validated by :class:`ConnectionFormSchema`) and
one field per setting of the connector's own marshmallow schema.

Secret settings (``metadata={"secret": True}``) are write-only: their inputs are always
rendered empty, an empty input keeps the stored value, and nothing here ever echoes one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates

from connectors.base import Connector
from lti_tool.models import Connection
from lti_tool.sync.connections import ConnectionConfigError, check_mapping

BOOL, LINES, NUMBER, URL, TEXT = "bool", "lines", "number", "url", "text"


def strings(messages: Any) -> list[str]:
    """Every message of a (nested) marshmallow error structure, flattened."""
    if isinstance(messages, str):
        return [messages]
    if isinstance(messages, Mapping):
        return [m for value in messages.values() for m in strings(value)]
    if isinstance(messages, list | tuple):
        return [m for value in messages for m in strings(value)]
    return [str(messages)]


@dataclass(frozen=True)
class SettingField:
    name: str
    kind: str
    secret: bool
    required: bool
    description: str
    default: Any = None

    @property
    def input_name(self) -> str:
        return f"setting-{self.name}"


def _kind(field: fields.Field) -> str:
    if isinstance(field, fields.Boolean):
        return BOOL
    if isinstance(field, fields.List):
        return LINES
    if isinstance(field, fields.Number):
        return NUMBER
    if isinstance(field, fields.Url):
        return URL
    return TEXT


def setting_fields(connector: type[Connector]) -> list[SettingField]:
    schema = connector.settings_schema()
    return [
        SettingField(
            name=name,
            kind=_kind(field),
            secret=field.metadata.get("secret") is True,
            required=bool(field.required),
            description=str(field.metadata.get("description", "")),
            default=field.load_default
            if isinstance(field.load_default, bool | int | float | str)
            else None,
        )
        for name, field in schema.fields.items()
        if not field.dump_only
    ]


class ConnectionFormSchema(Schema):
    """The fields every connection has, whatever its connector."""

    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=255, error="Give a name of 1 to 255 characters."),
    )
    identity_mapping = fields.String(load_default="lti_sub")
    rate_limit_per_minute = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=100_000, error="Between 1 and 100000 per minute."),
    )
    enabled = fields.Boolean(load_default=True)

    @validates("identity_mapping")
    def _mapping(self, value: str, **_: Any) -> None:
        try:
            check_mapping(value)
        except ConnectionConfigError as exc:
            raise ValidationError(str(exc)) from None


@dataclass(frozen=True)
class ParsedForm:
    common: dict[str, Any]
    settings: dict[str, Any]
    secrets: dict[str, Any]  # only the secret fields that were filled in


def _value(field: SettingField, form: Mapping[str, str]) -> Any:
    raw = form.get(field.input_name, "")
    if field.kind == BOOL:
        return raw == "on"
    if field.kind == LINES:
        lines = [line.strip() for line in raw.splitlines() if line.strip()]
        return lines or None
    return raw.strip() or None


def parse_form(
    form: Mapping[str, str], connector: type[Connector], *, editing: bool
) -> tuple[ParsedForm | None, dict[str, list[str]]]:
    """The form's values, or field errors keyed by input name."""
    errors: dict[str, list[str]] = {}
    raw_common: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "identity_mapping": form.get("identity_mapping", "").strip() or "lti_sub",
        "rate_limit_per_minute": form.get("rate_limit_per_minute", "").strip() or None,
    }
    if editing:
        raw_common["enabled"] = form.get("enabled") == "on"
    common: dict[str, Any] = {}
    try:
        common = ConnectionFormSchema().load(raw_common)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, Mapping) else {"_form": exc.messages}
        for name, value in messages.items():
            errors.setdefault(str(name), []).extend(strings(value))
    settings: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    schema_fields = connector.settings_schema().fields
    for field in setting_fields(connector):
        value = _value(field, form)
        if value is None:
            continue  # the schema's default, or (a secret while editing) the stored value
        if field.kind == NUMBER:  # stored as a number, not as the text typed
            try:
                value = schema_fields[field.name].deserialize(value)
            except ValidationError as exc:
                errors.setdefault(field.input_name, []).extend(strings(exc.messages))
                continue
        (secrets if field.secret else settings)[field.name] = value
    if errors:
        return None, errors
    return ParsedForm(common, settings, secrets), {}


def setting_errors(messages: Mapping[str, Any]) -> dict[str, list[str]]:
    """A connector schema's messages keyed by the form's input names (never with values)."""
    return {f"setting-{name}": strings(value) for name, value in messages.items()}


def form_values(connection: Connection | None, connector: type[Connector]) -> dict[str, str]:
    """The form filled from a stored connection; secret inputs stay empty."""
    if connection is None:
        defaults = {"identity_mapping": "lti_sub", "enabled": "on"}
        for field in setting_fields(connector):
            if field.kind == BOOL and field.default is True:
                defaults[field.input_name] = "on"
            elif field.kind in (NUMBER, TEXT) and field.default is not None and not field.secret:
                defaults[field.input_name] = str(field.default)
        return defaults
    values: dict[str, str] = {
        "name": connection.name,
        "identity_mapping": connection.identity_mapping,
        "rate_limit_per_minute": str(connection.rate_limit_per_minute or ""),
        "enabled": "on" if connection.enabled else "",
    }
    stored = connection.settings or {}
    for field in setting_fields(connector):
        if field.secret or field.name not in stored:
            continue
        value = stored[field.name]
        if field.kind == BOOL:
            values[field.input_name] = "on" if value else ""
        elif field.kind == LINES:
            values[field.input_name] = "\n".join(str(v) for v in value or [])
        else:
            values[field.input_name] = str(value)
    return values


def echo_values(form: Mapping[str, str], connector: type[Connector]) -> dict[str, str]:
    """What the admin typed, for the form shown again with errors (secrets dropped)."""
    hidden = {f.input_name for f in setting_fields(connector) if f.secret}
    return {k: v for k, v in form.items() if k not in hidden and k != "csrf"}
