"""Connections (a tenant's configured connector) and their deliveries over the API.
Secrets are write-only: accepted on input, never returned (only `has_secrets`)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from lti_tool.models.sync import DELIVERY_STATUSES

from .common import PageQuerySchema, StrictSchema, id_field


class ConnectionCreateSchema(StrictSchema):
    connector = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    settings = fields.Dict(keys=fields.String(), load_default=dict)
    secrets = fields.Dict(keys=fields.String(), load_default=dict, load_only=True)
    identity_mapping = fields.String(
        load_default="lti_sub",
        validate=validate.Length(min=1, max=80),
        metadata={"description": "email | lti_sub | hr_id:<key> | table"},
    )
    rate_limit_per_minute = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=100_000)
    )


class ConnectionChangeSchema(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=255))
    settings = fields.Dict(
        keys=fields.String(), metadata={"description": "replaces the settings as a whole"}
    )
    secrets = fields.Dict(
        keys=fields.String(),
        load_only=True,
        metadata={"description": "replaces only the secret fields given; others are kept"},
    )
    identity_mapping = fields.String(
        validate=validate.Length(min=1, max=80),
        metadata={"description": "email | lti_sub | hr_id:<key> | table"},
    )
    rate_limit_per_minute = fields.Integer(
        allow_none=True, validate=validate.Range(min=1, max=100_000)
    )
    enabled = fields.Boolean()
    paused = fields.Boolean(metadata={"description": "true pauses, false resumes"})
    pause_reason = fields.String(validate=validate.Length(min=1, max=2000))


class ConnectionOutSchema(Schema):
    id = fields.Integer()
    connector = fields.String()
    name = fields.String()
    settings = fields.Dict()
    has_secrets = fields.Boolean()
    identity_mapping = fields.String()
    rate_limit_per_minute = fields.Integer(allow_none=True)
    enabled = fields.Boolean()
    paused = fields.Boolean()
    state = fields.String(metadata={"description": "ok | failing | paused | disabled | off"})
    pause_reason = fields.String(allow_none=True)
    disabled_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CheckResultSchema(Schema):
    outcome = fields.String()
    status_code = fields.Integer(allow_none=True)
    detail = fields.String()


class DeliveryListQuerySchema(PageQuerySchema):
    state = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    connection_id = id_field()
    award_id = id_field()


class DeliveryOutSchema(Schema):
    id = fields.Integer()
    connection_id = fields.Integer()
    award_id = fields.Integer()
    event_type = fields.String()
    award_status = fields.String()
    state = fields.String(attribute="status")
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime()
    last_outcome = fields.String(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_detail = fields.String(allow_none=True)
    external_id = fields.String(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    occurred_at = fields.DateTime()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ReplaySchema(StrictSchema):
    delivery_ids = fields.List(
        id_field(), validate=validate.Length(min=1, max=1000), load_default=None
    )
    connection_id = id_field(load_default=None)


class ReplayResultSchema(Schema):
    replayed = fields.Integer()
