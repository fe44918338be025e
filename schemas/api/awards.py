"""Awards over the API: create (learner by id, email or HR id), list filters, output."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from lti_tool.models.awards import STATUSES
from schemas.credentials.achievements import HttpUrl

from .common import AwareDateTime, PageQuerySchema, StrictSchema, id_field


class LearnerRefSchema(StrictSchema):
    """Exactly one of id, email, hr_id (hr_id_kind narrows hr_id to one identifier scheme)."""

    id = id_field()
    email = fields.String(validate=validate.Length(min=1, max=320))
    hr_id = fields.String(validate=validate.Length(min=1, max=255))
    hr_id_kind = fields.String(validate=validate.Length(min=1, max=64))

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **_: Any) -> None:
        given = [k for k in ("id", "email", "hr_id") if data.get(k) is not None]
        if len(given) != 1:
            raise ValidationError("give exactly one of id, email, hr_id", "id")
        if data.get("hr_id_kind") is not None and "hr_id" not in given:
            raise ValidationError("hr_id_kind goes with hr_id", "hr_id_kind")


class ResultSchema(StrictSchema):
    value = fields.Float(allow_nan=False)
    level = fields.String(validate=validate.Length(min=1, max=255))

    @validates_schema
    def _one(self, data: dict[str, Any], **_: Any) -> None:
        if len(data) != 1:
            raise ValidationError("a result is {'value': number} or {'level': name}", "value")


class AwardCreateSchema(StrictSchema):
    achievement_id = id_field(required=True)
    learner = fields.Nested(LearnerRefSchema, required=True)
    evidence_url = HttpUrl(load_default=None, allow_none=True, validate=validate.Length(max=2048))
    evidence_text = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=20_000)
    )
    result = fields.Nested(ResultSchema, load_default=None, allow_none=True)
    issued_at = AwareDateTime(load_default=None, allow_none=True)


class AwardListQuerySchema(PageQuerySchema):
    learner_id = id_field()
    email = fields.String(validate=validate.Length(min=1, max=320))
    hr_id = fields.String(validate=validate.Length(min=1, max=255))
    achievement_id = id_field()
    status = fields.String(validate=validate.OneOf(STATUSES))
    updated_since = AwareDateTime(
        metadata={"description": "Only awards changed at or after this time (RFC 3339)"}
    )


class AwardLearnerSchema(Schema):
    id = fields.Integer()
    email = fields.String(allow_none=True)
    person_sourcedid = fields.String(allow_none=True)
    hr_ids = fields.Dict(keys=fields.String())


class AwardOutSchema(Schema):
    id = fields.Integer()
    achievement_id = fields.Integer()
    learner = fields.Nested(AwardLearnerSchema)
    status = fields.String(validate=validate.OneOf(STATUSES))
    status_reason = fields.String(allow_none=True)
    status_changed_at = fields.DateTime(allow_none=True)
    issued_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    evidence_url = fields.String(allow_none=True)
    evidence_text = fields.String(allow_none=True)
    result = fields.Dict(allow_none=True)
    source = fields.String()
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
