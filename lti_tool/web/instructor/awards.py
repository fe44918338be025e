"""Who earned what in the course (paged, filtered), one award's page, and suspend /
reinstate / revoke with a reason."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request
from marshmallow import ValidationError
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, contains_eager
from werkzeug.wrappers import Response as WerkzeugResponse

from schemas.credentials.award_filters import AwardFilterSchema

from ...credentials import CredentialError
from ...credentials import awards as award_service
from ...credentials.audit import ActorRef
from ...models import Achievement, Award, Enrollment, User
from ...models.awards import STATUSES
from ...requestscope import db, db_read
from ..paging import paged
from ..scope import scope
from .blueprint import bp
from .common import actor, messages_of, redirect_to, strings
from .queries import course_award, in_course

_NOTICES = {"revoke": "revoked", "suspend": "suspended", "reinstate": "reinstated"}
AWARDS_PER_PAGE = 50


def _earned(filters: dict[str, Any]) -> Select[Award]:
    """Awards held by people of this course, of achievements this course sees, newest first,
    with their learner and achievement in the same statement (no query per row)."""
    current = scope()
    query = (
        select(Award)
        .join(
            Enrollment,
            and_(Enrollment.user_id == Award.user_id, Enrollment.context_id == current.context_id),
        )
        .join(User, User.id == Award.user_id)
        .join(Achievement, Achievement.id == Award.achievement_id)
        .where(Award.platform_id == current.platform_id, in_course(current))
        .options(contains_eager(Award.learner), contains_eager(Award.achievement))
        .order_by(Award.issued_at.desc(), Award.id.desc())
    )
    if filters["status"]:
        query = query.where(Award.status == filters["status"])
    if filters["achievement_id"]:
        query = query.where(Award.achievement_id == filters["achievement_id"])
    if filters["q"]:
        text = filters["q"].lower()
        query = query.where(
            or_(
                func.lower(User.name).contains(text, autoescape=True),
                func.lower(User.email).contains(text, autoescape=True),
            )
        )
    return query


@bp.get("/awards")
def earned() -> str:
    try:
        filters = AwardFilterSchema().load(request.args.to_dict())
    except ValidationError as exc:
        problems = "; ".join(f"{k}: {' '.join(strings(v))}" for k, v in messages_of(exc).items())
        abort(400, description=f"Bad filter ({problems}).")
    session = db_read()
    page = paged(session, _earned(filters), AWARDS_PER_PAGE, key=Award.id)
    achievements = session.execute(
        select(Achievement.id, Achievement.name)
        .where(in_course(scope()))
        .order_by(Achievement.name, Achievement.id)
        .limit(500)
    ).all()
    return render_template(
        "instructor/earned.html",
        page=page,
        filters=filters,
        statuses=STATUSES,
        achievements=achievements,
    )


@bp.get("/awards/<int:award_id>")
def award_page(award_id: int) -> str:
    return render_template(
        "instructor/award.html", award=course_award(db_read(), award_id), errors={}
    )


def _change(session: Session, target: Award, action: str, reason: str, by: ActorRef) -> None:
    if action == "revoke":
        award_service.revoke(session, target, reason=reason, actor=by)
    elif action == "suspend":
        award_service.suspend(session, target, reason=reason, actor=by)
    else:
        award_service.reinstate(session, target, reason=reason, actor=by)


def _refused(
    award_id: int, action: str, errors: dict[str, list[str]], status: int
) -> tuple[str, int]:
    html = render_template(
        "instructor/award.html",
        award=course_award(db_read(), award_id),
        errors=errors,
        action=action,
    )
    return html, status


@bp.post("/awards/<int:award_id>/<action>")
def change_award(award_id: int, action: str) -> tuple[str, int] | WerkzeugResponse:
    if action not in _NOTICES:
        abort(404)
    session = db()
    target = course_award(session, award_id)
    reason = request.form.get("reason", "")
    try:
        _change(session, target, action, reason, actor(scope()))
    except ValidationError as exc:
        session.rollback()
        errors = {"reason": strings(messages_of(exc).get("reason", exc.messages))}
        return _refused(award_id, action, errors, 422)
    except CredentialError as exc:
        session.rollback()
        return _refused(award_id, action, {"_form": [str(exc)]}, 409)
    session.commit()
    return redirect_to("instructor.award_page", award_id=award_id, notice=_NOTICES[action])
