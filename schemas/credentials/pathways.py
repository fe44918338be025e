"""A pathway and its requirement tree, as nested JSON.

{"kind": "all_of", "children": [
    {"kind": "achievement", "achievement_id": 3},
    {"kind": "n_of", "required_count": 2, "children": [...]},
    {"kind": "pathway", "pathway_id": 9}]}
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from lti_tool.models.pathways import (
    GROUP_KINDS,
    KIND_ACHIEVEMENT,
    KIND_N_OF,
    KIND_PATHWAY,
    NODE_KINDS,
)

MAX_CHILDREN = 100


class RequirementSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(NODE_KINDS))
    children = fields.List(
        fields.Nested(lambda: RequirementSchema()),
        load_default=list,
        validate=validate.Length(max=MAX_CHILDREN),
    )
    required_count = fields.Integer(load_default=None, allow_none=True)
    achievement_id = fields.Integer(load_default=None, allow_none=True)
    pathway_id = fields.Integer(load_default=None, allow_none=True)

    @validates_schema
    def _shape(self, data: dict[str, Any], **_: Any) -> None:
        kind = data["kind"]
        children = data.get("children") or []
        count = data.get("required_count")
        if kind in GROUP_KINDS:
            if not children:
                raise ValidationError(f"an {kind} group needs at least one child", "children")
            if data.get("achievement_id") is not None or data.get("pathway_id") is not None:
                raise ValidationError("a group refers to no achievement or pathway", "kind")
        else:
            if children:
                raise ValidationError(f"an {kind} requirement has no children", "children")
        if kind == KIND_N_OF:
            if count is None or not 1 <= count <= len(children):
                raise ValidationError(
                    f"required_count must be between 1 and {len(children)} (the children)",
                    "required_count",
                )
        elif count is not None:
            raise ValidationError("only an n_of group has a required_count", "required_count")
        if kind == KIND_ACHIEVEMENT and data.get("achievement_id") is None:
            raise ValidationError(
                "an achievement requirement needs achievement_id", "achievement_id"
            )
        if kind == KIND_PATHWAY and data.get("pathway_id") is None:
            raise ValidationError("a pathway requirement needs pathway_id", "pathway_id")
        if kind != KIND_ACHIEVEMENT and data.get("achievement_id") is not None:
            raise ValidationError(
                "only an achievement requirement has achievement_id", "achievement_id"
            )
        if kind != KIND_PATHWAY and data.get("pathway_id") is not None:
            raise ValidationError("only a pathway requirement has pathway_id", "pathway_id")


class PathwaySchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    description = fields.String(load_default="", validate=validate.Length(max=10_000))
    context_id = fields.Integer(load_default=None, allow_none=True)
    requirements = fields.Nested(RequirementSchema, required=True)
