"""/api/v1/awards: award, list (filters, `updated_since`, cursor pages), read, and the life
of an award: revoke, suspend, reinstate (each audited with the API client as the actor)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, jsonify
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from lti_tool.credentials import awards as service
from lti_tool.credentials import learners
from lti_tool.models import Achievement, Award, User
from lti_tool.requestscope import db, db_read
from schemas.api.awards import AwardCreateSchema, AwardListQuerySchema, AwardOutSchema
from schemas.api.common import OptionalReasonSchema, TransitionSchema

from .auth import authorize, principal
from .base import ID, headers_doc, resource, tenant_get, tenant_platform
from .errors import ApiProblem
from .etags import etag_of, not_modified, require_match
from .idempotency import idempotent
from .pagination import keyset_rows

bp = resource("awards", "Achievements held by learners, and their status over time.")


def _etag(item: Award) -> str:
    return etag_of("award", item.id, item.version)


def _with_etag(item: Award, status: int = 200) -> tuple[Award, int, dict[str, str]]:
    return item, status, {"ETag": f'"{_etag(item)}"'}


def _find_learner(session: Session, ref: dict[str, Any]) -> User | None:
    return learners.find_learner(
        session,
        tenant_platform(session),
        user_id=ref.get("id"),
        email=ref.get("email"),
        hr_id=ref.get("hr_id"),
        hr_id_kind=ref.get("hr_id_kind"),
    )


# The list is read as plain rows (no ORM objects) and shaped by `row_out`, which gives
# exactly what AwardOutSchema dumps (a test compares the two): a 500-row page costs a third.
_COLUMNS = (
    Award.id,
    Award.achievement_id,
    Award.status,
    Award.status_reason,
    Award.status_changed_at,
    Award.issued_at,
    Award.expires_at,
    Award.evidence_url,
    Award.evidence_text,
    Award.result,
    Award.source,
    Award.version,
    Award.created_at,
    Award.updated_at,
    User.id.label("learner_id"),
    User.email.label("learner_email"),
    User.person_sourcedid.label("learner_person_sourcedid"),
    User.hr_ids.label("learner_hr_ids"),
)
_TIMES = ("status_changed_at", "issued_at", "expires_at", "created_at", "updated_at")
_PLAIN = tuple(
    c.key for c in _COLUMNS if c.key and not c.key.startswith("learner_") and c.key not in _TIMES
)


def row_out(row: Row[Any]) -> dict[str, Any]:
    values = row._mapping
    out: dict[str, Any] = {name: values[name] for name in _PLAIN}
    for name in _TIMES:
        moment = values[name]
        out[name] = moment.isoformat() if moment is not None else None
    out["learner"] = {
        "id": values["learner_id"],
        "email": values["learner_email"],
        "person_sourcedid": values["learner_person_sourcedid"],
        "hr_ids": values["learner_hr_ids"],
    }
    return out


@bp.route("", methods=["GET"])
@authorize(bp, "awards:read")
@bp.arguments(AwardListQuerySchema, location="query")
@bp.response(200, AwardOutSchema(many=True))
def list_awards(query: dict[str, Any]) -> tuple[Any, int, dict[str, str]]:
    """Awards of the tenant in order of change (oldest first). Pull what changed since your
    last run with `updated_since`, then follow `Link: rel="next"` until it is absent."""
    session = db_read()
    statement = (
        select(*_COLUMNS)
        .join(User, User.id == Award.user_id)
        .where(Award.platform_id == principal().platform_id)
    )
    if "learner_id" in query or "email" in query or "hr_id" in query:
        ref = {"id": query.get("learner_id"), "email": query.get("email")}
        learner = _find_learner(session, {**ref, "hr_id": query.get("hr_id")})
        if learner is None:
            return jsonify([]), 200, {}
        statement = statement.where(Award.user_id == learner.id)
    if "achievement_id" in query:
        statement = statement.where(Award.achievement_id == query["achievement_id"])
    if "status" in query:
        statement = statement.where(Award.status == query["status"])
    if "updated_since" in query:
        statement = statement.where(Award.updated_at >= query["updated_since"])
    page = keyset_rows(
        session,
        statement,
        updated_at=Award.updated_at,
        id_column=Award.id,
        cursor=query.get("cursor"),
        limit=query["limit"],
    )
    return jsonify([row_out(row) for row in page.items]), 200, page.link_header()


@bp.route("", methods=["POST"])
@authorize(bp, "awards:write")
@headers_doc(bp, "Idempotency-Key")
@idempotent
@bp.arguments(AwardCreateSchema)
@bp.response(201, AwardOutSchema)
@bp.alt_response(200, schema=AwardOutSchema, description="The learner already held it")
def create_award(data: dict[str, Any]) -> tuple[Award, int, dict[str, str]]:
    """Award an achievement to a learner (found by id, email or HR id). Awarding again
    returns the existing award with 200, whatever its status."""
    session = db()
    achievement = session.scalars(
        select(Achievement).where(
            Achievement.id == data["achievement_id"],
            Achievement.platform_id == principal().platform_id,
        )
    ).one_or_none()
    if achievement is None:
        raise ApiProblem(
            422,
            "No such achievement.",
            kind="invalid-input",
            errors={"achievement_id": ["no such achievement"]},
        )
    learner = _find_learner(session, data["learner"])
    if learner is None:
        raise ApiProblem(
            422,
            "No such learner: learners appear after their first launch from the LMS.",
            kind="invalid-input",
            errors={"learner": ["no such learner"]},
        )
    result = data["result"]
    item, created = service.award(
        session,
        achievement,
        learner,
        source="api",
        actor=principal().actor,
        evidence=service.Evidence(url=data["evidence_url"], text=data["evidence_text"]),
        result=result,
        issued_at=data["issued_at"],
    )
    session.commit()
    return _with_etag(item, 201 if created else 200)


@bp.route(f"/<{ID}:award_id>", methods=["GET"])
@authorize(bp, "awards:read")
@headers_doc(bp, "If-None-Match")
@bp.response(200, AwardOutSchema)
@bp.alt_response(304, description="Not modified (If-None-Match)")
def get_award(award_id: int) -> Any:
    item = tenant_get(db_read(), Award, award_id)
    cached: Response | None = not_modified(_etag(item))
    return cached if cached is not None else _with_etag(item)


def _transition(
    award_id: int, change: Callable[[Session, Award], Award]
) -> tuple[Award, int, dict[str, str]]:
    session = db()
    item = tenant_get(session, Award, award_id)
    require_match(_etag(item))
    change(session, item)
    session.commit()
    return _with_etag(item)


@bp.route(f"/<{ID}:award_id>/revoke", methods=["POST"])
@authorize(bp, "awards:write")
@headers_doc(bp, "Idempotency-Key", "If-Match")
@idempotent
@bp.arguments(TransitionSchema)
@bp.response(200, AwardOutSchema)
def revoke_award(data: dict[str, Any], award_id: int) -> tuple[Award, int, dict[str, str]]:
    """Withdraw an award for good (409 if already revoked or expired)."""
    return _transition(
        award_id,
        lambda s, a: service.revoke(s, a, reason=data["reason"], actor=principal().actor),
    )


@bp.route(f"/<{ID}:award_id>/suspend", methods=["POST"])
@authorize(bp, "awards:write")
@headers_doc(bp, "Idempotency-Key", "If-Match")
@idempotent
@bp.arguments(TransitionSchema)
@bp.response(200, AwardOutSchema)
def suspend_award(data: dict[str, Any], award_id: int) -> tuple[Award, int, dict[str, str]]:
    """Withdraw an active award until it is reinstated."""
    return _transition(
        award_id,
        lambda s, a: service.suspend(s, a, reason=data["reason"], actor=principal().actor),
    )


@bp.route(f"/<{ID}:award_id>/reinstate", methods=["POST"])
@authorize(bp, "awards:write")
@headers_doc(bp, "Idempotency-Key", "If-Match")
@idempotent
@bp.arguments(OptionalReasonSchema)
@bp.response(200, AwardOutSchema)
def reinstate_award(data: dict[str, Any], award_id: int) -> tuple[Award, int, dict[str, str]]:
    """Make a suspended award active again."""
    return _transition(
        award_id,
        lambda s, a: service.reinstate(s, a, reason=data["reason"], actor=principal().actor),
    )
