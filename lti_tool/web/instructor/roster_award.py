"""Award an achievement to the whole course roster, fetched from the LMS with NRPS.

Every roster page is fetched with no database transaction open; then, in one write
transaction, the members become users and enrollments of the course (those who never
launched the tool too) and every active learner is awarded (source "roster").
"""

from __future__ import annotations

import logging

import requests
from pylti1p3.exception import LtiServiceException
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from ...credentials import CredentialError
from ...credentials import awards as award_service
from ...lti.nrps import RosterMember
from ...lti.roster_sync import enroll_members
from ...lti.tool_config import PlatformRegistration
from ...models import Context, Platform, User
from ...requestscope import db, db_read, services
from .. import instructor as package
from ..scope import Scope, scope
from .achievements import achievement_page
from .blueprint import bp
from .common import actor, redirect_to
from .queries import course_achievement

log = logging.getLogger(__name__)

BATCH = 500  # roster members per write transaction


@bp.post("/achievements/<int:achievement_id>/roster")
def roster_award(achievement_id: int) -> tuple[str, int] | WerkzeugResponse:
    current = scope()
    read = db_read()
    found = course_achievement(read, achievement_id)
    if found.archived:
        return achievement_page(achievement_id, error="This achievement is archived.", status=409)
    if found.evidence_required:
        return achievement_page(
            achievement_id,
            error="This achievement requires evidence for each learner: use the CSV bulk award.",
            status=422,
        )
    context = read.get_one(Context, current.context_id)
    context_id = context.id
    nrps = (context.services or {}).get("nrps") or {}
    url = nrps.get("context_memberships_url") if isinstance(nrps, dict) else None
    if not isinstance(url, str) or not url:
        return achievement_page(
            achievement_id,
            error="The LMS did not offer this course's roster (NRPS) to the tool.",
            status=409,
        )
    platform = read.get_one(Platform, current.platform_id)
    key = services().signing_keys.current(read)
    registration = PlatformRegistration(platform, lambda: key)
    # Close the read transaction before talking to the LMS: no transaction stays open across
    # the (possibly many) NRPS page fetches.
    read.rollback()
    try:
        # `roster` is looked up on the package at call time: one seam to watch the fetch.
        members = list(package.roster(registration, services().service_tokens, key, url))
    except (LtiServiceException, requests.RequestException) as exc:
        log.warning("NRPS roster of context %s failed: %s", current.context_id, exc)
        return achievement_page(
            achievement_id,
            error="The LMS did not hand over the course roster. Try again later.",
            status=502,
        )
    try:
        created_users, awarded, unchanged = _award_roster(
            members, achievement_id, context_id, current
        )
    except CredentialError as exc:
        db().rollback()
        return achievement_page(achievement_id, error=str(exc), status=409)
    return redirect_to(
        "instructor.achievement",
        achievement_id=achievement_id,
        notice="roster",
        members=len(members),
        new_users=created_users,
        created=awarded,
        unchanged=unchanged,
    )


def _award_roster(
    members: list[RosterMember], achievement_id: int, context_id: int, current: Scope
) -> tuple[int, int, int]:
    """(new users, new awards, learners who already held it). One write transaction per
    `BATCH` members, so other writers (launches) wait for one batch, never for the roster."""
    session = db()
    subs = [m.sub for m in members]
    known: set[str] = set()
    for start in range(0, len(subs), BATCH):
        known.update(
            session.scalars(
                select(User.sub).where(
                    User.platform_id == current.platform_id,
                    User.sub.in_(subs[start : start + BATCH]),
                )
            )
        )
    learners = awarded = 0
    for start in range(0, len(members), BATCH):
        found = course_achievement(session, achievement_id)  # as of this transaction
        learner_ids = enroll_members(
            session,
            platform_id=current.platform_id,
            context_id=context_id,
            members=members[start : start + BATCH],
        )
        batch = list(session.scalars(select(User).where(User.id.in_(learner_ids.values()))))
        results = award_service.award_many(
            session, found, batch, source="roster", actor=actor(current)
        )
        learners += len(results)
        awarded += sum(1 for _, created in results if created)
        session.commit()
    return len(set(subs) - known), awarded, learners - awarded
