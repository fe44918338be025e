"""Re-issue: when an achievement's displayed fields change, the credentials of its active and
suspended awards are signed again (same URL and status entry) and `award.updated` goes to
the award listeners (the sync outbox turns it into `credential.updated`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from lti_tool.credentials import awards as svc
from lti_tool.credentials import issuance
from lti_tool.credentials.achievements import update_achievement
from lti_tool.db import Database
from lti_tool.models import Award
from lti_tool.openbadges import dataintegrity as DI
from lti_tool.openbadges.schema import validate_achievement_credential
from tests.credentials.conftest import ADMIN, make_user

from .conftest import award_one, stored


def version(database: Database, award_id: int) -> int:
    with database.read_session() as s:
        return s.get_one(Award, award_id).version


@pytest.fixture
def events() -> Iterator[list[tuple[int, str, int]]]:
    seen: list[tuple[int, str, int]] = []

    def record(session: Any, award: Award, event_type: str) -> None:
        seen.append((award.id, event_type, award.version))

    svc.award_listeners.append(record)
    yield seen
    svc.award_listeners.remove(record)


def test_displayed_change_reissues_active_and_suspended_only(
    client: FlaskClient,
    database: Database,
    issuer: issuance.CredentialIssuer,
    events: list[tuple[int, str, int]],
) -> None:
    first = award_one(database)
    with database.session() as s:
        award = s.get_one(Award, first.award_id)
        achievement, platform = award.achievement, award.learner.platform
        others = {}
        for sub, action in (("suspended-1", svc.suspend), ("revoked-1", svc.revoke)):
            learner = make_user(s, platform, sub, email=f"{sub}@example.edu")
            other, _ = svc.award(s, achievement, learner, source="manual", actor=ADMIN)
            action(s, other, reason="checking", actor=ADMIN)
            others[sub] = other.id
    before = {k: stored(database, v) for k, v in others.items()}
    version_before = version(database, first.award_id)
    events.clear()

    with database.session() as s:
        achievement = s.get_one(Award, first.award_id).achievement
        update_achievement(s, achievement, {"name": "Python foundations"}, actor=ADMIN)

    after = stored(database, first.award_id)
    assert after.public_id == first.public_id
    assert after.credential["id"] == first.credential["id"]
    assert after.credential["credentialStatus"] == first.credential["credentialStatus"]
    assert after.credential["credentialSubject"]["achievement"]["name"] == "Python foundations"
    assert after.credential["proof"] != first.credential["proof"]
    did_document = client.get("/.well-known/did.json").get_json()
    assert DI.verify(after.credential, resolver=lambda did: did_document).verified
    assert validate_achievement_credential(after.credential).valid
    answer = client.post("/verify", data=after.vc_jwt, content_type="application/jwt").get_json()
    assert answer["verified"] is True, answer
    assert answer["checks"][0]["check"] == "vc-jwt"
    html = client.get(f"/credentials/{first.public_id}").get_data(as_text=True)
    assert "Python foundations" in html

    suspended = stored(database, others["suspended-1"])
    assert suspended.credential["credentialSubject"]["achievement"]["name"] == (
        "Python foundations"
    )
    revoked = stored(database, others["revoked-1"])
    assert revoked.credential == before["revoked-1"].credential  # left as it was

    updated = [e for e in events if e[1] == issuance.AWARD_UPDATED]
    assert sorted(e[0] for e in updated) == sorted([first.award_id, others["suspended-1"]])
    assert version(database, first.award_id) == version_before + 1
    assert next(e[2] for e in updated if e[0] == first.award_id) == version_before + 1


def test_change_the_credential_does_not_show_reissues_nothing(
    database: Database, issuer: issuance.CredentialIssuer, events: list[tuple[int, str, int]]
) -> None:
    first = award_one(database)
    events.clear()
    with database.session() as s:
        achievement = s.get_one(Award, first.award_id).achievement
        update_achievement(s, achievement, {"evidence_required": True}, actor=ADMIN)
    assert stored(database, first.award_id).credential == first.credential
    assert events == []
