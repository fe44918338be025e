"""Shared pieces: strict input base, the problem document, paging parameters, datetimes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


class StrictSchema(Schema):
    """Input: unknown fields are refused (422), not silently dropped."""

    class Meta:
        unknown = RAISE


class AwareDateTime(fields.DateTime):
    """An RFC 3339 date-time that carries its offset (a naive one would be ambiguous)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment: datetime = super()._deserialize(value, attr, data, **kwargs)
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValidationError("give a time zone offset, e.g. 2026-11-21T00:00:00Z")
        return moment


class ProblemSchema(Schema):
    """RFC 9457 problem details: every error of this API."""

    type = fields.String(metadata={"description": "A URI naming the kind of problem"})
    title = fields.String(metadata={"description": "The HTTP status phrase"})
    status = fields.Integer()
    detail = fields.String(metadata={"description": "What went wrong, for people"})
    errors = fields.Raw(metadata={"description": "Per-field validation messages"})


class PageQuerySchema(StrictSchema):
    cursor = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Opaque: the `next` link of the previous page carries it"},
    )
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT)
    )


class TransitionSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class OptionalReasonSchema(StrictSchema):
    reason = fields.String(load_default=None, validate=validate.Length(min=1, max=2000))


def id_field(**kwargs: Any) -> fields.Integer:
    return fields.Integer(validate=validate.Range(min=1, max=2**31 - 1), **kwargs)
