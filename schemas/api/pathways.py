"""Pathways over the API: the domain's definition schema, made strict, and the output."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from schemas.credentials.pathways import MAX_CHILDREN, PathwaySchema, RequirementSchema

from .common import PageQuerySchema, StrictSchema, id_field


class StrictRequirementSchema(RequirementSchema, StrictSchema):
    children = fields.List(
        fields.Nested(lambda: StrictRequirementSchema()),
        load_default=list,
        validate=validate.Length(max=MAX_CHILDREN),
    )


class PathwayInputSchema(PathwaySchema, StrictSchema):
    requirements = fields.Nested(StrictRequirementSchema, required=True)
    credential_achievement_id = id_field(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "An achievement to award on completion (default: a new "
            "LearningProgram achievement named after the pathway)"
        },
    )


class PathwayChangeSchema(PathwayInputSchema):
    """Any subset of name, description, requirements (PATCH)."""

    def __init__(self, **kwargs: Any) -> None:
        # Top-level fields only: a nested object that is given must still be complete
        # (partial=True would reach into it and let half a result description through).
        super().__init__(partial=tuple(PathwayInputSchema._declared_fields), **kwargs)


class PathwayOutSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    context_id = fields.Integer(allow_none=True)
    achievement_id = fields.Integer()
    requirements = fields.Dict()
    archived_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PathwayListQuerySchema(PageQuerySchema):
    include_archived = fields.Boolean(load_default=False)


class ProgressQuerySchema(StrictSchema):
    learner_id = id_field(required=True)
