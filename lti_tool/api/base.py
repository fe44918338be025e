"""What every resource blueprint shares: problem errors, the body size limit, cache headers,
and tenant-scoped lookups (an object of another tenant is indistinguishable from none)."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Response, current_app, request
from flask_smorest import Blueprint
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.models import Platform

from . import errors
from .auth import principal

M = TypeVar("M")
BODY_LIMIT_KEY = "MICROCRED_API_MAX_BODY_BYTES"
#: Path converter of object ids: a positive 32-bit integer (anything else is a plain 404).
ID = "int(min=1, max=2147483647)"


KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$"
HEADER_DOCS: dict[str, dict[str, Any]] = {
    "Idempotency-Key": {
        "description": "Makes a retry safe: the first response is replayed (24 h, per client)",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN},
    },
    "If-Match": {
        "description": "The ETag you read: 412 if the object changed since",
        "schema": {"type": "string", "maxLength": 200},
    },
    "If-None-Match": {
        "description": "The ETag you hold: 304 if the object did not change",
        "schema": {"type": "string", "maxLength": 200},
    },
}


def headers_doc(bp: Blueprint, *names: str) -> Any:
    """Document the optional request headers a view honours (no query parameters there)."""
    return bp.doc(
        parameters=[{"in": "header", "name": n, "required": False, **HEADER_DOCS[n]} for n in names]
    )


def _limit_body() -> None:
    limit: int = current_app.config[BODY_LIMIT_KEY]
    request.max_content_length = limit  # also stops chunked bodies without a length
    if request.content_length is not None and request.content_length > limit:
        raise errors.ApiProblem(
            413, f"The request body is larger than {limit} bytes.", kind="body-too-large"
        )


def _cache_headers(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "private, no-cache")
    return response


def resource(name: str, description: str, *, path: str | None = None) -> Blueprint:
    """A flask-smorest blueprint for one resource under /api/v1/<path or name>."""
    bp = Blueprint(name, __name__, url_prefix=f"/api/v1/{path or name}", description=description)
    errors.install(bp)
    bp.before_request(_limit_body)
    bp.after_request(_cache_headers)
    return bp


def tenant_get(session: Session, model: type[M], object_id: int) -> M:
    """The object with this id in the client's tenant, else 404 (never 403: no probing)."""
    column: Any = model
    found = session.scalars(
        select(model).where(column.id == object_id, column.platform_id == principal().platform_id)
    ).one_or_none()
    if found is None:
        raise errors.ApiProblem(404, "There is no such object.", kind="not-found")
    return found


def tenant_platform(session: Session) -> Platform:
    return session.get_one(Platform, principal().platform_id)
