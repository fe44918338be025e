"""Achievements over the API: the domain's definition schema, made strict, and the output."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from schemas.credentials.achievements import (
    MAX_ALIGNMENTS,
    MAX_LEVELS,
    AchievementSchema,
    AlignmentSchema,
    ResultDescriptionSchema,
    RubricLevelSchema,
)

from .common import PageQuerySchema, StrictSchema


class StrictAlignmentSchema(AlignmentSchema, StrictSchema):
    pass


class StrictRubricLevelSchema(RubricLevelSchema, StrictSchema):
    pass


class StrictResultDescriptionSchema(ResultDescriptionSchema, StrictSchema):
    levels = fields.List(
        fields.Nested(StrictRubricLevelSchema),
        load_default=None,
        validate=validate.Length(max=MAX_LEVELS),
    )


class AchievementInputSchema(AchievementSchema, StrictSchema):
    """Create (all required fields) or, loaded partial, change an achievement."""

    alignments = fields.List(
        fields.Nested(StrictAlignmentSchema),
        load_default=list,
        validate=validate.Length(max=MAX_ALIGNMENTS),
    )
    result_description = fields.Nested(
        StrictResultDescriptionSchema, load_default=None, allow_none=True
    )


class AchievementChangeSchema(AchievementInputSchema):
    """Any subset of the fields (PATCH)."""

    def __init__(self, **kwargs: Any) -> None:
        # Top-level fields only: a nested object that is given must still be complete
        # (partial=True would reach into it and let half a result description through).
        super().__init__(partial=tuple(AchievementInputSchema._declared_fields), **kwargs)


class AlignmentOutSchema(Schema):
    target_name = fields.String()
    target_url = fields.String()
    target_description = fields.String(allow_none=True)
    target_framework = fields.String(allow_none=True)
    target_code = fields.String(allow_none=True)
    target_type = fields.String(allow_none=True)


class AchievementOutSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    criteria_narrative = fields.String(allow_none=True)
    criteria_url = fields.String(allow_none=True)
    achievement_type = fields.String()
    tags = fields.List(fields.String())
    alignments = fields.List(fields.Nested(AlignmentOutSchema))
    validity_days = fields.Integer(allow_none=True)
    evidence_required = fields.Boolean()
    result_description = fields.Dict(allow_none=True)
    context_id = fields.Integer(allow_none=True)
    archived = fields.Boolean()
    archived_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class AchievementListQuerySchema(PageQuerySchema):
    include_archived = fields.Boolean(load_default=False)
