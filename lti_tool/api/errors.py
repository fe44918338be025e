"""Every API error as `application/problem+json` (RFC 9457), from any cause.

Handlers are installed per API blueprint, so the in-LMS pages keep their HTML error pages.
Messages never echo secrets: validation errors name fields, domain errors say what is wrong.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import Blueprint, Response
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from connectors.registry import RegistryError
from connectors.settings import SettingsError as ConnectorSettingsError
from lti_tool.credentials.errors import (
    AchievementArchived,
    AwardNotFound,
    CredentialError,
    EvidenceRequired,
    InvalidResult,
    InvalidTransition,
    LearnerAmbiguous,
    PathwayInvalid,
    TenantMismatch,
)
from lti_tool.sync.connections import ConnectionConfigError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:microcred:problem:"


class ApiProblem(Exception):
    """Raise from API code to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        kind: str | None = None,
        errors: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or HTTPStatus(status).phrase)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.errors = errors
        self.headers = dict(headers or {})


def problem(
    status: int,
    detail: str | None = None,
    *,
    kind: str | None = None,
    errors: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + kind if kind else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.headers["Cache-Control"] = "no-store"
    return response


# Domain refusals -> (status, problem kind). Order matters: subclasses first.
_DOMAIN: tuple[tuple[type[Exception], int, str], ...] = (
    (AwardNotFound, 404, "not-found"),
    (TenantMismatch, 404, "not-found"),
    (InvalidTransition, 409, "invalid-transition"),
    (AchievementArchived, 409, "archived"),
    (LearnerAmbiguous, 409, "learner-ambiguous"),
    (EvidenceRequired, 422, "evidence-required"),
    (InvalidResult, 422, "invalid-result"),
    (PathwayInvalid, 422, "pathway-invalid"),
    (CredentialError, 422, "refused"),
    (ConnectionConfigError, 422, "connection-invalid"),
    (ConnectorSettingsError, 422, "connection-invalid"),
    (RegistryError, 422, "unknown-connector"),
)


def _from_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    if isinstance(errors, dict) and set(errors) <= {"json", "query", "headers", "path", "form"}:
        # webargs groups messages by location; one location is the common case
        errors = next(iter(errors.values())) if len(errors) == 1 else errors
    headers = dict(data.get("headers") or {})
    if exc.response is not None:  # e.g. flask-limiter's 429 carries no body we want
        headers.update({k: v for k, v in exc.response.headers.items() if k == "Retry-After"})
    detail = data.get("message")
    if detail is None and errors is not None:
        detail = "The input is not valid: see errors."
    elif detail is None and status not in (404, 405) and exc.description:
        detail = exc.description
    kind = {413: "body-too-large", 429: "rate-limited", 422: "invalid-input"}.get(status)
    response = problem(status, detail, kind=kind, errors=errors, headers=headers)
    if status == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _from_problem(exc: ApiProblem) -> Response:
    return problem(exc.status, exc.detail, kind=exc.kind, errors=exc.errors, headers=exc.headers)


def _from_validation(exc: ValidationError) -> Response:
    return problem(422, "The input is not valid.", kind="invalid-input", errors=exc.messages)


def _from_domain(exc: Exception) -> Response:
    for cls, status, kind in _DOMAIN:
        if isinstance(exc, cls):
            detail = str(exc) if status != 404 else "There is no such object."
            return problem(status, detail, kind=kind)
    return _unexpected(exc)  # pragma: no cover - every registered class is in _DOMAIN


def _unexpected(exc: Exception) -> Response:
    log.exception("unexpected API error: %s", type(exc).__name__)
    return problem(500, "An unexpected error happened; it has been logged.")


def install(bp: Blueprint) -> None:
    """Make every error raised under `bp` a problem document."""
    bp.register_error_handler(ApiProblem, _from_problem)
    bp.register_error_handler(HTTPException, _from_http)
    bp.register_error_handler(ValidationError, _from_validation)
    for cls, _status, _kind in _DOMAIN:
        bp.register_error_handler(cls, _from_domain)
    bp.register_error_handler(Exception, _unexpected)
