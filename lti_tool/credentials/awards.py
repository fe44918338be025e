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
from typing import Any, Protocol

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


class BatchAwardListener(Protocol):
    """An award listener that can also take many awards of one event at once (`award_many`);
    it must do exactly what calling it once per award would do."""

    def __call__(self, session: Session, award: Award, event_type: str) -> None: ...

    def many(self, session: Session, awards: Sequence[Award], event_type: str) -> None: ...


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


def _notify_many(session: Session, awards: Sequence[Award], event_type: str) -> None:
    """`_notify` for many awards: a listener with a `many(session, awards, event_type)`
    method (see `BatchAwardListener`) gets them in one call, any other one by one."""
    if not awards:
        return
    for listener in list(award_listeners):
        many = getattr(listener, "many", None)
        if callable(many):
            many(session, awards, event_type)
        else:
            for item in awards:
                listener(session, item, event_type)


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


def _award_input(
    source: str,
    evidence: Evidence | None,
    result: dict[str, Any] | None,
    issued_at: datetime | None,
) -> dict[str, Any]:
    """The award's input, validated (marshmallow `ValidationError`, `ValueError`)."""
    evidence = evidence or Evidence()
    try:
        data: dict[str, Any] = AwardInputSchema().load(
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
    return data


def _check_awardable(achievement: Achievement, data: dict[str, Any]) -> None:
    """What must hold before a new award of `achievement` is made with `data`."""
    if achievement.archived_at is not None:
        raise AchievementArchived(f"achievement {achievement.name!r} is archived")
    if (
        achievement.evidence_required
        and data["source"] != "pathway"
        and not (data["evidence_url"] or (data["evidence_text"] or "").strip())
    ):
        raise EvidenceRequired(f"{achievement.name!r} requires evidence (a URL or a text)")
    _check_result(achievement, data["result"])


def _check_tenant(achievement: Achievement, learner: User) -> None:
    if achievement.platform_id != learner.platform_id:
        raise TenantMismatch(
            f"achievement {achievement.id} belongs to platform {achievement.platform_id}; "
            f"learner {learner.id} to platform {learner.platform_id}"
        )


def _row(
    achievement: Achievement, user_id: int, data: dict[str, Any], issued: datetime, now: datetime
) -> dict[str, Any]:
    expires = (
        issued + timedelta(days=achievement.validity_days) if achievement.validity_days else None
    )
    return {
        "achievement_id": achievement.id,
        "user_id": user_id,
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


def _insert_awards(session: Session, rows: list[dict[str, Any]]) -> dict[int, int]:
    """INSERT .. ON CONFLICT DO NOTHING RETURNING: {user_id: new award id} of the rows that
    went in (a row a concurrent transaction inserted first is not there)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(Award)
        .on_conflict_do_nothing(index_elements=["achievement_id", "user_id"])
        .returning(Award.id, Award.user_id)
    )
    # executemany: SQLAlchemy's "insertmanyvalues" sends batched multi-row INSERTs.
    return {user_id: award_id for award_id, user_id in session.execute(statement, rows)}


def _audit_created(session: Session, created: Award, actor_ref: audit.ActorRef) -> None:
    audit.record(
        session,
        platform_id=created.platform_id,
        actor=actor_ref,
        action=AWARD_CREATED,
        subject_type="award",
        subject_id=created.id,
        data={
            "achievement_id": created.achievement_id,
            "user_id": created.user_id,
            "source": created.source,
            "expires_at": created.expires_at.isoformat() if created.expires_at else None,
            "result": created.result,
        },
        occurred_at=created.created_at,
    )


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
    _check_tenant(achievement, learner)
    data = _award_input(source, evidence, result, issued_at)
    actor_ref = audit.actor_ref(actor)

    _lock_learner(session, learner)
    existing = find_award(session, achievement, learner)
    if existing is not None:
        return existing, False
    _check_awardable(achievement, data)

    now = utcnow()
    new_id = _insert_awards(session, [_row(achievement, learner.id, data, issued_at or now, now)])
    if learner.id not in new_id:  # a concurrent transaction won (and committed) in between
        existing = find_award(session, achievement, learner)
        if existing is None:  # pragma: no cover - the winner's row is committed by now
            raise RuntimeError("award conflict without a visible row")
        return existing, False
    created = session.get_one(Award, new_id[learner.id])
    _audit_created(session, created, actor_ref)
    session.flush()
    _notify(session, created, AWARD_CREATED)
    _after_activation(session, created)
    return created, True


#: Rows per statement in `award_many` (well under SQLite's 32,766 bound parameters).
BATCH_ROWS = 500


def award_many(
    session: Session,
    achievement: Achievement,
    learners: Sequence[User],
    *,
    source: str,
    actor: Actor,
    evidence: Evidence | None = None,
    result: dict[str, Any] | None = None,
    issued_at: datetime | None = None,
) -> list[tuple[Award, bool]]:
    """`award` for many learners at once: one (award, created) per distinct learner, in the
    order given, with the same checks and the same effects (audit event, listeners, pathways)
    as calling `award` for each, but with a handful of statements per `BATCH_ROWS` learners
    instead of a dozen per learner. Checks fail before anything is written."""
    unique = list({learner.id: learner for learner in learners}.values())
    for learner in unique:
        _check_tenant(achievement, learner)
    data = _award_input(source, evidence, result, issued_at)
    actor_ref = audit.actor_ref(actor)
    if not unique:
        return []

    ids = sorted(learner.id for learner in unique)
    held: dict[int, Award] = {}
    for start in range(0, len(ids), BATCH_ROWS):
        chunk = ids[start : start + BATCH_ROWS]
        # The learners' rows locked in id order (no deadlock between two batches), as `award`.
        session.execute(
            select(User.id)
            .where(User.id.in_(chunk))
            .order_by(User.id)
            .with_for_update(key_share=True)
        ).all()
        held.update(
            (item.user_id, item)
            for item in session.scalars(
                select(Award).where(
                    Award.achievement_id == achievement.id, Award.user_id.in_(chunk)
                )
            )
        )
    missing = [user_id for user_id in ids if user_id not in held]
    if missing:
        _check_awardable(achievement, data)

    now = utcnow()
    created: list[Award] = []
    for start in range(0, len(missing), BATCH_ROWS):
        chunk = missing[start : start + BATCH_ROWS]
        new_ids = _insert_awards(
            session, [_row(achievement, user_id, data, issued_at or now, now) for user_id in chunk]
        )
        rows = {
            item.user_id: item
            for item in session.scalars(select(Award).where(Award.id.in_(list(new_ids.values()))))
        }
        lost = [user_id for user_id in chunk if user_id not in new_ids]
        if lost:  # concurrent transactions won these (and committed) in between
            held.update(
                (item.user_id, item)
                for item in session.scalars(
                    select(Award).where(
                        Award.achievement_id == achievement.id, Award.user_id.in_(lost)
                    )
                )
            )
        created.extend(rows[user_id] for user_id in chunk if user_id in rows)
    for item in created:
        _audit_created(session, item, actor_ref)
    session.flush()
    _notify_many(session, created, AWARD_CREATED)
    from .pathways import award_completed_pathways_many  # pathways awards through this module

    award_completed_pathways_many(session, created)

    new = {item.user_id: item for item in created}
    out: list[tuple[Award, bool]] = []
    for learner in unique:
        if learner.id in new:
            out.append((new[learner.id], True))
        elif learner.id in held:
            out.append((held[learner.id], False))
        else:  # pragma: no cover - the winner's row is committed by now
            raise RuntimeError("award conflict without a visible row")
    return out


def _after_activation(session: Session, active: Award) -> None:
    from .pathways import award_completed_pathways  # pathways awards through this module

    award_completed_pathways(session, active)


def _after_withdrawal(session: Session, withdrawn: Award) -> None:
    from .pathway_cascade import after_withdrawal  # pathway credentials follow their parts

    after_withdrawal(session, withdrawn)


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
    _lock_learner(session, target.learner)  # learner before award rows: one lock order
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
    else:
        _after_withdrawal(session, target)
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
    for item in due:
        _after_withdrawal(session, item)
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
