"""What the gradebook-rule form and the deep-linking picker accept."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from lti_tool.models.rules import RULE_KINDS, RULE_SCORE_AT_LEAST


class RuleFormSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(RULE_KINDS))
    threshold = fields.Float(
        load_default=None, allow_none=True, validate=validate.Range(min=0, max=100)
    )
    lineitem = fields.String(required=True, validate=validate.Length(min=1, max=2048))
    enabled = fields.Boolean(load_default=False)

    @validates_schema
    def _threshold_for_scores(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("kind") == RULE_SCORE_AT_LEAST and data.get("threshold") is None:
            raise ValidationError("give the score (0 to 100 %) to reach", "threshold")


class PlacementFormSchema(Schema):
    achievement_id = fields.Integer(required=True, strict=False, validate=validate.Range(min=1))
