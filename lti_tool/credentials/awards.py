"""Awarding, and the life of an award: suspend, reinstate, revoke, expire.

Every change writes its `AuditEvent` and calls the `award_listeners` in the caller's
transaction; nothing here commits. Awarding is idempotent per (achievement, learner), also
under concurrency: the insert is `INSERT .. ON CONFLICT DO NOTHING RETURNING id`, and the
learner's row is locked first (PostgreSQL `FOR NO KEY UPDATE`; SQLite's `BEGIN IMMEDIATE`
already serialises writers) so that two awards landing at once for the same learner cannot
both miss a pathway they complete together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import Session

from lti_tool.models import Achievement, Award, User, utcnow
from lti_tool.models.awards import (
    STATUS_ACTIVE,
    STATUS_EXPIRED,
    STATUS_REVOKED,
    STATUS_SUSPENDED,
)
from schemas.credentials.awards import AwardInputSchema

from . import audit
from .audit import SYSTEM, Actor
from .errors import (
    AchievementArchived,
    AwardNotFound,
    EvidenceRequired,
    InvalidResult,
    InvalidTransition,
    TenantMismatch,
)

AWARD_CREATED = "award.created"
AWARD_REVOKED = "award.revoked"
AWARD_SUSPENDED = "award.suspended"
AWARD_REINSTATED = "award.reinstated"
AWARD_EXPIRED = "award.expired"

AwardListener = Callable[[Session, Award, str], None]

# Called as listener(session, award, event_type) inside the transaction, after the change is
# flushed and audited: the OB 3.0 credential builder and the sync outbox hang on here without
# this module importing them. A listener that raises aborts the whole change.
award_listeners: list[AwardListener] = []


@dataclass(frozen=True)
class Evidence:
    url: str | None = None
    text: str | None = None


def _notify(session: Session, award: Award, event_type: str) -> None:
    for listener in list(award_listeners):
        listener(session, award, event_type)


def _check_result(achievement: Achievement, result: dict[str, Any] | None) -> None:
    description = achievement.result_description
    if result is None or description is None:
        return
    kind = description["result_type"]
    if kind == "Percent":
        if "value" not in result:
            raise InvalidResult(f"{achievement.name!r} expects a percentage: {{'value': number}}")
        low, high = description.get("value_min", 0.0), description.get("value_max", 100.0)
        if not low <= result["value"] <= high:
            raise InvalidResult(f"result {result['value']} is outside {low}..{high}")
    else:
        names = [level["name"] for level in description.get("levels") or []]
        if result.get("level") not in names:
            raise InvalidResult(f"{achievement.name!r} expects a level, one of: {', '.join(names)}")


def _lock_learner(session: Session, learner: User) -> None:
    # NO KEY UPDATE: serialises awards per learner without blocking foreign-key checks of
    # other rows that merely reference the user (enrolments, launches).
    session.execute(
        select(User.id).where(User.id == learner.id).with_for_update(key_share=True)
    ).scalar_one()


def find_award(session: Session, achievement: Achievement, learner: User) -> Award | None:
    return session.scalars(
        select(Award).where(Award.achievement_id == achievement.id, Award.user_id == learner.id)
    ).one_or_none()


def get_award(session: Session, award_id: int, *, platform_id: int) -> Award:
    """The award with this id in this tenant, or AwardNotFound."""
    found = session.scalars(
        select(Award).where(Award.id == award_id, Award.platform_id == platform_id)
    ).one_or_none()
    if found is None:
        raise AwardNotFound(f"no award {award_id} in this platform")
    return found


def award(
    session: Session,
    achievement: Achievement,
    learner: User,
    *,
    source: str,
    actor: Actor,
    evidence: Evidence | None = None,
    result: dict[str, Any] | None = None,
    issued_at: datetime | None = None,
) -> tuple[Award, bool]:
    """Award `achievement` to `learner`: (award, created). Awarding again returns the existing
    award whatever its status (a revoked award stays revoked; reinstate is explicit)."""
    if achievement.platform_id != learner.platform_id:
        raise TenantMismatch(
            f"achievement {achievement.id} belongs to platform {achievement.platform_id}; "
            f"learner {learner.id} to platform {learner.platform_id}"
        )
    evidence = evidence or Evidence()
    try:
        data = AwardInputSchema().load(
            {
                "source": source,
                "evidence_url": evidence.url,
                "evidence_text": evidence.text,
                "result": result,
            }
        )
    except ValidationError as exc:
        raise ValidationError(exc.normalized_messages()) from exc
    if issued_at is not None and issued_at.tzinfo is None:
        raise ValueError("issued_at must be timezone-aware")
    actor_ref = audit.actor_ref(actor)

    _lock_learner(session, learner)
    existing = find_award(session, achievement, learner)
    if existing is not None:
        return existing, False
    if achievement.archived_at is not None:
        raise AchievementArchived(f"achievement {achievement.name!r} is archived")
    if (
        achievement.evidence_required
        and source != "pathway"
        and not (data["evidence_url"] or (data["evidence_text"] or "").strip())
    ):
        raise EvidenceRequired(f"{achievement.name!r} requires evidence (a URL or a text)")
    _check_result(achievement, data["result"])

    issued = issued_at or utcnow()
    expires = (
        issued + timedelta(days=achievement.validity_days) if achievement.validity_days else None
    )
    now = utcnow()
    values = {
        "achievement_id": achievement.id,
        "user_id": learner.id,
        "platform_id": achievement.platform_id,
        "issued_at": issued,
        "expires_at": expires,
        "evidence_url": data["evidence_url"],
        "evidence_text": data["evidence_text"],
        "result": data["result"],
        "source": data["source"],
        "status": STATUS_ACTIVE,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(Award)
        .values(values)
        .on_conflict_do_nothing(index_elements=["achievement_id", "user_id"])
        .returning(Award.id)
    )
    new_id = session.execute(statement).scalar_one_or_none()
    if new_id is None:  # a concurrent transaction won (and committed) in between
        existing = find_award(session, achievement, learner)
        if existing is None:  # pragma: no cover - the winner's row is committed by now
            raise RuntimeError("award conflict without a visible row")
        return existing, False
    created = session.get_one(Award, new_id)
    audit.record(
        session,
        platform_id=created.platform_id,
        actor=actor_ref,
        action=AWARD_CREATED,
        subject_type="award",
        subject_id=created.id,
        data={
            "achievement_id": achievement.id,
            "user_id": learner.id,
            "source": created.source,
            "expires_at": expires.isoformat() if expires else None,
            "result": created.result,
        },
        occurred_at=now,
    )
    session.flush()
    _notify(session, created, AWARD_CREATED)
    _after_activation(session, created)
    return created, True


def _after_activation(session: Session, active: Award) -> None:
    from .pathways import award_completed_pathways  # pathways awards through this module

    award_completed_pathways(session, active)


def _transition(
    session: Session,
    target: Award,
    *,
    allowed: Sequence[str],
    to: str,
    action: str,
    verb: str,
    actor: Actor,
    reason: str | None,
    at: datetime | None = None,
) -> Award:
    if target.id is None:
        raise AwardNotFound("the award was never saved")
    try:
        session.refresh(target, with_for_update=True)  # the current status, locked
    except InvalidRequestError as exc:
        raise AwardNotFound(f"award {target.id} does not exist (any more)") from exc
    if target.status not in allowed:
        raise InvalidTransition(
            f"award {target.id} is {target.status}; cannot {verb} it"
            + (" (revocation is permanent)" if target.status == STATUS_REVOKED else "")
        )
    when = at or utcnow()
    previous = target.status
    target.status = to
    target.status_reason = reason
    target.status_changed_at = when
    session.flush()
    audit.record(
        session,
        platform_id=target.platform_id,
        actor=actor,
        action=action,
        subject_type="award",
        subject_id=target.id,
        reason=reason,
        data={"from": previous, "to": to, "version": target.version},
        occurred_at=when,
    )
    session.flush()
    _notify(session, target, action)
    if to == STATUS_ACTIVE:
        _after_activation(session, target)
    return target


def _reason(reason: str | None, what: str) -> str:
    if reason is None or not reason.strip():
        raise ValidationError({"reason": [f"give a reason to {what} an award"]})
    if len(reason) > 2000:
        raise ValidationError({"reason": ["at most 2000 characters"]})
    return reason.strip()


def revoke(session: Session, target: Award, *, reason: str, actor: Actor) -> Award:
    """Permanently withdraw an active or suspended award."""
    return _transition(
        session,
        target,
        allowed=(STATUS_ACTIVE, STATUS_SUSPENDED),
        to=STATUS_REVOKED,
        action=AWARD_REVOKED,
        verb="revoke",
        actor=actor,
        reason=_reason(reason, "revoke"),
    )


def suspend(session: Session, target: Award, *, reason: str, actor: Actor) -> Award:
    """Temporarily withdraw an active award (reinstate undoes it)."""
    return _transition(
        session,
        target,
        allowed=(STATUS_ACTIVE,),
        to=STATUS_SUSPENDED,
        action=AWARD_SUSPENDED,
        verb="suspend",
        actor=actor,
        reason=_reason(reason, "suspend"),
    )


def reinstate(session: Session, target: Award, *, actor: Actor, reason: str | None = None) -> Award:
    """Make a suspended award active again. If its validity ended meanwhile, the next
    `expire_due` run expires it."""
    return _transition(
        session,
        target,
        allowed=(STATUS_SUSPENDED,),
        to=STATUS_ACTIVE,
        action=AWARD_REINSTATED,
        verb="reinstate",
        actor=actor,
        reason=reason.strip() if reason and reason.strip() else None,
    )


def expire_due(session: Session, now: datetime | None = None, *, limit: int = 500) -> list[Award]:
    """Mark active awards whose validity has ended as expired (oldest first, at most `limit`
    per call). Concurrent runs on PostgreSQL skip each other's rows."""
    now = now or utcnow()
    due = session.scalars(
        select(Award)
        .where(
            Award.status == STATUS_ACTIVE,
            Award.expires_at.is_not(None),
            Award.expires_at <= now,
        )
        .order_by(Award.expires_at, Award.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for item in due:
        item.status = STATUS_EXPIRED
        item.status_reason = "validity period ended"
        item.status_changed_at = now
    session.flush()
    for item in due:
        audit.record(
            session,
            platform_id=item.platform_id,
            actor=SYSTEM,
            action=AWARD_EXPIRED,
            subject_type="award",
            subject_id=item.id,
            reason="validity period ended",
            data={
                "from": STATUS_ACTIVE,
                "to": STATUS_EXPIRED,
                "expires_at": item.expires_at.isoformat() if item.expires_at else None,
                "version": item.version,
            },
            occurred_at=now,
        )
    session.flush()
    for item in due:
        _notify(session, item, AWARD_EXPIRED)
    return list(due)


def held_achievement_ids(
    session: Session, learner: User, *, at: datetime | None = None
) -> set[int]:
    """Achievements the learner holds right now: active and not past their validity."""
    at = at or utcnow()
    return set(
        session.scalars(
            select(Award.achievement_id).where(
                Award.user_id == learner.id,
                Award.platform_id == learner.platform_id,
                Award.status == STATUS_ACTIVE,
                or_(Award.expires_at.is_(None), Award.expires_at > at),
            )
        )
    )


def learner_awards(session: Session, learner: User) -> list[Award]:
    """All of a learner's awards (any status), newest first."""
    return list(
        session.scalars(
            select(Award)
            .where(Award.user_id == learner.id, Award.platform_id == learner.platform_id)
            .order_by(Award.issued_at.desc(), Award.id.desc())
        )
    )
