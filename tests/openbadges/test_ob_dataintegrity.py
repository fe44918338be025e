"""eddsa-rdfc-2022: W3C test vector, round trips, tamper detection, did:web, schema."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lti_tool.openbadges import dataintegrity as DI
from lti_tool.openbadges.canonical import canonicalize_full
from lti_tool.openbadges.contexts import make_document_loader
from lti_tool.openbadges.keys import (
    SigningKey,
    did_web_document,
    private_key_from_multibase,
    public_key_multibase,
)
from lti_tool.openbadges.schema import validate_achievement_credential

from .conftest import build

VECTORS = Path(__file__).parent / "vectors"


def _vector(name: str) -> str:
    return (VECTORS / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def vector_loader() -> Any:
    examples = json.loads(_vector("credentials-examples-v2.jsonld"))
    return make_document_loader({"https://www.w3.org/ns/credentials/examples/v2": examples})


def test_w3c_vector_keys() -> None:
    pair = json.loads(_vector("keyPair.json"))
    private = private_key_from_multibase(pair["privateKeyMultibase"])
    assert public_key_multibase(private.public_key()) == pair["publicKeyMultibase"]


def test_w3c_vector_canonical_forms_and_signature(vector_loader: Any) -> None:
    unsigned = json.loads(_vector("unsigned.json"))
    config = json.loads(_vector("proofConfigDataInt.json"))
    assert canonicalize_full(config, vector_loader) == _vector("proofCanonDataInt.txt")
    assert canonicalize_full(unsigned, vector_loader) == _vector("canonDocDataInt.txt")
    combined = (
        hashlib.sha256(_vector("proofCanonDataInt.txt").encode()).digest()
        + hashlib.sha256(_vector("canonDocDataInt.txt").encode()).digest()
    )
    assert combined.hex() == _vector("combinedHashDataInt.txt").strip()
    pair = json.loads(_vector("keyPair.json"))
    key = SigningKey.for_did_key(private_key_from_multibase(pair["privateKeyMultibase"]))
    signed = DI.sign(
        unsigned,
        key,
        created=config["created"],
        proof_as_array=False,
        loader=vector_loader,
    )
    assert signed == json.loads(_vector("signedDataInt.json"))
    assert signed["proof"]["proofValue"] == _vector("sigBTC58DataInt.txt").strip()


def test_w3c_vector_verifies(vector_loader: Any) -> None:
    signed = json.loads(_vector("signedDataInt.json"))
    # The vector's issuer is an https URL that does not control the did:key: only the
    # cryptographic check applies here.
    result = DI.verify(signed, loader=vector_loader, require_issuer_controller=False)
    assert result.verified, result.errors
    signed["credentialSubject"]["alumniOf"] = "Another School"
    assert not DI.verify(signed, loader=vector_loader, require_issuer_controller=False)


def test_round_trip_proof_is_array_and_schema_valid(signing_key: SigningKey) -> None:
    doc = build(signing_key, 7)
    signed = DI.sign(doc, signing_key, created="2025-06-01T12:00:00Z")
    assert isinstance(signed["proof"], list) and len(signed["proof"]) == 1
    proof = signed["proof"][0]
    assert proof["type"] == "DataIntegrityProof"
    assert proof["cryptosuite"] == "eddsa-rdfc-2022"
    assert proof["proofPurpose"] == "assertionMethod"
    assert proof["proofValue"].startswith("z")
    assert proof["verificationMethod"] == signing_key.verification_method
    result = DI.verify(signed)
    assert result.verified, result.errors
    assert result.controller == signing_key.controller
    schema = validate_achievement_credential(signed)
    assert schema.valid, schema.errors
    assert "proof" not in doc  # input untouched


def test_fast_and_full_paths_sign_identically(signing_key: SigningKey) -> None:
    from lti_tool.openbadges.contexts import offline_document_loader

    doc = build(signing_key, 3)
    fast = DI.sign(doc, signing_key, created="2025-06-01T12:00:00Z")
    full = DI.sign(doc, signing_key, created="2025-06-01T12:00:00Z", loader=offline_document_loader)
    assert fast == full  # Ed25519 is deterministic: same bytes signed


def _tamper(signed: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(signed)
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("name",), "Python 102"),
        (("issuer", "name"), "Evil University"),
        (("credentialSubject", "achievement", "name"), "Rocket Science"),
        (("credentialSubject", "identifier", 0, "identityHash"), "sha256$00"),
        (("validFrom",), "2025-06-02T12:00:00Z"),
        (("proof", 0, "created"), "2025-06-02T12:00:00Z"),
    ],
)
def test_tampering_is_detected(signing_key: SigningKey, path: tuple[Any, ...], value: Any) -> None:
    signed = DI.sign(build(signing_key, 1), signing_key, created="2025-06-01T12:00:00Z")
    assert DI.verify(signed).verified
    result = DI.verify(_tamper(signed, path, value))
    assert not result.verified
    assert "signature does not verify" in " ".join(result.errors)


def test_changed_proof_value_is_rejected(signing_key: SigningKey) -> None:
    signed = DI.sign(build(signing_key, 1), signing_key)
    value = signed["proof"][0]["proofValue"]
    flipped = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    assert not DI.verify(_tamper(signed, ("proof", 0, "proofValue"), flipped)).verified
    assert not DI.verify(_tamper(signed, ("proof", 0, "proofValue"), "u" + value[1:])).verified


def test_changed_issuer_is_rejected(signing_key: SigningKey) -> None:
    signed = DI.sign(build(signing_key, 1), signing_key)
    other = SigningKey.generate_did_key()
    result = DI.verify(_tamper(signed, ("issuer", "id"), other.controller))
    assert not result.verified
    assert "controller" in " ".join(result.errors)


def test_issuer_must_control_key(signing_key: SigningKey) -> None:
    other = SigningKey.generate_did_key()
    signed = DI.sign(build(signing_key, 1), other)  # issuer is signing_key's DID
    result = DI.verify(signed)
    assert not result.verified
    assert "not the controller" in " ".join(result.errors)


def test_unsupported_proofs_rejected(signing_key: SigningKey) -> None:
    signed = DI.sign(build(signing_key, 1), signing_key)
    assert not DI.verify(_tamper(signed, ("proof", 0, "cryptosuite"), "eddsa-jcs-2022")).verified
    assert not DI.verify(_tamper(signed, ("proof", 0, "proofPurpose"), "authentication")).verified
    unsigned = {k: v for k, v in signed.items() if k != "proof"}
    assert DI.verify(unsigned).errors == ("no proof",)


def test_did_web_with_injected_resolver() -> None:
    old = Ed25519PrivateKey.generate()
    current = Ed25519PrivateKey.generate()
    url = "https://badges.example.edu/tenants/acme"
    document = did_web_document(url, [current.public_key(), old.public_key()])
    did = document["id"]
    assert did == "did:web:badges.example.edu:tenants:acme"
    old_key = SigningKey.for_did_web(old, did)
    new_key = SigningKey.for_did_web(current, did)
    resolved: list[str] = []

    def resolver(requested: str) -> dict[str, Any]:
        resolved.append(requested)
        return document

    for key in (old_key, new_key):  # retired keys stay listed, so old credentials verify
        signed = DI.sign(build(key, 2), key)
        result = DI.verify(signed, resolver=resolver)
        assert result.verified, result.errors
    assert resolved == [did, did]
    # Without a resolver, or with a key the document does not list, verification fails.
    signed = DI.sign(build(new_key, 2), new_key)
    assert not DI.verify(signed).verified
    stranger = SigningKey.for_did_web(Ed25519PrivateKey.generate(), did)
    assert not DI.verify(DI.sign(build(stranger, 2), stranger), resolver=resolver).verified


def test_refuses_to_sign_twice(signing_key: SigningKey) -> None:
    signed = DI.sign(build(signing_key, 1), signing_key)
    with pytest.raises(DI.ProofError):
        DI.sign(signed, signing_key)
