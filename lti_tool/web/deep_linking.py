"""Deep Linking pages: the instructor's achievement picker, and a placed achievement.

The picker answers the deep-linking launch of this tool session only: the return URL, the
`data` to echo and the deployment come from the launch data stored at launch, never from
the form. Learners can never place anything.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from flask import Blueprint, abort, render_template, request
from marshmallow import ValidationError
from pylti1p3.exception import LtiServiceException
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from schemas.credentials.rules import PlacementFormSchema

from ..credentials import awards as award_service
from ..lti import deep_linking as dl
from ..lti.ags import AgsClient, AgsError
from ..lti.claims import DEEP_LINKING_SETTINGS, DEPLOYMENT_ID, MESSAGE_TYPE
from ..lti.launch_data import DatabaseLaunchDataStorage
from ..lti.roles import ADMINISTRATOR, INSTRUCTOR
from ..lti.tool_config import PlatformRegistration
from ..models import (
    Achievement,
    AchievementPlacement,
    AchievementRule,
    Platform,
    ToolSession,
    User,
)
from ..requestscope import db, db_read, services
from .csrf import check_csrf
from .scope import load_scope, safe_http_url, scope, template_globals
from .session import current_session

bp = Blueprint("deep_linking", __name__, url_prefix="/app")
log = logging.getLogger(__name__)


@bp.before_request
def _guard() -> None:
    current = load_scope()
    check_csrf(current.token)


bp.context_processor(template_globals)


def _instructor() -> None:
    if scope().role not in (INSTRUCTOR, ADMINISTRATOR):
        abort(403, description="Only the course's instructors can place achievements.")
    if scope().context_id is None:
        abort(403, description="Open the tool from a course to place its achievements.")


def _deep_linking_claims(session: Session, tool_session: ToolSession) -> dict[str, object]:
    if tool_session.message_type != "LtiDeepLinkingRequest":
        abort(409, description="This page answers a deep-linking request from the LMS only.")
    claims = DatabaseLaunchDataStorage(session).get_value(tool_session.launch_id)
    if not isinstance(claims, dict) or claims.get(MESSAGE_TYPE) != "LtiDeepLinkingRequest":
        abort(409, description="The deep-linking request has expired. Start again from the LMS.")
    return claims


def _placeable(session: Session) -> list[Achievement]:
    current = scope()
    return list(
        session.scalars(
            select(Achievement)
            .where(
                and_(
                    Achievement.platform_id == current.platform_id,
                    or_(
                        Achievement.context_id == current.context_id,
                        Achievement.context_id.is_(None),
                    ),
                    Achievement.archived_at.is_(None),
                )
            )
            .order_by(Achievement.name, Achievement.id)
        )
    )


@bp.get("/deep-linking")
def picker() -> str:
    _instructor()
    read = db_read()
    _deep_linking_claims(read, current_session())
    return render_template("deep_linking/picker.html", achievements=_placeable(read), error=None)


@bp.post("/deep-linking")
def place() -> str | tuple[str, int]:
    _instructor()
    session = db()
    tool_session = current_session()
    claims = _deep_linking_claims(session, tool_session)
    try:
        data = PlacementFormSchema().load({"achievement_id": request.form.get("achievement_id")})
    except ValidationError:
        return _picker_error("Choose one of the achievements below.")
    chosen = next((a for a in _placeable(session) if a.id == data["achievement_id"]), None)
    if chosen is None:
        return _picker_error("That achievement cannot be placed in this course.")
    settings = claims.get(DEEP_LINKING_SETTINGS)
    if not isinstance(settings, dict):
        abort(409, description="The deep-linking request has no settings.")
    return_url = dl.return_url(settings)
    current = scope()
    assert current.context_id is not None
    placement = AchievementPlacement(
        platform_id=current.platform_id,
        achievement_id=chosen.id,
        context_id=current.context_id,
        resource_id=dl.new_resource_id(),
        title=chosen.name[:255],
        with_lineitem=chosen.result_description is not None,
    )
    session.add(placement)
    session.flush()
    platform = session.get_one(Platform, current.platform_id)
    key = services().signing_keys.current(session)
    token = dl.response_jwt(
        client_id=platform.client_id,
        platform_issuer=platform.issuer,
        deployment_id=str(claims.get(DEPLOYMENT_ID) or ""),
        settings=settings,
        items=[dl.content_item(chosen, placement, services().settings.url("/lti/launch"))],
        key=key,
        message=f"Placed {chosen.name[:200]}",
    )
    session.commit()
    return render_template(
        "deep_linking/autopost.html", return_url=return_url, jwt=token, achievement=chosen
    )


def _picker_error(message: str) -> tuple[str, int]:
    html = render_template(
        "deep_linking/picker.html", achievements=_placeable(db_read()), error=message
    )
    return html, 422


@bp.get("/placed/<resource_id>")
def placed(resource_id: str) -> str:
    current = scope()
    read = db_read()
    placement = read.scalars(
        select(AchievementPlacement).where(
            AchievementPlacement.resource_id == resource_id[:64],
            AchievementPlacement.platform_id == current.platform_id,
        )
    ).one_or_none()
    if placement is None:
        abort(404)
    achievement = read.get_one(Achievement, placement.achievement_id)
    learner = read.get_one(User, current.user_id)
    held = award_service.find_award(read, achievement, learner)
    rule = read.scalars(
        select(AchievementRule).where(
            AchievementRule.achievement_id == achievement.id,
            AchievementRule.context_id == placement.context_id,
            AchievementRule.enabled.is_(True),
        )
    ).one_or_none()
    html_args: dict[str, Any] = {
        "a": achievement,
        "award": held,
        "rule": rule,
        "safe_http_url": safe_http_url,
        "score": None,
        "score_error": None,
    }
    if rule is not None:
        platform = read.get_one(Platform, current.platform_id)
        key = services().signing_keys.current(read)
        client = AgsClient(
            PlatformRegistration(platform, lambda: key), services().service_tokens, key
        )
        lineitem_url, sub = rule.lineitem_url, learner.sub
        # No transaction open while the LMS answers (what the page shows reloads after).
        read.rollback()
        try:
            results = list(client.results(lineitem_url, user_id=sub))
            mine = next((r for r in results if r.user_id == sub), None)
            html_args["score"] = None if mine is None else (mine.result_score, mine.result_maximum)
        except (LtiServiceException, requests.RequestException, AgsError) as exc:
            log.warning("AGS result of user %s failed: %s", current.user_id, exc)
            html_args["score_error"] = "Your current score could not be read from the LMS."
    return render_template("deep_linking/placed.html", **html_args)


@bp.get("/placed-unknown")
def unknown_placement() -> tuple[str, int]:
    return (
        render_template(
            "error.html",
            title="Achievement not found",
            message="This link points to an achievement that is no longer available.",
        ),
        404,
    )
