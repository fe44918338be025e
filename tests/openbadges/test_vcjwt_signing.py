"""VC-JWT signing without PyJWT: the same bytes PyJWT would write, verified by PyJWT, by our
verifier and by Node's own crypto (tests/js/verify_jwt.mjs)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from lti_tool.openbadges import dataintegrity as DI
from lti_tool.openbadges import vcjwt
from lti_tool.openbadges.credential import Recipient
from lti_tool.openbadges.keys import SigningKey

from .conftest import VALID_FROM, build

JS_VERIFY_JWT = Path(__file__).resolve().parents[1] / "js" / "verify_jwt.mjs"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED_KEY = Ed25519PrivateKey.generate()
KEYS = {"RS256": RSA_KEY, "EdDSA": ED_KEY}


def credentials(key: SigningKey) -> list[dict[str, Any]]:
    from datetime import timedelta

    plain = build(key, 1)
    with_subject = build(
        key,
        2,
        recipient=Recipient(did="did:example:learner", lti_user_id="u-2"),
        valid_until=VALID_FROM + timedelta(days=365),
    )
    unicode_name = {**build(key, 3), "name": "Zertifikat « Grüße » 🎓"}
    signed = DI.sign(build(key, 4), key)
    return [plain, with_subject, unicode_name, signed]


def public_jwk(alg: str) -> dict[str, Any]:
    if alg == "RS256":
        return json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    return json.loads(OKPAlgorithm.to_jwk(ED_KEY.public_key()))


@pytest.mark.parametrize("alg", ["RS256", "EdDSA"])
def test_same_bytes_as_pyjwt_and_verified_by_it(signing_key: SigningKey, alg: str) -> None:
    private = KEYS[alg]
    for credential in credentials(signing_key):
        token = vcjwt.sign(credential, private, kid="did:example:issuer#key-1")
        payload = {k: v for k, v in credential.items() if k not in ("iss", "sub", "jti", "nbf")}
        payload.update(vcjwt.jwt_claims(credential))
        reference = jwt.encode(
            payload, private, algorithm=alg, headers={"kid": "did:example:issuer#key-1"}
        )
        assert token == reference
        decoded = jwt.decode(
            token, private.public_key(), algorithms=[alg], options={"verify_exp": False}
        )
        assert decoded["jti"] == credential["id"]
        ours = vcjwt.verify(token, lambda kid, iss: private.public_key(), leeway=10**9)
        assert ours.credential == credential
        assert jwt.get_unverified_header(token) == {
            "alg": alg,
            "kid": "did:example:issuer#key-1",
            "typ": "JWT",
        }


def test_node_crypto_verifies_and_rejects(signing_key: SigningKey, tmp_path: Path) -> None:
    lines: list[dict[str, Any]] = []
    for alg, private in KEYS.items():
        for credential in credentials(signing_key):
            lines.append({"token": vcjwt.sign(credential, private, "k#1"), "jwk": public_jwk(alg)})
    good = len(lines)
    head, payload, signature = lines[0]["token"].split(".")
    forged_payload = jwt.utils.base64url_encode(
        json.dumps({**json.loads(jwt.utils.base64url_decode(payload)), "name": "Forged"}).encode()
    ).decode()
    lines.append({"token": f"{head}.{forged_payload}.{signature}", "jwk": public_jwk("RS256")})
    lines.append({"token": lines[good - 1]["token"], "jwk": public_jwk("RS256")})  # wrong key
    proc = subprocess.run(
        ["node", str(JS_VERIFY_JWT)],
        input="".join(json.dumps(line) + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["verified"] for r in results] == [True] * good + [False, False], results
    assert "signature does not verify" in results[good]["errors"]
