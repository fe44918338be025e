"""The gradebook-rule page of an achievement: bind it to an AGS line item, sync now.

Instructors and administrators of the course only; every POST carries the CSRF token. The
line items are read from the LMS with no transaction open; the chosen one must be among
them (the form cannot point the tool at another URL).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests
from flask import Blueprint, abort, redirect, render_template, request
from marshmallow import ValidationError
from pylti1p3.exception import LtiServiceException
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse

from schemas.credentials.rules import RuleFormSchema

from ..credentials import rules as rule_service
from ..gradebook import GradebookError, GradebookJob
from ..lti.ags import AgsClient, AgsError, LineItem
from ..lti.deep_linking import LINEITEM_TAG
from ..lti.roles import ADMINISTRATOR, INSTRUCTOR
from ..lti.tool_config import PlatformRegistration
from ..models import (
    Achievement,
    AchievementPlacement,
    AchievementRule,
    Context,
    Platform,
    ScorePostback,
)
from ..models.rules import POSTBACK_FAILED, POSTBACK_PENDING
from ..requestscope import db, db_read, services
from .csrf import check_csrf
from .scope import load_scope, scope, template_globals, u

bp = Blueprint("rules", __name__, url_prefix="/app/instructor/achievements/<int:achievement_id>")
log = logging.getLogger(__name__)

NEW_LINEITEM = "new"
NOTICES = {
    "saved": "The rule was saved.",
    "synced": "Grades were read from the LMS.",
}
LMS_ERRORS = (LtiServiceException, requests.RequestException, AgsError)


@bp.before_request
def _guard() -> None:
    current = load_scope()
    if current.role not in (INSTRUCTOR, ADMINISTRATOR):
        abort(403, description="Only the course's instructors can manage gradebook rules.")
    if current.context_id is None:
        abort(403, description="Open the tool from a course to manage its gradebook rules.")
    check_csrf(current.token)


bp.context_processor(template_globals)


def _achievement(session: Session, achievement_id: int) -> Achievement:
    current = scope()
    found = session.scalars(
        select(Achievement).where(
            Achievement.id == achievement_id,
            Achievement.platform_id == current.platform_id,
            or_(Achievement.context_id == current.context_id, Achievement.context_id.is_(None)),
        )
    ).one_or_none()
    if found is None:
        abort(404)
    return found


def _rule(session: Session, achievement_id: int) -> AchievementRule | None:
    return session.scalars(
        select(AchievementRule).where(
            AchievementRule.achievement_id == achievement_id,
            AchievementRule.context_id == scope().context_id,
        )
    ).one_or_none()


@dataclass(frozen=True)
class _Gradebook:
    client: AgsClient
    lineitems_url: str | None


def _gradebook(session: Session) -> _Gradebook:
    current = scope()
    context = session.get_one(Context, current.context_id)
    ags = (context.services or {}).get("ags") or {}
    url = ags.get("lineitems") if isinstance(ags, dict) else None
    platform = session.get_one(Platform, current.platform_id)
    key = services().signing_keys.current(session)
    client = AgsClient(PlatformRegistration(platform, lambda: key), services().service_tokens, key)
    return _Gradebook(client, url if isinstance(url, str) and url else None)


def _line_items(book: _Gradebook) -> tuple[list[LineItem], str | None]:
    if book.lineitems_url is None:
        return [], "The LMS does not offer its gradebook (AGS) to the tool in this course."
    try:
        return book.client.line_items(book.lineitems_url), None
    except LMS_ERRORS as exc:
        log.warning("AGS line items of context %s failed: %s", scope().context_id, exc)
        return [], "The LMS did not list the gradebook columns. Try again later."


def _page(achievement_id: int, *, error: str | None = None, status: int = 200) -> tuple[str, int]:
    read = db_read()
    achievement = _achievement(read, achievement_id)
    rule = _rule(read, achievement_id)
    placements = select(AchievementPlacement.id).where(
        AchievementPlacement.achievement_id == achievement_id,
        AchievementPlacement.context_id == scope().context_id,
    )
    pending, failed = (
        read.scalar(
            select(func.count()).where(
                ScorePostback.status == state, ScorePostback.placement_id.in_(placements)
            )
        )
        or 0
        for state in (POSTBACK_PENDING, POSTBACK_FAILED)
    )
    book = _gradebook(read)
    read.rollback()  # no transaction open while the LMS answers
    items, lms_error = _line_items(book)
    html = render_template(
        "rules/rule.html",
        a=achievement,
        rule=rule,
        items=items,
        lms_error=lms_error,
        error=error,
        notice_text=NOTICES.get(request.args.get("notice", "")),
        pending=pending,
        failed=failed,
        new_lineitem=NEW_LINEITEM,
    )
    return html, status


@bp.get("/rule")
def rule(achievement_id: int) -> tuple[str, int]:
    return _page(achievement_id)


@bp.post("/rule")
def save(achievement_id: int) -> tuple[str, int] | WerkzeugResponse:
    form = {k: v for k, v in request.form.items() if k != "csrf" and v != ""}
    try:
        data = RuleFormSchema().load(form, unknown="exclude")
    except ValidationError as exc:
        messages = exc.normalized_messages()
        text = "; ".join(
            f"{name}: {' '.join(m if isinstance(m, str) else str(m) for m in msgs)}"
            for name, msgs in messages.items()
            if isinstance(msgs, list)
        )
        return _page(achievement_id, error=f"Check the form ({text}).", status=422)
    read = db_read()
    achievement = _achievement(read, achievement_id)
    name = achievement.name
    book = _gradebook(read)
    read.rollback()
    if book.lineitems_url is None:
        return _page(achievement_id, error="The LMS offers no gradebook here.", status=409)
    try:
        if data["lineitem"] == NEW_LINEITEM:
            chosen: LineItem | None = book.client.create_line_item(
                book.lineitems_url,
                label=name[:255],
                score_maximum=100,
                resource_id=f"mc-rule-{achievement_id}",
                tag=LINEITEM_TAG,
            )
        else:
            chosen = next(
                (i for i in book.client.line_items(book.lineitems_url) if i.id == data["lineitem"]),
                None,
            )
    except LMS_ERRORS as exc:
        log.warning("AGS line items of context %s failed: %s", scope().context_id, exc)
        return _page(achievement_id, error="The LMS gradebook did not answer.", status=502)
    if chosen is None:
        return _page(achievement_id, error="Choose one of the course's columns.", status=422)
    session = db()
    context_id = scope().context_id
    assert context_id is not None
    rule_service.save_rule(
        session,
        _achievement(session, achievement_id),
        context_id=context_id,
        kind=data["kind"],
        threshold=data["threshold"],
        lineitem_url=chosen.id,
        lineitem_label=chosen.label or chosen.id,
        enabled=data["enabled"],
    )
    session.commit()
    return redirect(u("rules.rule", achievement_id=achievement_id, notice="saved"), code=303)


@bp.post("/rule/sync")
def sync(achievement_id: int) -> tuple[str, int] | WerkzeugResponse:
    read = db_read()
    _achievement(read, achievement_id)
    found = _rule(read, achievement_id)
    if found is None:
        abort(404)
    rule_id = found.id
    read.rollback()
    job = GradebookJob(services())
    try:
        job.evaluate_rule(rule_id, manual=True)
    except GradebookError as exc:
        return _page(achievement_id, error=f"Grades could not be read: {exc}.", status=502)
    job.drain_postbacks()
    return redirect(u("rules.rule", achievement_id=achievement_id, notice="synced"), code=303)
