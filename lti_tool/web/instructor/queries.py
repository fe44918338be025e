"""Queries scoped to the session's tenant and course: nothing here crosses either.

Lookups that find nothing answer 404, so another course's ids reveal nothing.
"""

from __future__ import annotations

from typing import Any

from flask import abort
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session, joinedload

from ...lti.roles import ADMINISTRATOR
from ...models import Achievement, Award, Enrollment, User
from ..scope import Scope, scope


def in_course(current: Scope) -> Any:
    """Achievements this course sees: its own and the platform-wide ones of its tenant."""
    return and_(
        Achievement.platform_id == current.platform_id,
        or_(Achievement.context_id == current.context_id, Achievement.context_id.is_(None)),
    )


def course_achievement(session: Session, achievement_id: int) -> Achievement:
    found = session.scalars(
        select(Achievement).where(Achievement.id == achievement_id, in_course(scope()))
    ).one_or_none()
    if found is None:
        abort(404)
    return found


def require_editable(achievement: Achievement) -> None:
    if achievement.context_id is None and scope().role != ADMINISTRATOR:
        abort(403, description="Only an administrator can change a platform-wide achievement.")


def enrolled(current: Scope) -> Select[User]:
    return (
        select(User)
        .join(Enrollment, Enrollment.user_id == User.id)
        .where(Enrollment.context_id == current.context_id, User.platform_id == current.platform_id)
    )


def course_awards(current: Scope, achievement: Achievement) -> Select[Award]:
    return (
        select(Award)
        .join(
            Enrollment,
            and_(Enrollment.user_id == Award.user_id, Enrollment.context_id == current.context_id),
        )
        .where(Award.achievement_id == achievement.id, Award.platform_id == current.platform_id)
        .options(joinedload(Award.learner))
        .order_by(Award.issued_at.desc(), Award.id.desc())
    )


def course_award(session: Session, award_id: int) -> Award:
    current = scope()
    found = session.scalars(
        select(Award)
        .join(Achievement, Achievement.id == Award.achievement_id)
        .join(
            Enrollment,
            and_(Enrollment.user_id == Award.user_id, Enrollment.context_id == current.context_id),
        )
        .where(Award.id == award_id, Award.platform_id == current.platform_id, in_course(current))
    ).one_or_none()
    if found is None:
        abort(404)
    return found
