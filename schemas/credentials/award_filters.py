"""Filters of the instructor's list of who earned what (query string of a GET page)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, pre_load, validate

from lti_tool.models.awards import STATUSES


class AwardFilterSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # the session token, the page number

    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    achievement_id = fields.Integer(
        load_default=None, strict=False, validate=validate.Range(min=1, max=2**63 - 1)
    )
    q = fields.String(load_default=None, validate=validate.Length(max=100))

    @pre_load
    def _drop_empty(self, data: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        """An empty field of the filter form means no filter."""
        return {k: v.strip() if isinstance(v, str) else v for k, v in data.items() if v != ""}
