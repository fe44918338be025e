"""Awarding and the award life cycle: idempotency, tenancy, transitions, expiry, listeners."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.credentials import (
    AchievementArchived,
    AwardNotFound,
    EvidenceRequired,
    InvalidResult,
    InvalidTransition,
    TenantMismatch,
)
from lti_tool.credentials import awards as svc
from lti_tool.credentials.achievements import archive_achievement
from lti_tool.credentials.audit import ActorRef
from lti_tool.db import Database
from lti_tool.models import AuditEvent, Award, Platform, User

from .conftest import ADMIN, make_achievement, make_platform, make_user


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_award_creates_once_and_is_idempotent(session: Session, tenant: Platform, learner: User):
    badge = make_achievement(session, tenant)
    first, created = svc.award(session, badge, learner, source="manual", actor=ADMIN)
    again, created_again = svc.award(session, badge, learner, source="bulk", actor=ADMIN)
    assert created is True
    assert created_again is False
    assert again.id == first.id
    assert again.source == "manual"  # the second call changed nothing
    assert first.status == "active"
    assert first.version == 1
    assert first.platform_id == tenant.id
    assert _count(session, Award) == 1
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "award.created")).all()
    assert len(events) == 1  # no event for the idempotent repeat
    session.commit()
    # Still idempotent in a later transaction.
    _again, created_later = svc.award(session, badge, learner, source="manual", actor=ADMIN)
    assert created_later is False


def test_award_fields_expiry_evidence_and_result(session: Session, tenant: Platform, learner):
    badge = make_achievement(
        session,
        tenant,
        validity_days=30,
        result_description={"result_type": "Percent", "name": "Final score", "value_min": 50},
    )
    issued = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
    award, _ = svc.award(
        session,
        badge,
        learner,
        source="api",
        actor=ActorRef("api-client:4"),
        evidence=svc.Evidence(url="https://lms.example.edu/submissions/9", text="Capstone"),
        result={"value": 87.5},
        issued_at=issued,
    )
    session.commit()
    session.expire_all()
    award = session.get_one(Award, award.id)
    assert award.issued_at == issued
    assert award.expires_at == issued + timedelta(days=30)
    assert award.evidence_url == "https://lms.example.edu/submissions/9"
    assert award.result == {"value": 87.5}
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "award.created")).one()
    assert (event.actor, event.actor_user_id, event.subject_id) == ("api-client:4", None, award.id)


def test_result_must_fit_the_description(session: Session, tenant: Platform, learner: User):
    percent = make_achievement(
        session, tenant, "Pct", result_description={"result_type": "Percent", "name": "Score"}
    )
    rubric = make_achievement(
        session,
        tenant,
        "Rubric",
        result_description={
            "result_type": "RubricCriterionLevel",
            "name": "Level",
            "levels": [{"name": "Developing"}, {"name": "Proficient"}],
        },
    )
    with pytest.raises(InvalidResult, match=r"outside 0.0\.\.100.0"):
        svc.award(session, percent, learner, source="rule", actor=ADMIN, result={"value": 120})
    with pytest.raises(InvalidResult, match="Developing, Proficient"):
        svc.award(session, rubric, learner, source="rule", actor=ADMIN, result={"level": "Gold"})
    with pytest.raises(ValidationError) as info:
        svc.award(session, rubric, learner, source="rule", actor=ADMIN, result={"score": 1})
    assert "result" in info.value.messages
    award, created = svc.award(
        session, rubric, learner, source="rule", actor=ADMIN, result={"level": "Proficient"}
    )
    assert created and award.result == {"level": "Proficient"}


def test_bad_source_and_evidence_url_are_validation_errors(session, tenant, learner):
    badge = make_achievement(session, tenant)
    with pytest.raises(ValidationError) as info:
        svc.award(session, badge, learner, source="magic", actor=ADMIN)
    assert "source" in info.value.messages
    with pytest.raises(ValidationError) as info:
        svc.award(
            session,
            badge,
            learner,
            source="manual",
            actor=ADMIN,
            evidence=svc.Evidence(url="javascript:alert(1)"),
        )
    assert "evidence_url" in info.value.messages


def test_evidence_required(session: Session, tenant: Platform, learner: User):
    badge = make_achievement(session, tenant, evidence_required=True)
    with pytest.raises(EvidenceRequired, match="requires evidence"):
        svc.award(session, badge, learner, source="manual", actor=ADMIN)
    award, created = svc.award(
        session, badge, learner, source="manual", actor=ADMIN, evidence=svc.Evidence(text="Essay")
    )
    assert created and award.evidence_text == "Essay"


def test_tenant_isolation(session: Session, tenant: Platform, learner: User):
    other = make_platform(session, 2)
    stranger = make_user(session, other, "learner-1")  # same sub, other platform
    badge = make_achievement(session, tenant)
    with pytest.raises(TenantMismatch, match="platform"):
        svc.award(session, badge, stranger, source="manual", actor=ADMIN)
    award, _ = svc.award(session, badge, learner, source="manual", actor=ADMIN)
    with pytest.raises(AwardNotFound):
        svc.get_award(session, award.id, platform_id=other.id)
    assert svc.get_award(session, award.id, platform_id=tenant.id) is award
    assert _count(session, Award) == 1


def test_archived_achievement_cannot_be_awarded_but_repeat_is_still_idempotent(
    session: Session, tenant: Platform, learner: User
):
    badge = make_achievement(session, tenant)
    other = make_user(session, tenant, "learner-2")
    award, _ = svc.award(session, badge, learner, source="manual", actor=ADMIN)
    archive_achievement(session, badge, actor=ADMIN)
    with pytest.raises(AchievementArchived):
        svc.award(session, badge, other, source="manual", actor=ADMIN)
    assert svc.award(session, badge, learner, source="manual", actor=ADMIN) == (award, False)


def test_suspend_reinstate_revoke(session: Session, tenant: Platform, learner: User):
    teacher = make_user(session, tenant, "teacher-1")
    badge = make_achievement(session, tenant)
    award, _ = svc.award(session, badge, learner, source="manual", actor=teacher)
    session.commit()

    svc.suspend(session, award, reason="Under review", actor=teacher)
    assert (award.status, award.status_reason, award.version) == ("suspended", "Under review", 2)
    with pytest.raises(InvalidTransition, match="is suspended; cannot suspend"):
        svc.suspend(session, award, reason="again", actor=teacher)
    svc.reinstate(session, award, actor=teacher)
    assert (award.status, award.status_reason, award.version) == ("active", None, 3)
    with pytest.raises(InvalidTransition, match="is active; cannot reinstate"):
        svc.reinstate(session, award, actor=teacher)
    svc.revoke(session, award, reason="Plagiarism", actor=teacher)
    assert (award.status, award.version) == ("revoked", 4)
    with pytest.raises(InvalidTransition, match="revocation is permanent"):
        svc.revoke(session, award, reason="again", actor=teacher)
    with pytest.raises(InvalidTransition):
        svc.reinstate(session, award, actor=teacher)
    with pytest.raises(InvalidTransition):
        svc.suspend(session, award, reason="x", actor=teacher)
    # Awarding again does not resurrect a revoked award.
    assert svc.award(session, badge, learner, source="manual", actor=teacher) == (award, False)
    assert award.status == "revoked"
    session.commit()

    actions = session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.subject_type == "award", AuditEvent.subject_id == award.id)
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["award.created", "award.suspended", "award.reinstated", "award.revoked"]
    revoked = session.scalars(select(AuditEvent).where(AuditEvent.action == "award.revoked")).one()
    assert revoked.reason == "Plagiarism"
    assert revoked.actor == f"user:{teacher.id}"
    assert revoked.actor_user_id == teacher.id
    assert revoked.data == {"from": "active", "to": "revoked", "version": 4}


def test_revoke_and_suspend_need_a_reason(session: Session, tenant: Platform, learner: User):
    award, _ = svc.award(
        session, make_achievement(session, tenant), learner, source="manual", actor=ADMIN
    )
    with pytest.raises(ValidationError, match="give a reason to revoke"):
        svc.revoke(session, award, reason="  ", actor=ADMIN)
    with pytest.raises(ValidationError, match="give a reason to suspend"):
        svc.suspend(session, award, reason="", actor=ADMIN)
    assert award.status == "active"


def test_revoke_unknown_award(session: Session, tenant: Platform):
    with pytest.raises(AwardNotFound, match="no award 999"):
        svc.get_award(session, 999, platform_id=tenant.id)
    with pytest.raises(AwardNotFound):
        svc.revoke(session, Award(), reason="x", actor=ADMIN)


def test_stale_copy_sees_the_current_status(database: Database):
    """A transition re-reads the row (locked): another session's revoke is not overwritten."""
    with database.session() as s:
        platform = make_platform(s)
        user = make_user(s, platform, "u")
        award, _ = svc.award(s, make_achievement(s, platform), user, source="manual", actor=ADMIN)
        award_id = award.id
    first = database.sessionmaker()
    stale = first.get_one(Award, award_id)
    first.commit()  # `stale` stays in memory as "active"
    with database.session() as s:
        svc.revoke(s, s.get_one(Award, award_id), reason="fraud", actor=ADMIN)
    with pytest.raises(InvalidTransition, match="revoked"):
        svc.suspend(first, stale, reason="late", actor=ADMIN)
    first.rollback()
    first.close()


def test_expire_due(session: Session, tenant: Platform, learner: User):
    short = make_achievement(session, tenant, "Short", validity_days=10)
    forever = make_achievement(session, tenant, "Forever")
    suspended_badge = make_achievement(session, tenant, "Suspended", validity_days=10)
    issued = datetime(2026, 1, 1, tzinfo=UTC)
    a, _ = svc.award(session, short, learner, source="manual", actor=ADMIN, issued_at=issued)
    b, _ = svc.award(session, forever, learner, source="manual", actor=ADMIN, issued_at=issued)
    c, _ = svc.award(
        session, suspended_badge, learner, source="manual", actor=ADMIN, issued_at=issued
    )
    svc.suspend(session, c, reason="review", actor=ADMIN)
    session.commit()

    assert svc.expire_due(session, issued + timedelta(days=9)) == []
    expired = svc.expire_due(session, issued + timedelta(days=10))
    assert [x.id for x in expired] == [a.id]
    assert (a.status, a.status_reason, a.version) == ("expired", "validity period ended", 2)
    assert (b.status, c.status) == ("active", "suspended")
    assert svc.expire_due(session, issued + timedelta(days=11)) == []  # nothing twice
    session.commit()
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "award.expired")).one()
    assert (event.actor, event.subject_id) == ("system", a.id)
    with pytest.raises(InvalidTransition, match="expired"):
        svc.revoke(session, a, reason="x", actor=ADMIN)
    assert svc.held_achievement_ids(session, learner) == {forever.id}


def test_held_excludes_awards_past_expiry_not_yet_marked(session, tenant, learner):
    badge = make_achievement(session, tenant, validity_days=1)
    svc.award(
        session,
        badge,
        learner,
        source="manual",
        actor=ADMIN,
        issued_at=datetime.now(UTC) - timedelta(days=2),
    )
    assert svc.held_achievement_ids(session, learner) == set()


def test_listeners_run_inside_the_transaction(session: Session, tenant: Platform, learner):
    seen: list[tuple[int, str, str]] = []

    def listener(s: Session, award: Award, event_type: str) -> None:
        assert s is session
        seen.append((award.id, award.status, event_type))

    svc.award_listeners.append(listener)
    try:
        award, _ = svc.award(
            session, make_achievement(session, tenant), learner, source="manual", actor=ADMIN
        )
        svc.suspend(session, award, reason="r", actor=ADMIN)
        svc.reinstate(session, award, actor=ADMIN)
        svc.revoke(session, award, reason="r", actor=ADMIN)
    finally:
        svc.award_listeners.remove(listener)
    assert seen == [
        (award.id, "active", "award.created"),
        (award.id, "suspended", "award.suspended"),
        (award.id, "active", "award.reinstated"),
        (award.id, "revoked", "award.revoked"),
    ]


def test_a_failing_listener_aborts_the_award(database: Database):
    with database.session() as s:
        platform = make_platform(s)
        user = make_user(s, platform, "u")
        badge = make_achievement(s, platform)
        ids = (badge.id, user.id)

    def boom(_s: Session, _a: Award, _e: str) -> None:
        raise RuntimeError("outbox down")

    svc.award_listeners.append(boom)
    try:
        with pytest.raises(RuntimeError), database.session() as s:
            svc.award(
                s,
                s.get_one(type(badge), ids[0]),
                s.get_one(User, ids[1]),
                source="manual",
                actor=ADMIN,
            )
    finally:
        svc.award_listeners.remove(boom)
    with database.session() as s:
        assert _count(s, Award) == 0
        assert s.scalar(select(func.count()).where(AuditEvent.action == "award.created")) == 0


def test_learner_awards_keep_through_email_change(session: Session, tenant, learner):
    badge = make_achievement(session, tenant)
    award, _ = svc.award(session, badge, learner, source="manual", actor=ADMIN)
    session.commit()
    learner.email = "ada.lovelace@new.example.edu"
    session.commit()
    assert svc.learner_awards(session, learner) == [award]
