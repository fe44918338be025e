"""Digital Bazaar's verifier (tests/js/verify.mjs) and ours must agree on every credential.

Needs ``npm ci`` in tests/js (registry packages only). Skipped, with a message, when
``tests/js/node_modules`` is absent.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lti_tool.openbadges import dataintegrity as DI
from lti_tool.openbadges import statuslist as SL
from lti_tool.openbadges.canonical import Canonicalizer
from lti_tool.openbadges.contexts import offline_document_loader
from lti_tool.openbadges.credential import CredentialOptions
from lti_tool.openbadges.keys import SigningKey, did_web_document
from lti_tool.openbadges.schema import validate_achievement_credential

from .conftest import VALID_FROM, any_text, build, credentials

JS_DIR = Path(__file__).resolve().parents[1] / "js"

pytestmark = pytest.mark.skipif(
    not (JS_DIR / "node_modules").is_dir() or shutil.which("node") is None,
    reason="independent JS verifier not installed: run `npm ci` in tests/js (needs node >= 20)",
)


def js_verify(docs: list[dict[str, Any]], tmp_path: Path, did_docs: Any = None) -> list[Any]:
    # After every generated validFrom (VALID_FROM + <= 10**7 s), before every validUntil.
    args = ["node", str(JS_DIR / "verify.mjs"), "--now", "2025-10-01T00:00:00Z"]
    if did_docs:
        did_file = tmp_path / "dids.json"
        did_file.write_text(json.dumps(did_docs))
        args += ["--did-docs", str(did_file)]
    proc = subprocess.run(
        args,
        input="".join(json.dumps(d) + "\n" for d in docs),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["index"] for r in results] == list(range(len(docs)))
    return results


def tampered(signed: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for mutate in (
        lambda d: d.__setitem__("name", "Forged"),
        lambda d: d["issuer"].__setitem__("name", "Evil University"),
        lambda d: d["credentialSubject"]["identifier"][0].__setitem__("identityHash", "sha256$0"),
        lambda d: d["proof"][0].__setitem__("proofValue", d["proof"][0]["proofValue"][:-3] + "abc"),
    ):
        doc = copy.deepcopy(signed)
        mutate(doc)
        out.append(doc)
    return out


def test_normal_fast_and_tampered(signing_key: SigningKey, tmp_path: Path) -> None:
    full_path = [
        DI.sign(build(signing_key, i), signing_key, loader=offline_document_loader)
        for i in range(3)
    ]
    fast_path = [DI.sign(build(signing_key, i), signing_key) for i in range(3, 23)]
    exotic = [
        DI.sign(
            build(
                signing_key,
                99,
                options=CredentialOptions(
                    name="Tab\t nul\x00 bell\x07 del\x7f \U0001f600 \ue000 é"
                ),
            ),
            signing_key,
        )
    ]
    forged = [t for s in fast_path[:3] for t in tampered(s)]
    docs = full_path + fast_path + exotic + forged
    js = js_verify(docs, tmp_path)
    ours = [DI.verify(d).verified for d in docs]
    expected = [True] * (len(full_path) + len(fast_path) + len(exotic)) + [False] * len(forged)
    assert [r["verified"] for r in js] == expected, [r for r in js if r["errors"]][:3]
    assert ours == expected
    for doc in full_path + fast_path:
        assert validate_achievement_credential(doc).valid


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_generated_credentials_verify_in_js(
    signing_key: SigningKey, tmp_path: Path, data: st.DataObject
) -> None:
    canon = Canonicalizer()
    docs = [
        DI.sign(data.draw(credentials(signing_key, any_text)), signing_key, canonicalizer=canon)
        for _ in range(8)
    ]
    js = js_verify(docs, tmp_path)
    assert [r["verified"] for r in js] == [True] * len(docs), js
    assert all(DI.verify(d).verified for d in docs)


def test_did_web_and_status_list_credential(tmp_path: Path) -> None:
    private = Ed25519PrivateKey.generate()
    retired = Ed25519PrivateKey.generate()
    document = did_web_document(
        "https://badges.example.edu", [private.public_key(), retired.public_key()]
    )
    key = SigningKey.for_did_web(private, document["id"])
    old_key = SigningKey.for_did_web(retired, document["id"])
    bits = SL.Bitstring()
    bits.set(42)
    status_credential = DI.sign(
        SL.status_list_credential(
            list_id="https://badges.example.edu/status/1",
            issuer_id=key.controller,
            purpose="revocation",
            bitstring=bits,
            valid_from=VALID_FROM,
        ),
        key,
        proof_as_array=False,
    )
    docs = [
        DI.sign(build(key, 5), key),
        DI.sign(build(old_key, 6), old_key),
        status_credential,
        DI.sign(
            build(key, 7), SigningKey.for_did_web(Ed25519PrivateKey.generate(), key.controller)
        ),
    ]
    js = js_verify(docs, tmp_path, {document["id"]: document})
    ours = [DI.verify(d, resolver=lambda did: document).verified for d in docs]
    assert [r["verified"] for r in js] == [True, True, True, False], js
    assert ours == [True, True, True, False]
