"""Expiry: the verification page and POST /verify say `expired` once validUntil has passed,
before and after the periodic housekeeping marks the award expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from lti_tool.credentials import awards as svc
from lti_tool.credentials import issuance
from lti_tool.db import Database
from lti_tool.housekeeping import Housekeeper, expire_awards
from lti_tool.models import AuditEvent, Award
from lti_tool.models.awards import STATUS_ACTIVE, STATUS_EXPIRED
from tests.credentials.conftest import ADMIN, make_achievement, make_platform, make_user


def lapsed_award(database: Database) -> tuple[int, str]:
    """An award valid for one day from 2020-01-01 (its validity ended long ago)."""
    with database.session() as s:
        platform = make_platform(s)
        learner = make_user(s, platform, "lapsed", name="Lapsed Learner")
        achievement = make_achievement(s, platform, validity_days=1)
        award, _ = svc.award(
            s,
            achievement,
            learner,
            source="manual",
            actor=ADMIN,
            issued_at=datetime(2020, 1, 1, tzinfo=UTC),
        )
        row = issuance.credential_of_award(s, award.id)
        assert row is not None
        assert row.credential["validUntil"] == "2020-01-02T00:00:00Z"
        return award.id, row.public_id


def shown(client: FlaskClient, public_id: str) -> tuple[str, dict[str, object]]:
    html = client.get(f"/credentials/{public_id}").get_data(as_text=True)
    document = client.get(f"/credentials/{public_id}.json").get_json()
    return html, client.post("/verify", json=document).get_json()


def test_expiry_is_live_then_recorded_by_housekeeping(
    client: FlaskClient, database: Database, issuer: issuance.CredentialIssuer
) -> None:
    award_id, public_id = lapsed_award(database)
    html, answer = shown(client, public_id)
    assert 'data-status="expired"' in html  # live: validUntil passed, job not run yet
    assert answer["status"] == "expired" and answer["verified"] is False
    with database.read_session() as s:
        assert s.get_one(Award, award_id).status == STATUS_ACTIVE

    with database.session() as s:  # what a login request does every few minutes
        assert Housekeeper(interval=3600).maybe_purge(s) == 0

    with database.read_session() as s:
        award = s.get_one(Award, award_id)
        assert award.status == STATUS_EXPIRED
        actions = s.scalars(
            select(AuditEvent.action).where(AuditEvent.subject_id == award_id)
        ).all()
        assert svc.AWARD_EXPIRED in actions
    html, answer = shown(client, public_id)
    assert 'data-status="expired"' in html and ">Expired<" in html
    assert answer["status"] == "expired"


def test_live_status_turns_at_valid_until(
    database: Database, issuer: issuance.CredentialIssuer
) -> None:
    award_id, _ = lapsed_award(database)
    until = datetime(2020, 1, 2, tzinfo=UTC)
    with database.read_session() as s:
        row = issuance.credential_of_award(s, award_id)
        assert row is not None
        assert issuance.live_status(row, now=until - timedelta(seconds=1)) == issuance.VALID
        assert issuance.live_status(row, now=until) == issuance.EXPIRED


def test_a_failing_listener_does_not_fail_the_host_request(
    database: Database, issuer: issuance.CredentialIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    award_id, _ = lapsed_award(database)

    def broken(session: object, award: object, event: str) -> None:
        raise RuntimeError("listener down")

    monkeypatch.setattr(svc, "award_listeners", [broken])
    with database.session() as s:
        assert expire_awards(s) == 0
        assert s.get_one(Award, award_id).status == STATUS_ACTIVE  # rolled back to savepoint
    monkeypatch.setattr(svc, "award_listeners", [])
    with database.session() as s:
        assert expire_awards(s) == 1
    with database.read_session() as s:
        assert s.get_one(Award, award_id).status == STATUS_EXPIRED
