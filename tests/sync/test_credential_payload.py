"""A webhook delivery carries the signed OB 3.0 credential stored at issuance, its public
verification URL and the learner's identifiers; the receiver can verify the credential."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import update

from connectors.base import EventType
from lti_tool.credentials import issuance
from lti_tool.models import IssuedCredential, User
from lti_tool.models.sync import DELIVERED
from lti_tool.sync.engine import Engine

from .conftest import Receiver, World, drain


def test_a_webhook_delivery_carries_the_stored_credential_and_identifiers(
    make_world: Callable[[int], World],
    engine: Engine,
    receiver: Receiver,
    issuer: issuance.CredentialIssuer,
) -> None:
    world = make_world(1)
    with world.database.session() as session:
        session.execute(
            update(User)
            .where(User.id == world.learner_ids[0])
            .values(hr_ids={"employee_id": "E-1042"}, person_sourcedid="sis-77")
        )
    world.connect(receiver.url, identity_mapping="hr_id:employee_id")
    (award_id,) = world.award(1, revoke=True)
    drain(engine, world)
    assert world.count(DELIVERED) == 2

    with world.database.read_session() as session:
        issued = issuance.credential_of_award(session, award_id)
        assert issued is not None
        stored, public_id = issued.credential, issued.public_id
        report = issuance.Verifier(issuer).verify(session, issued.credential)
    checks = {check.check: check.passed for check in report.checks}
    assert checks["proof"] and checks["schema"]  # a valid signed OB 3.0 credential
    assert checks["status"] is False  # ... and it is revoked now

    awarded, revoked = receiver.bodies
    assert (awarded["type"], revoked["type"]) == (EventType.AWARDED, EventType.REVOKED)
    for body in (awarded, revoked):
        data = body["data"]
        # The very document stored at issuance (not re-signed per delivery).
        assert data["credential"] == stored
        assert data["credential"]["proof"] == stored["proof"]
        assert data["verification_url"] == f"{world.settings.public_url}/credentials/{public_id}"
        assert data["verification_url"] == stored["id"]
        learner = data["learner"]
        assert learner["sub"] == "learner-0"
        assert learner["platform_issuer"].startswith("https://")
        assert learner["hr_ids"] == {"employee_id": "E-1042", "person_sourcedid": "sis-77"}
        assert "email" not in learner  # share_email is off by default
    assert revoked["data"]["status"] == "revoked"


def test_an_award_without_a_stored_credential_is_still_delivered(
    make_world: Callable[[int], World], engine: Engine, receiver: Receiver
) -> None:
    """Awards made before issuance was set up: no credential, the achievement's URL."""
    world = make_world(1)
    world.connect(receiver.url)
    (award_id,) = world.award(1)
    with world.database.session() as session:  # made before credentials were issued
        session.query(IssuedCredential).filter_by(award_id=award_id).delete()
    drain(engine, world)
    (body,) = receiver.bodies
    assert body["data"]["credential"] is None
    assert body["data"]["verification_url"] == (
        f"{world.settings.public_url}/achievements/{world.achievement_id}"
    )
