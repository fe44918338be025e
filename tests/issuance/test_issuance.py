"""Every award gets a signed OB 3.0 credential; status changes flip status-list bits."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from lti_tool.credentials import issuance, issuerkeys
from lti_tool.db import Database
from lti_tool.models import IssuerKey, StatusList, StatusListAllocation
from lti_tool.openbadges import dataintegrity as DI
from lti_tool.openbadges import statuslist as SL
from lti_tool.openbadges import vcjwt
from lti_tool.openbadges.keys import public_key_from_did_document
from lti_tool.openbadges.schema import validate_achievement_credential
from lti_tool.secretbox import SecretBox
from tests.conftest import SECRET_KEY

from .conftest import award_one, change, stored

DID = "did:web:tool.test"


def did_doc(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/.well-known/did.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.get_json()
    return document


def test_award_gets_a_valid_signed_credential(
    client: FlaskClient, database: Database, issuer: issuance.CredentialIssuer
) -> None:
    issued = award_one(
        database,
        achievement_type="Badge",
        tags=["python"],
        validity_days=365,
        alignments=[
            {
                "target_name": "Programming",
                "target_url": "https://esco.example/skill/programming",
                "target_framework": "ESCO",
                "target_code": "S1.2.3",
            }
        ],
    )
    doc = issued.credential
    assert validate_achievement_credential(doc).valid, validate_achievement_credential(doc).errors
    assert isinstance(doc["proof"], list) and doc["proof"][0]["cryptosuite"] == "eddsa-rdfc-2022"
    assert doc["issuer"]["id"] == DID and doc["issuer"]["name"] == "Example University"
    assert doc["id"] == f"https://tool.test/credentials/{issued.public_id}"
    assert "validUntil" in doc
    status = doc["credentialStatus"]
    assert status["statusPurpose"] == "revocation"
    assert status["statusListCredential"] == "https://tool.test/status/revocation/1"
    kinds = {i["identityType"] for i in doc["credentialSubject"]["identifier"]}
    assert kinds == {"emailAddress", "ltiUserId", "ltiPlatformId"}
    assert "ada@example.edu" not in str(doc)
    alignment = doc["credentialSubject"]["achievement"]["alignment"][0]
    assert alignment["targetFramework"] == "ESCO"

    document = did_doc(client)
    assert document["id"] == DID
    assert DI.verify(doc, resolver=lambda did: document).verified
    # The VC-JWT carries the same credential and verifies against the DID document key.
    token = stored(database, issued.award_id).vc_jwt
    decoded = vcjwt.verify(token, lambda kid, iss: public_key_from_did_document(document, kid))
    assert decoded.credential["id"] == doc["id"] and decoded.header["alg"] == "EdDSA"


def test_result_and_no_email(database: Database, issuer: issuance.CredentialIssuer) -> None:
    from lti_tool.credentials import awards as svc
    from tests.credentials.conftest import ADMIN, make_achievement, make_platform, make_user

    with database.session() as s:
        platform = make_platform(s)
        learner = make_user(s, platform, "no-email")
        achievement = make_achievement(
            s,
            platform,
            result_description={
                "result_type": "Percent",
                "name": "Final score",
                "value_min": 0,
                "value_max": 100,
            },
        )
        award, _ = svc.award(
            s, achievement, learner, source="manual", actor=ADMIN, result={"value": 87.5}
        )
        row = issuance.credential_of_award(s, award.id)
        assert row is not None
        doc = row.credential
    assert validate_achievement_credential(doc).valid, validate_achievement_credential(doc).errors
    assert doc["credentialSubject"]["result"][0]["value"] == "87.5"
    kinds = {i["identityType"] for i in doc["credentialSubject"]["identifier"]}
    assert kinds == {"ltiUserId", "ltiPlatformId"}


def test_tampered_credential_is_refused(
    client: FlaskClient, database: Database, issuer: issuance.CredentialIssuer
) -> None:
    doc = award_one(database).credential
    ok = client.post("/verify", json=doc)
    assert ok.status_code == 200 and ok.get_json()["verified"] is True, ok.get_json()
    forged = copy.deepcopy(doc)
    forged["credentialSubject"]["achievement"]["name"] = "Rocket science"
    answer = client.post("/verify", json=forged).get_json()
    assert answer["verified"] is False
    proof = next(c for c in answer["checks"] if c["check"] == "proof")
    assert proof["result"] == "failed"


def test_revoke_sets_the_bit_and_the_list_verifies(
    client: FlaskClient, database: Database, issuer: issuance.CredentialIssuer
) -> None:
    issued = award_one(database)
    first = client.get("/status/revocation/1")
    assert first.status_code == 200
    assert "max-age" in first.headers["Cache-Control"] and first.headers["ETag"]
    assert client.get("/status/revocation/1", headers={"If-None-Match": first.headers["ETag"]})
    assert (
        client.get(
            "/status/revocation/1", headers={"If-None-Match": first.headers["ETag"]}
        ).status_code
        == 304
    )
    entry = issued.credential["credentialStatus"]
    assert SL.entry_status(entry, first.get_json()) is False

    change(database, issued.award_id, "revoke")
    response = client.get("/status/revocation/1")
    assert response.headers["ETag"] != first.headers["ETag"]
    listed = response.get_json()
    document = did_doc(client)
    assert DI.verify(listed, resolver=lambda did: document).verified
    assert listed["issuer"] == DID
    assert SL.entry_status(entry, listed) is True
    answer = client.post("/verify", json=issued.credential).get_json()
    assert answer["verified"] is False and answer["status"] == "revoked"


def test_suspend_and_reinstate_use_the_suspension_list(
    client: FlaskClient, database: Database, issuer: issuance.CredentialIssuer
) -> None:
    issued = award_one(database)
    row = stored(database, issued.award_id)
    change(database, issued.award_id, "suspend")
    suspension = client.get("/status/suspension/1").get_json()
    bits = SL.Bitstring.decode(suspension["credentialSubject"]["encodedList"])
    assert bits.get(row.suspension_index)
    assert client.post("/verify", json=issued.credential).get_json()["status"] == "suspended"
    change(database, issued.award_id, "reinstate")
    suspension = client.get("/status/suspension/1").get_json()
    assert not SL.Bitstring.decode(suspension["credentialSubject"]["encodedList"]).get(
        row.suspension_index
    )
    assert client.post("/verify", json=issued.credential).get_json()["verified"] is True


def test_indexes_are_random_unique_and_never_reused(
    database: Database, issuer: issuance.CredentialIssuer
) -> None:
    from lti_tool.credentials import awards as svc
    from tests.credentials.conftest import ADMIN, make_achievement, make_platform, make_user

    with database.session() as s:
        platform = make_platform(s)
        achievement = make_achievement(s, platform)
        for i in range(12):
            learner = make_user(s, platform, f"l{i}")
            svc.award(s, achievement, learner, source="manual", actor=ADMIN)
    with database.session() as s:
        rows = s.scalars(select(StatusListAllocation)).all()
        assert len(rows) == 24
        revocation = s.scalars(select(StatusList).where(StatusList.purpose == "revocation")).one()
        indexes = sorted(r.index for r in rows if r.status_list_id == revocation.id)
        assert len(set(indexes)) == 12 and indexes != list(range(12))
        assert revocation.allocated == 12


def test_rotation_keeps_old_keys_published(
    client: FlaskClient, database: Database, issuer: issuance.CredentialIssuer
) -> None:
    old = award_one(database, "before").credential
    with database.session() as s:
        issuerkeys.rotate(s, SecretBox(SECRET_KEY), DID)
    document = did_doc(client)
    assert len(document["assertionMethod"]) == 2
    assert all(m["type"] == "Multikey" for m in document["verificationMethod"])
    with database.session() as s:
        encrypted = s.scalars(select(IssuerKey.private_key_encrypted)).all()
    assert all(not e.startswith(b"z") for e in encrypted)  # stored encrypted
    assert DI.verify(old, resolver=lambda did: document).verified
    answer = client.post("/verify", json=old).get_json()
    assert answer["verified"] is True, answer


def test_cli_rotate_issuer(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app: Flask
) -> None:
    from lti_tool.cli import main

    env = {
        "MICROCRED_DATABASE_URL": database.url,
        "MICROCRED_SECRET_KEY": SECRET_KEY,
        "MICROCRED_PUBLIC_URL": "https://tool.test",
        "MICROCRED_INSTANCE_PATH": str(tmp_path),
    }
    result = CliRunner().invoke(main, ["keys", "rotate-issuer"], env=env)
    assert result.exit_code == 0, result.output
    assert DID in result.output
    result = CliRunner().invoke(main, ["keys", "rotate-issuer"], env=env)
    assert "2 key(s) published" in result.output
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(IssuerKey)) == 2


def test_did_web_of_a_url_with_port_and_path() -> None:
    assert issuerkeys.issuer_identity("https://a.example:8443/mc") == "did:web:a.example%3A8443:mc"
    assert issuerkeys.issuer_identity("http://localhost:8000") == issuerkeys.DID_KEY_ISSUER
