"""The audit trail: one event per change, and events cannot be changed or deleted."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from lti_tool.credentials import awards as svc
from lti_tool.credentials.achievements import archive_achievement, update_achievement
from lti_tool.credentials.audit import ActorRef, actor_ref, record
from lti_tool.db import Database
from lti_tool.models import AuditEvent, Platform, User
from lti_tool.models.audit import AuditEventImmutable

from .conftest import ADMIN, make_achievement, make_platform, make_user


def test_every_change_writes_one_event(session: Session, tenant: Platform, learner: User):
    badge = make_achievement(session, tenant)
    update_achievement(session, badge, {"description": "New words."}, actor=ADMIN)
    update_achievement(session, badge, {"description": "New words."}, actor=ADMIN)  # no change
    award, _ = svc.award(session, badge, learner, source="manual", actor=ADMIN)
    svc.award(session, badge, learner, source="manual", actor=ADMIN)  # idempotent: no event
    svc.suspend(session, award, reason="check", actor=ADMIN)
    svc.reinstate(session, award, actor=ADMIN)
    svc.revoke(session, award, reason="fraud", actor=ADMIN)
    archive_achievement(session, badge, actor=ADMIN, reason="retired")
    session.commit()
    rows = session.execute(
        select(AuditEvent.action, AuditEvent.subject_type, AuditEvent.platform_id).order_by(
            AuditEvent.id
        )
    ).all()
    assert rows == [
        ("achievement.created", "achievement", tenant.id),
        ("achievement.updated", "achievement", tenant.id),
        ("award.created", "award", tenant.id),
        ("award.suspended", "award", tenant.id),
        ("award.reinstated", "award", tenant.id),
        ("award.revoked", "award", tenant.id),
        ("achievement.archived", "achievement", tenant.id),
    ]
    changed = session.scalars(
        select(AuditEvent.data).where(AuditEvent.action == "achievement.updated")
    ).one()
    assert changed == {"changed": ["description"]}


def test_event_rolls_back_with_the_change(database: Database):
    with database.session() as s:
        platform = make_platform(s)
        user = make_user(s, platform, "u")
        badge = make_achievement(s, platform)
        ids = (badge.id, user.id)
    s = database.sessionmaker()
    svc.award(
        s, s.get_one(type(badge), ids[0]), s.get_one(User, ids[1]), source="manual", actor=ADMIN
    )
    s.rollback()
    s.close()
    with database.session() as s:
        assert s.scalars(select(AuditEvent.action)).all() == ["achievement.created"]


def test_orm_refuses_update_and_delete(session: Session, tenant: Platform):
    event = record(
        session,
        platform_id=tenant.id,
        actor="system",
        action="x.y",
        subject_type="award",
        subject_id=1,
    )
    session.flush()
    event.reason = "rewritten"
    with pytest.raises(AuditEventImmutable, match="append-only"):
        session.flush()
    session.rollback()
    event = record(
        session,
        platform_id=make_platform(session, 3).id,
        actor="system",
        action="x.y",
        subject_type="award",
        subject_id=1,
    )
    session.flush()
    session.delete(event)
    with pytest.raises(AuditEventImmutable):
        session.flush()


def test_database_refuses_update(database: Database):
    """Even a bulk UPDATE or raw SQL bypassing the ORM is stopped by the trigger."""
    with database.session() as s:
        platform = make_platform(s)
        record(
            s,
            platform_id=platform.id,
            actor="system",
            action="x.y",
            subject_type="award",
            subject_id=1,
        )
    with pytest.raises(DBAPIError, match="append-only"), database.session() as s:
        s.execute(update(AuditEvent).values(reason="rewritten"))
    with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET action = 'award.deleted'"))
    with database.session() as s:
        assert s.scalars(select(AuditEvent.action)).all() == ["x.y"]
        # Removing the tenant removes its trail (ON DELETE CASCADE); that is allowed.
        s.execute(delete(Platform))
    with database.session() as s:
        assert s.scalars(select(AuditEvent)).all() == []


def test_actor_labels(session: Session, tenant: Platform, learner: User):
    assert actor_ref(learner) == ActorRef(f"user:{learner.id}", learner.id)
    assert actor_ref("rule:7") == ActorRef("rule:7")
    assert actor_ref(ActorRef("api-client:2")).label == "api-client:2"
    with pytest.raises(ValueError, match="actor label"):
        actor_ref("")


def test_the_service_layer_has_no_update_or_delete_path():
    import lti_tool.credentials.audit as audit_module

    public = {
        n for n in dir(audit_module) if not n.startswith("_") and callable(getattr(audit_module, n))
    }
    assert not {n for n in public if "update" in n or "delete" in n or "remove" in n}
