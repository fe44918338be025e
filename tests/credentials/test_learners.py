"""Finding learners in a tenant; awards survive an email change."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from lti_tool.credentials import LearnerAmbiguous, learners
from lti_tool.credentials import awards as svc
from lti_tool.models import Platform, User

from .conftest import ADMIN, make_achievement, make_platform, make_user


def test_find_by_id_email_and_hr_id(session: Session, tenant: Platform, learner: User):
    other = make_platform(session, 2)
    twin = make_user(session, other, "learner-1", email="ada@example.edu")
    learner.person_sourcedid = "SIS-42"
    learner.hr_ids = {"employee_id": "E-7", "workday_id": "W-9"}
    session.flush()

    assert learners.find_learner(session, tenant, user_id=learner.id) is learner
    assert learners.find_learner(session, tenant, user_id=twin.id) is None  # other tenant
    assert learners.find_learner(session, tenant, email="  ADA@example.edu ") is learner
    assert learners.find_learner(session, other, email="ada@example.edu") is twin
    assert learners.find_learner(session, tenant, hr_id="SIS-42") is learner
    assert learners.find_learner(session, tenant, hr_id="E-7", hr_id_kind="employee_id") is learner
    assert learners.find_learner(session, tenant, hr_id="W-9") is learner  # any kind
    assert learners.find_learner(session, tenant, hr_id="W-9", hr_id_kind="employee_id") is None
    assert learners.find_learner(session, other, hr_id="SIS-42") is None
    assert learners.by_sub(session, tenant, "learner-1") is learner
    with pytest.raises(ValueError, match="give user_id"):
        learners.find_learner(session, tenant)


def test_shared_email_is_ambiguous(session: Session, tenant: Platform, learner: User):
    make_user(session, tenant, "learner-2", email="Ada@Example.edu")
    with pytest.raises(LearnerAmbiguous, match="2 learners share"):
        learners.by_email(session, tenant, "ada@example.edu")


def test_email_change_keeps_awards(session: Session, tenant: Platform, learner: User):
    badge = make_achievement(session, tenant)
    award, _ = svc.award(session, badge, learner, source="manual", actor=ADMIN)
    session.commit()
    learner.email = "ada.lovelace@alumni.example.edu"
    session.commit()
    assert learners.by_email(session, tenant, "ada@example.edu") is None
    found = learners.by_email(session, tenant, "ada.lovelace@alumni.example.edu")
    assert found is learner
    assert svc.learner_awards(session, found) == [award]
    assert svc.award(session, badge, found, source="manual", actor=ADMIN) == (award, False)
