"""Award one achievement by hand to learners of the course picked from a paged list."""

from __future__ import annotations

from flask import abort, render_template, request
from marshmallow import ValidationError
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from ...credentials import CredentialError
from ...credentials import awards as award_service
from ...credentials.awards import Evidence
from ...models import Achievement, Award, Enrollment, User
from ...requestscope import db, db_read
from ..paging import paged
from ..scope import scope
from .blueprint import bp
from .common import actor, messages_of, opt, redirect_to, strings
from .forms import parse_result
from .queries import course_achievement, enrolled

LEARNERS_PER_PAGE = 50


def _render_award_form(
    found: Achievement, *, error: str | None = None, status: int = 200
) -> tuple[str, int]:
    session = db_read()
    current = scope()
    page = paged(
        session, enrolled(current).order_by(User.name, User.id), LEARNERS_PER_PAGE, key=User.id
    )
    ids = [user.id for user in page.items]
    held = dict(
        session.execute(
            select(Award.user_id, Award.status).where(
                Award.achievement_id == found.id, Award.user_id.in_(ids)
            )
        ).all()
    )
    roles = dict(
        session.execute(
            select(Enrollment.user_id, Enrollment.role).where(
                Enrollment.context_id == current.context_id, Enrollment.user_id.in_(ids)
            )
        ).all()
    )
    html = render_template(
        "instructor/award_form.html",
        a=found,
        page=page,
        held=held,
        roles=roles,
        error=error,
        f=request.form,
        selected=set(request.form.getlist("user_id")),
    )
    return html, status


@bp.route("/achievements/<int:achievement_id>/award", methods=["GET", "POST"])
def award_learners(achievement_id: int) -> tuple[str, int] | WerkzeugResponse:
    if request.method == "GET":
        found = course_achievement(db_read(), achievement_id)
        return _render_award_form(found)
    current = scope()
    session = db()
    found = course_achievement(session, achievement_id)
    try:
        ids = {int(value) for value in request.form.getlist("user_id")}
    except ValueError:
        abort(400)
    if not ids:
        return _render_award_form(found, error="Choose at least one learner.", status=422)
    learners = list(session.scalars(enrolled(current).where(User.id.in_(ids))))
    if len(learners) != len(ids):
        abort(400, description="Some of the chosen people are not in this course.")
    try:
        result = parse_result(found, request.form.get("score"))
    except ValueError as exc:
        session.rollback()
        return _render_award_form(found, error=f"Score: {exc}.", status=422)
    evidence = Evidence(opt(request.form, "evidence_url"), opt(request.form, "evidence_text"))
    created = 0
    try:
        for learner in sorted(learners, key=lambda user: user.id):
            _, new = award_service.award(
                session,
                found,
                learner,
                source="manual",
                actor=actor(current),
                evidence=evidence,
                result=result,
            )
            created += int(new)
    except ValidationError as exc:
        session.rollback()
        message = "; ".join(f"{k}: {' '.join(strings(v))}" for k, v in messages_of(exc).items())
        return _render_award_form(found, error=message, status=422)
    except CredentialError as exc:
        session.rollback()
        return _render_award_form(found, error=str(exc), status=422)
    session.commit()
    return redirect_to(
        "instructor.achievement",
        achievement_id=found.id,
        notice="awarded",
        created=created,
        unchanged=len(learners) - created,
    )
