"""Awarding many learners at once (`award_many`, the roster path) does what `award` does for
each: one award, one audit event, one signed credential, one outbox row per learner; awards
already held stay as they are; pathways complete; checks fail before anything is written.
Also the roster's batched provisioning (`enroll_members`). SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.credentials import AchievementArchived, EvidenceRequired, TenantMismatch, issuance
from lti_tool.credentials import awards as svc
from lti_tool.credentials.achievements import archive_achievement
from lti_tool.credentials.pathways import define_pathway
from lti_tool.db import Database
from lti_tool.lti.nrps import RosterMember
from lti_tool.lti.roles import LEARNER
from lti_tool.lti.roster_sync import enroll_members
from lti_tool.models import (
    AuditEvent,
    Award,
    Context,
    Enrollment,
    IssuedCredential,
    Platform,
    StatusListAllocation,
    User,
)

from .conftest import ADMIN, make_achievement, make_platform, make_user

LEARNER_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
TEACHER_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


def count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def people(session: Session, platform: Platform, n: int) -> list[User]:
    return [make_user(session, platform, f"u-{i:03d}", email=f"u{i}@example.edu") for i in range(n)]


def test_award_many_matches_award_per_learner(session: Session, tenant: Platform) -> None:
    badge = make_achievement(session, tenant, validity_days=30)
    learners = people(session, tenant, 7)
    held, _ = svc.award(session, badge, learners[2], source="manual", actor=ADMIN)
    results = svc.award_many(session, badge, [*learners, learners[0]], source="roster", actor=ADMIN)
    assert [award.user_id for award, _ in results] == [u.id for u in learners]  # order, no dupes
    assert [created for _, created in results] == [True, True, False, True, True, True, True]
    assert results[2][0].id == held.id and results[2][0].source == "manual"
    new = [award for award, created in results if created]
    assert all(a.status == "active" and a.source == "roster" for a in new)
    assert all(a.expires_at is not None and a.issued_at < a.expires_at for a in new)
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "award.created").order_by(AuditEvent.id)
    ).all()
    assert len(events) == 7 and {e.subject_id for e in events} == {a.id for a, _ in results}
    mine = next(e for e in events if e.subject_id == new[0].id)
    assert mine.actor == ADMIN and mine.data["source"] == "roster"
    assert mine.data["user_id"] == learners[0].id and mine.data["expires_at"]
    # Awarding again creates nothing.
    again = svc.award_many(session, badge, learners, source="roster", actor=ADMIN)
    assert not any(created for _, created in again)
    assert (
        count(session, Award) == 7
        and count(session, AuditEvent, AuditEvent.action == "award.created") == 7
    )


def test_award_many_refuses_before_writing(session: Session, tenant: Platform) -> None:
    learners = people(session, tenant, 3)
    needs_evidence = make_achievement(session, tenant, name="Portfolio", evidence_required=True)
    with pytest.raises(EvidenceRequired):
        svc.award_many(session, needs_evidence, learners, source="roster", actor=ADMIN)
    other = make_platform(session, 2)
    stranger = make_user(session, other, "stranger")
    badge = make_achievement(session, tenant)
    with pytest.raises(TenantMismatch):
        svc.award_many(session, badge, [*learners, stranger], source="roster", actor=ADMIN)
    archived = make_achievement(session, tenant, name="Old")
    svc.award(session, archived, learners[0], source="manual", actor=ADMIN)
    archive_achievement(session, archived, actor=ADMIN)
    with pytest.raises(AchievementArchived):
        svc.award_many(session, archived, learners, source="roster", actor=ADMIN)
    # Only holders asked for: nothing new to make, so no refusal (as `award`).
    assert (
        svc.award_many(session, archived, learners[:1], source="roster", actor=ADMIN)[0][1] is False
    )
    assert count(session, Award) == 1
    assert svc.award_many(session, badge, [], source="roster", actor=ADMIN) == []


def test_award_many_completes_pathways(session: Session, tenant: Platform) -> None:
    first = make_achievement(session, tenant, name="First")
    second = make_achievement(session, tenant, name="Second")
    pathway = define_pathway(
        session,
        tenant,
        {
            "name": "Both",
            "requirements": {
                "kind": "all_of",
                "children": [
                    {"kind": "achievement", "achievement_id": first.id},
                    {"kind": "achievement", "achievement_id": second.id},
                ],
            },
        },
        actor=ADMIN,
    )
    learners = people(session, tenant, 4)
    svc.award_many(session, first, learners[:2], source="manual", actor=ADMIN)
    svc.award_many(session, second, learners, source="roster", actor=ADMIN)
    crowned = session.scalars(
        select(Award.user_id).where(Award.achievement_id == pathway.achievement_id)
    ).all()
    assert sorted(crowned) == sorted(u.id for u in learners[:2])


def test_listeners_get_the_batch_or_each_award(session: Session, tenant: Platform) -> None:
    seen: list[tuple[str, int]] = []

    def plain(_s: Session, award: Award, event: str) -> None:
        seen.append(("one", award.user_id))

    class Batched:
        def __call__(self, _s: Session, award: Award, event: str) -> None:
            seen.append(("call", award.user_id))

        def many(self, _s: Session, awards: Any, event: str) -> None:
            seen.append(("many", len(awards)))

    batched = Batched()
    svc.award_listeners.extend([plain, batched])
    try:
        badge = make_achievement(session, tenant)
        learners = people(session, tenant, 3)
        svc.award_many(session, badge, learners, source="roster", actor=ADMIN)
    finally:
        svc.award_listeners.remove(plain)
        svc.award_listeners.remove(batched)
    assert seen == [
        ("one", learners[0].id),
        ("one", learners[1].id),
        ("one", learners[2].id),
        ("many", 3),
    ]


def test_issue_many_signs_every_credential_with_its_own_status_indexes(
    app: Flask, database: Database
) -> None:
    issuer = issuance.installed()
    assert issuer is not None
    with database.session() as s:
        platform = make_platform(s)
        badge = make_achievement(s, platform)
        learners = people(s, platform, 25)
        results = svc.award_many(s, badge, learners, source="roster", actor=ADMIN)
        ids = [award.id for award, _ in results]
    with database.session() as s:
        rows = s.scalars(select(IssuedCredential).where(IssuedCredential.award_id.in_(ids))).all()
        assert len(rows) == 25
        assert len({(r.revocation_list_id, r.revocation_index) for r in rows}) == 25
        assert len({(r.suspension_list_id, r.suspension_index) for r in rows}) == 25
        assert count(s, StatusListAllocation) == 50
        for row in rows[:3]:
            report = issuance.Verifier(issuer).verify(s, row.credential)
            assert report.verified, report.as_json()
        # Issuing again returns the same rows.
        awards = s.scalars(select(Award).where(Award.id.in_(ids)).order_by(Award.id)).all()
        again = issuer.issue_many(s, awards)
        assert sorted(r.public_id for r in again) == sorted(r.public_id for r in rows)


def test_enroll_members_upserts_users_and_enrollments(session: Session, tenant: Platform) -> None:
    context = Context(
        platform_id=tenant.id, deployment_id=tenant.deployments[0].id, context_id="c1"
    )
    session.add(context)
    session.flush()
    known = make_user(session, tenant, "m-1", name="Old Name", email="old@example.edu")

    def member(sub: str, name: str, role: str, status: str = "Active") -> RosterMember:
        return RosterMember(sub, name, "", "", f"{sub}@example.edu", (role,), status)

    members = [
        member("m-1", "New Name", LEARNER_ROLE),
        member("m-2", "Second", LEARNER_ROLE),
        member("m-3", "Teacher", TEACHER_ROLE),
        member("m-4", "Gone", LEARNER_ROLE, status="Inactive"),
        member("m-2", "Second Again", LEARNER_ROLE),  # listed twice: the last entry counts
    ]
    learners = enroll_members(
        session, platform_id=tenant.id, context_id=context.id, members=members
    )
    assert set(learners) == {"m-1", "m-2"} and learners["m-1"] == known.id
    session.expire_all()
    users = {u.sub: u for u in session.scalars(select(User).where(User.platform_id == tenant.id))}
    assert users["m-1"].name == "New Name" and users["m-1"].email == "m-1@example.edu"
    assert users["m-2"].name == "Second Again"
    roles = dict(
        session.execute(
            select(User.sub, Enrollment.role).join(Enrollment, Enrollment.user_id == User.id)
        ).all()
    )
    assert roles == {"m-1": LEARNER, "m-2": LEARNER, "m-3": "instructor", "m-4": LEARNER}
    # Again: nothing new, nothing duplicated.
    enroll_members(session, platform_id=tenant.id, context_id=context.id, members=members)
    assert count(session, User, User.platform_id == tenant.id) == 4
    assert count(session, Enrollment) == 4
    assert enroll_members(session, platform_id=tenant.id, context_id=context.id, members=[]) == {}
