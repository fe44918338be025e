"""An achievement (micro-credential definition) and the issuer profile, as admins give them."""

from __future__ import annotations

from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates,
    validates_schema,
)

from lti_tool.models.achievements import ACHIEVEMENT_TYPES, RESULT_TYPES

MAX_TAGS = 50
MAX_ALIGNMENTS = 50
MAX_LEVELS = 20


class HttpUrl(fields.Url):
    """An absolute http(s) URL (TLD not required, so intranet hosts work)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(schemes={"http", "https"}, require_tld=False, **kwargs)


def _text(max_length: int, **kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


def _no_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")


class AlignmentSchema(Schema):
    target_name = fields.String(
        required=True, validate=[validate.Length(min=1, max=255), _no_blank]
    )
    target_url = HttpUrl(required=True, validate=validate.Length(max=2048))
    target_description = fields.String(load_default=None, allow_none=True)
    # ESCO, O*NET, Lightcast, CASE, ... (free text: frameworks come and go)
    target_framework = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=255)
    )
    target_code = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=255)
    )
    # OB 3.0 AlignmentTargetType: ceasn:Competency, CFItem, CTDL, ... or ext:...
    target_type = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=64)
    )


class RubricLevelSchema(Schema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=255), _no_blank])
    description = fields.String(load_default=None, allow_none=True)
    points = fields.Float(load_default=None, allow_none=True, allow_nan=False)


class ResultDescriptionSchema(Schema):
    """What an award's `result` means: a percentage range, or named levels."""

    result_type = fields.String(required=True, validate=validate.OneOf(RESULT_TYPES))
    name = fields.String(required=True, validate=[validate.Length(min=1, max=255), _no_blank])
    value_min = fields.Float(load_default=None, allow_none=True, allow_nan=False)
    value_max = fields.Float(load_default=None, allow_none=True, allow_nan=False)
    levels = fields.List(
        fields.Nested(RubricLevelSchema), load_default=None, validate=validate.Length(max=20)
    )

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        # A result description is replaced whole, so a partial load of its parent (PATCH)
        # still needs its type; marshmallow passes `partial` down to nested schemas.
        for name in ("result_type", "name"):
            if name not in data:
                raise ValidationError("Missing data for required field.", name)
        if data["result_type"] == "Percent":
            if data.get("levels"):
                raise ValidationError("a Percent result has no levels", "levels")
            low = data.get("value_min")
            high = data.get("value_max")
            low = 0.0 if low is None else low
            high = 100.0 if high is None else high
            if not 0 <= low < high <= 100:
                raise ValidationError("need 0 <= value_min < value_max <= 100", "value_max")
        else:
            levels = data.get("levels") or []
            if not levels:
                raise ValidationError(f"a {data['result_type']} result needs levels", "levels")
            names = [level["name"] for level in levels]
            if len(set(names)) != len(names):
                raise ValidationError("level names must be unique", "levels")

    @post_load
    def _defaults(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data["result_type"] == "Percent":
            data["value_min"] = 0.0 if data.get("value_min") is None else data["value_min"]
            data["value_max"] = 100.0 if data.get("value_max") is None else data["value_max"]
            data.pop("levels", None)
        else:
            data.pop("value_min", None)
            data.pop("value_max", None)
        return data


class AchievementSchema(Schema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=255), _no_blank])
    description = fields.String(
        required=True, validate=[validate.Length(min=1, max=10_000), _no_blank]
    )
    criteria_narrative = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=20_000)
    )
    criteria_url = HttpUrl(load_default=None, allow_none=True, validate=validate.Length(max=2048))
    achievement_type = fields.String(load_default="MicroCredential")
    tags = fields.List(
        fields.String(validate=[validate.Length(min=1, max=64), _no_blank]),
        load_default=list,
        validate=validate.Length(max=MAX_TAGS),
    )
    alignments = fields.List(
        fields.Nested(AlignmentSchema), load_default=list, validate=validate.Length(max=50)
    )
    validity_days = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=36_500)
    )
    evidence_required = fields.Boolean(load_default=False)
    result_description = fields.Nested(ResultDescriptionSchema, load_default=None, allow_none=True)
    context_id = fields.Integer(load_default=None, allow_none=True)

    @validates("achievement_type")
    def _known_type(self, value: str, **_: Any) -> None:
        if value in ACHIEVEMENT_TYPES:
            return
        if value.startswith("ext:") and len(value) > 4 and len(value) <= 64:
            return
        raise ValidationError(
            "must be an Open Badges 3.0 achievementType (MicroCredential, Badge, Certificate, "
            "...) or a custom value starting with 'ext:'"
        )

    @validates_schema
    def _has_criteria(self, data: dict[str, Any], partial: Any = None, **_: Any) -> None:
        if partial:
            return  # checked on the merged record by the service
        narrative = (data.get("criteria_narrative") or "").strip()
        if not narrative and not data.get("criteria_url"):
            raise ValidationError(
                "give criteria_narrative (how to earn it) or criteria_url (or both)",
                "criteria_narrative",
            )

    @post_load
    def _tidy(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if "tags" in data:
            data["tags"] = list(dict.fromkeys(tag.strip() for tag in data["tags"]))
        return data


class IssuerProfileSchema(Schema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=255), _no_blank])
    url = HttpUrl(load_default=None, allow_none=True, validate=validate.Length(max=2048))
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=320))
    description = fields.String(load_default="", validate=validate.Length(max=10_000))
