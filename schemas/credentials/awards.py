"""What accompanies an award: evidence and the result behind it."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates

from lti_tool.models.awards import SOURCES

from .achievements import HttpUrl


class AwardInputSchema(Schema):
    source = fields.String(required=True, validate=validate.OneOf(SOURCES))
    evidence_url = HttpUrl(load_default=None, allow_none=True, validate=validate.Length(max=2048))
    evidence_text = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=20_000)
    )
    # {"value": 87.5} for Percent, {"level": "Proficient"} for levels
    result = fields.Dict(keys=fields.String(), load_default=None, allow_none=True)

    @validates("result")
    def _result_shape(self, value: dict[str, Any] | None, **_: Any) -> None:
        if value is None:
            return
        unknown = set(value) - {"value", "level"}
        if unknown or not value:
            raise ValidationError("a result is {'value': number} or {'level': name}")
        if "value" in value and (
            isinstance(value["value"], bool) or not isinstance(value["value"], int | float)
        ):
            raise ValidationError("result value must be a number")
        if "level" in value and not isinstance(value["level"], str):
            raise ValidationError("result level must be a level name")


class TransitionSchema(Schema):
    reason = fields.String(
        required=True, validate=[validate.Length(min=1, max=2000)], allow_none=False
    )
