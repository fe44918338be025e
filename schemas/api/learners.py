"""Learners over the API (read-only: learners come from LMS launches and rosters)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .common import StrictSchema


class LearnerLookupQuerySchema(StrictSchema):
    email = fields.String(validate=validate.Length(min=1, max=320))
    hr_id = fields.String(validate=validate.Length(min=1, max=255))
    hr_id_kind = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "person_sourcedid or a key of hr_ids, e.g. employee_id"},
    )

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **_: Any) -> None:
        if ("email" in data) == ("hr_id" in data):
            raise ValidationError("give exactly one of email, hr_id", "email")
        if "hr_id_kind" in data and "hr_id" not in data:
            raise ValidationError("hr_id_kind goes with hr_id", "hr_id_kind")


class LearnerOutSchema(Schema):
    id = fields.Integer()
    sub = fields.String(metadata={"description": "The LTI subject (user id in the LMS)"})
    name = fields.String()
    given_name = fields.String()
    family_name = fields.String()
    email = fields.String(allow_none=True)
    person_sourcedid = fields.String(allow_none=True)
    hr_ids = fields.Dict(keys=fields.String())
    updated_at = fields.DateTime()


class NodeProgressSchema(Schema):
    kind = fields.String()
    done = fields.Boolean()
    required = fields.Integer()
    completed = fields.Integer()
    percent = fields.Integer()
    achievement_id = fields.Integer(allow_none=True)
    pathway_id = fields.Integer(allow_none=True)
    label = fields.String()
    children = fields.List(fields.Nested(lambda: NodeProgressSchema()))


class PathwayProgressSchema(Schema):
    pathway_id = fields.Integer()
    name = fields.String()
    achievement_id = fields.Integer()
    complete = fields.Boolean()
    awarded = fields.Boolean()
    percent = fields.Integer()
    leaves_done = fields.Integer()
    leaves_total = fields.Integer()
    missing_achievement_ids = fields.List(fields.Integer())
    root = fields.Nested(NodeProgressSchema)
