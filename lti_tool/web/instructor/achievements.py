"""The course's achievements: list, create, show (with who earned it), edit, archive."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import render_template, request
from marshmallow import ValidationError
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse

from ...credentials import CredentialError
from ...credentials import achievements as achievement_service
from ...models import Achievement, Award, Platform
from ...models.achievements import ACHIEVEMENT_TYPES, RESULT_TYPES
from ...requestscope import db, db_read
from ..paging import paged
from ..scope import scope
from .blueprint import bp
from .common import actor, messages_of, opt, redirect_to
from .forms import MAX_ALIGNMENT_ROWS, achievement_data, alignment_rows, field_errors, form_values
from .queries import course_achievement, course_awards, in_course, require_editable

ACHIEVEMENTS_PER_PAGE = 20
AWARDS_PER_PAGE = 50


@bp.get("")
def achievements() -> str:
    current = scope()
    show_archived = request.args.get("archived") == "1"
    query = select(Achievement).where(in_course(current))
    if not show_archived:
        query = query.where(Achievement.archived_at.is_(None))
    page = paged(db_read(), query.order_by(Achievement.name, Achievement.id), ACHIEVEMENTS_PER_PAGE)
    return render_template("instructor/achievements.html", page=page, show_archived=show_archived)


def _render_form(
    values: Mapping[str, Any],
    *,
    achievement: Achievement | None = None,
    errors: Mapping[str, list[str]] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return (
        render_template(
            "instructor/achievement_form.html",
            achievement=achievement,
            f=values,
            errors=errors or {},
            alignment_rows=alignment_rows(values),
            achievement_types=ACHIEVEMENT_TYPES,
            result_types=RESULT_TYPES,
        ),
        status,
    )


def _uploaded_image() -> tuple[bytes, str | None] | None:
    upload = request.files.get("image")
    if upload is None or not upload.filename:
        return None
    data = upload.read()
    media_type = upload.mimetype if upload.mimetype.startswith("image/") else None
    return data, media_type


def _form_with_more_rows() -> MultiDict[str, str]:
    values = request.form.copy()
    values["alignment_count"] = str(min(alignment_rows(request.form) + 1, MAX_ALIGNMENT_ROWS))
    return values


@bp.route("/achievements/new", methods=["GET", "POST"])
def new_achievement() -> tuple[str, int] | WerkzeugResponse:
    if request.method == "GET":
        return _render_form(form_values(None))
    if request.form.get("action") == "add_alignment":
        return _render_form(_form_with_more_rows())
    current = scope()
    data, rows = achievement_data(request.form)
    data["context_id"] = current.context_id
    image = _uploaded_image()
    session = db()
    platform = session.get_one(Platform, current.platform_id)
    try:
        created = achievement_service.create_achievement(
            session,
            platform,
            data,
            actor=actor(current),
            image=image[0] if image else None,
            image_media_type=image[1] if image else None,
        )
    except ValidationError as exc:
        session.rollback()
        return _render_form(request.form, errors=field_errors(messages_of(exc), rows), status=422)
    session.commit()
    return redirect_to("instructor.achievement", achievement_id=created.id, notice="created")


@bp.get("/achievements/<int:achievement_id>")
def achievement(achievement_id: int) -> str:
    html, _ = achievement_page(achievement_id)
    return html


def achievement_page(
    achievement_id: int, *, error: str | None = None, status: int = 200
) -> tuple[str, int]:
    """An achievement and a page of who in the course holds it (with an error, if any)."""
    session = db_read()
    found = course_achievement(session, achievement_id)
    page = paged(session, course_awards(scope(), found), AWARDS_PER_PAGE, key=Award.id)
    html = render_template("instructor/achievement.html", a=found, page=page, error=error)
    return html, status


@bp.route("/achievements/<int:achievement_id>/edit", methods=["GET", "POST"])
def edit_achievement(achievement_id: int) -> tuple[str, int] | WerkzeugResponse:
    if request.method == "GET":
        found = course_achievement(db_read(), achievement_id)
        require_editable(found)
        return _render_form(form_values(found), achievement=found)
    session = db()
    found = course_achievement(session, achievement_id)
    require_editable(found)
    if request.form.get("action") == "add_alignment":
        return _render_form(_form_with_more_rows(), achievement=found)
    data, rows = achievement_data(request.form)
    image = _uploaded_image()
    image_args: dict[str, Any] = {}
    if image is not None:
        image_args = {"image": image[0], "image_media_type": image[1]}
    elif request.form.get("remove_image") == "on":
        image_args = {"image": None}
    try:
        achievement_service.update_achievement(
            session, found, data, actor=actor(scope()), **image_args
        )
    except ValidationError as exc:
        session.rollback()
        return _render_form(
            request.form,
            achievement=found,
            errors=field_errors(messages_of(exc), rows),
            status=422,
        )
    except CredentialError as exc:
        session.rollback()
        return _render_form(
            request.form, achievement=found, errors={"_form": [str(exc)]}, status=409
        )
    session.commit()
    return redirect_to("instructor.achievement", achievement_id=found.id, notice="updated")


@bp.post("/achievements/<int:achievement_id>/archive")
def archive(achievement_id: int) -> tuple[str, int] | WerkzeugResponse:
    session = db()
    found = course_achievement(session, achievement_id)
    require_editable(found)
    try:
        achievement_service.archive_achievement(
            session, found, actor=actor(scope()), reason=opt(request.form, "reason")
        )
    except CredentialError as exc:
        session.rollback()
        return achievement_page(achievement_id, error=str(exc), status=409)
    session.commit()
    return redirect_to("instructor.achievement", achievement_id=found.id, notice="archived")
