"""VC-JWT, Bitstring Status List, JSON schema validation."""

from __future__ import annotations

import base64
import gzip
import json
import random
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from lti_tool.openbadges import dataintegrity as DI
from lti_tool.openbadges import statuslist as SL
from lti_tool.openbadges import vcjwt
from lti_tool.openbadges.credential import CredentialOptions, StatusEntry, identity_hash
from lti_tool.openbadges.keys import SigningKey
from lti_tool.openbadges.schema import validate_achievement_credential

from .conftest import VALID_FROM, build

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_vcjwt_rs256_round_trip(signing_key: SigningKey) -> None:
    cred = DI.sign(build(signing_key, 1), signing_key)  # DI proof first, then the JWT
    kid = f"{signing_key.controller}#rsa-1"
    token = vcjwt.sign(cred, RSA_KEY, kid)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": kid, "typ": "JWT"}
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == signing_key.controller
    assert claims["jti"] == cred["id"]
    assert claims["nbf"] == int(VALID_FROM.timestamp())
    assert "sub" not in claims and "exp" not in claims
    decoded = vcjwt.verify(token, lambda k, iss: RSA_KEY.public_key())
    assert decoded.credential == cred
    assert DI.verify(decoded.credential).verified


def test_vcjwt_eddsa_sub_exp_and_rejections(signing_key: SigningKey) -> None:
    from datetime import timedelta

    from lti_tool.openbadges.credential import Recipient

    cred = build(
        signing_key,
        2,
        recipient=Recipient(did="did:example:learner", email="a@example.edu"),
        valid_until=VALID_FROM + timedelta(days=3650),
    )
    ed = Ed25519PrivateKey.generate()
    token = vcjwt.sign(cred, ed, "k1")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "did:example:learner"
    assert claims["exp"] == int((VALID_FROM + timedelta(days=3650)).timestamp())
    assert vcjwt.verify(token, lambda k, iss: ed.public_key()).credential == cred
    with pytest.raises(vcjwt.VcJwtError):
        vcjwt.verify(token, lambda k, iss: Ed25519PrivateKey.generate().public_key())
    with pytest.raises(vcjwt.VcJwtError):
        vcjwt.verify(token, lambda k, iss: RSA_KEY.public_key())  # alg/key confusion
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["name"] = "Forged"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(vcjwt.VcJwtError):
        vcjwt.verify(f"{head}.{forged}.{sig}", lambda k, iss: ed.public_key())
    # claims that disagree with the credential are rejected even when correctly signed
    bad = jwt.encode(
        dict(payload, name=cred["name"], jti="urn:uuid:other"),
        ed,
        "EdDSA",
        headers={"kid": "k1", "typ": "JWT"},
    )
    with pytest.raises(vcjwt.VcJwtError, match="jti"):
        vcjwt.verify(bad, lambda k, iss: ed.public_key())
    no_typ = jwt.encode(payload, ed, "EdDSA", headers={"kid": "k1", "typ": "vc+jwt"})
    with pytest.raises(vcjwt.VcJwtError, match="typ"):
        vcjwt.verify(no_typ, lambda k, iss: ed.public_key())


def test_bitstring_msb_first_and_encoding() -> None:
    bits = SL.Bitstring()
    assert len(bits) == 131_072
    bits.set(0)
    bits.set(9)
    raw = bits.to_bytes()
    assert raw[0] == 0x80 and raw[1] == 0x40 and not any(raw[2:])
    encoded = bits.encode()
    assert encoded.startswith("u") and "=" not in encoded
    assert (
        gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
        == raw
    )
    decoded = SL.Bitstring.decode(encoded)
    assert decoded.set_indexes() == [0, 9]
    bits.set(9, False)
    assert bits.set_indexes() == [0]
    with pytest.raises(IndexError):
        bits.get(131_072)
    with pytest.raises(SL.StatusListError):
        SL.Bitstring(1024)
    with pytest.raises(SL.StatusListError):
        SL.Bitstring.decode("u" + base64.urlsafe_b64encode(gzip.compress(b"\0" * 10)).decode())


# No deadline: gzip of 16 KiB per example is slow on a loaded CI machine; speed is measured
# in benchmarks/, not here.
@settings(deadline=None)
@given(st.sets(st.integers(0, 131_071), max_size=50))
def test_bitstring_round_trip(indexes: set[int]) -> None:
    bits = SL.Bitstring()
    for i in indexes:
        bits.set(i)
    assert SL.Bitstring.decode(bits.encode()).set_indexes() == sorted(indexes)


def test_allocate_index_is_pure_and_avoids_used() -> None:
    used = {1, 2, 3}
    a = SL.allocate_index(used, rng=random.Random(7))
    assert a == SL.allocate_index(used, rng=random.Random(7))
    assert a not in used
    small = set(range(131_071))
    assert SL.allocate_index(small, rng=random.Random(1)) == 131_071
    with pytest.raises(SL.StatusListError):
        SL.allocate_index(set(range(131_072)))


def test_status_list_credential_signed_and_entry_checked(signing_key: SigningKey) -> None:
    bits = SL.Bitstring()
    bits.set(5)
    list_doc = SL.status_list_credential(
        list_id="https://example.edu/status/1",
        issuer_id=signing_key.controller,
        purpose="revocation",
        bitstring=bits,
        valid_from=VALID_FROM,
    )
    signed = DI.sign(list_doc, signing_key, proof_as_array=False)
    assert isinstance(signed["proof"], dict)
    assert DI.verify(signed).verified
    revoked = build(signing_key, 5)["credentialStatus"]
    active = build(signing_key, 6)["credentialStatus"]
    assert SL.entry_status(revoked, signed) is True
    assert SL.entry_status(active, signed) is False
    with pytest.raises(SL.StatusListError):
        SL.entry_status(dict(revoked, statusPurpose="suspension"), signed)


def test_schema_accepts_built_and_rejects_broken(signing_key: SigningKey) -> None:
    signed = DI.sign(build(signing_key, 1), signing_key)
    assert validate_achievement_credential(signed).valid
    broken: dict[str, Any] = json.loads(json.dumps(signed))
    broken["validFrom"] = "2025-06-01T12:00:00"  # no timezone
    result = validate_achievement_credential(broken)
    assert not result.valid and any("validFrom" in e for e in result.errors)
    single = dict(signed, proof=signed["proof"][0])  # OB wants an array
    assert not validate_achievement_credential(single).valid
    no_ctx = dict(signed, **{"@context": ["https://www.w3.org/ns/credentials/v2"]})
    assert not validate_achievement_credential(no_ctx).valid


def test_builder_rules(signing_key: SigningKey) -> None:
    doc = build(signing_key, 3)
    assert doc["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ]
    assert {"VerifiableCredential", "OpenBadgeCredential"} <= set(doc["type"])
    ids = doc["credentialSubject"]["identifier"]
    assert [i["identityType"] for i in ids] == ["emailAddress", "ltiUserId", "ltiPlatformId"]
    salt = ids[0]["salt"]
    assert ids[0]["identityHash"] == identity_hash("learner3@example.edu", salt)
    assert ids[0]["identityHash"].startswith("sha256$") and len(ids[0]["identityHash"]) == 71
    assert doc["credentialStatus"]["type"] == "BitstringStatusListEntry"
    assert doc["credentialStatus"]["statusListIndex"] == "3"
    two = (
        StatusEntry("https://e.edu/s/1#1", "revocation", 1, "https://e.edu/s/1"),
        StatusEntry("https://e.edu/s/2#1", "suspension", 1, "https://e.edu/s/2"),
    )
    with pytest.raises(ValueError, match="one credentialStatus"):
        build(signing_key, 3, status=two)
    arr = build(signing_key, 3, status=two, options=CredentialOptions(status_array=True))
    assert len(arr["credentialStatus"]) == 2
    assert DI.verify(DI.sign(arr, signing_key)).verified
