"""Offline loader, bundled context pins, Multikey / did:key / did:web."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyld.jsonld import JsonLdError

from lti_tool.openbadges import keys as K
from lti_tool.openbadges.contexts import (
    BUNDLED_CONTEXT_FILES,
    make_document_loader,
    offline_document_loader,
)
from lti_tool.openbadges.rdfc import canonicalize_quads, escape_iri, escape_literal

PINS = {
    "credentials-status-v1.jsonld": "fd08cbf28ddd829ab2f1978c48f43ab07a112c1c90245a0cfac7ba721c65170c",  # noqa: E501
    "credentials-v2.jsonld": "59955ced6697d61e03f2b2556febe5308ab16842846f5b586d7f1f7adec92734",
    "data-integrity-v2.jsonld": "0f77743daf5b4e8fc067fc5ba5b21044283053aa717fc6b0219843bed3b00363",
    "multikey-v1.jsonld": "c5f3806f8286920573221938917988a18a4cc5a09e968d29649613c7a1c2b1f6",
    "ob-v3p0-context-3.0.1.json": "d582f3564282fb3b709136d28412e78e70b678b4dbc2f0221f67d84932748355",  # noqa: E501
    "ob-v3p0-context-3.0.2.json": "00666ad080ba407687ed1846b7f5e7495f5019042b202a727de47c48a1755c53",  # noqa: E501
    "ob-v3p0-context-3.0.3.json": "ef2fa9c7846dce233cc166b43639027278be4ee44f00bb1d45c75de2dd0cd761",  # noqa: E501
    "ob-v3p0-context.json": "b077fa134d909d92c1dcd1c153f2af1b244aeb415967fdc1467d7fc5dd48ac10",
}
SHARED = Path(__file__).resolve().parents[3] / "shared" / "schemas" / "ob3"


SCHEMA_PIN = "859e405b592d93c3261fe899362f4128801140d4d20c01502a066b3540483d95"
SHARED_COPIES = {
    "credentials-v2.jsonld": "credentials_v2_context.jsonld",
    "ob-v3p0-context-3.0.3.json": "ob_v3p0_context-3.0.3.json",
    "ob-v3p0-context.json": "ob_v3p0_context.json",
}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_bundled_contexts_and_schema_are_pinned() -> None:
    """The installed package carries exactly the upstream files (by digest). Where the
    project's shared/ copies sit beside the repository (CI), they must match too."""
    package = resources.files("lti_tool.openbadges")
    folder = package.joinpath("contexts")
    assert set(BUNDLED_CONTEXT_FILES.values()) == set(PINS)
    for name, digest in PINS.items():
        assert _sha256(folder.joinpath(name).read_bytes()) == digest, name
    schema = package.joinpath("schemas", "ob_v3p0_achievementcredential_schema.json")
    assert _sha256(schema.read_bytes()) == SCHEMA_PIN
    if SHARED.is_dir():
        for ours, theirs in SHARED_COPIES.items():
            assert _sha256((SHARED / theirs).read_bytes()) == PINS[ours], theirs
        schema_copy = SHARED / "ob_v3p0_achievementcredential_schema.json"
        assert _sha256(schema_copy.read_bytes()) == SCHEMA_PIN


def test_offline_loader_serves_copies_and_refuses_others() -> None:
    doc = offline_document_loader("https://www.w3.org/ns/credentials/v2", {})
    assert doc["document"]["@context"]["VerifiableCredential"]
    doc["document"]["@context"].clear()  # mutation must not leak into the next load
    assert offline_document_loader("https://www.w3.org/ns/credentials/v2", {})["document"][
        "@context"
    ]
    with pytest.raises(JsonLdError):
        offline_document_loader("https://www.w3.org/ns/credentials/examples/v2", {})
    extra = make_document_loader({"https://example.com/ctx": {"@context": {}}})
    assert extra("https://example.com/ctx", {})["document"] == {"@context": {}}
    with pytest.raises(JsonLdError):
        extra("https://example.com/other", {})


def test_literal_and_iri_escaping_match_rdf_canonize() -> None:
    assert escape_literal('a"b\\c\nd\re\tf\bg\fh') == 'a\\"b\\\\c\\nd\\re\\tf\\bg\\fh'
    assert escape_literal("\x00\x01\x1f\x7f") == "\\u0000\\u0001\\u001F\\u007F"
    assert escape_literal("é😀") == "é😀"
    assert escape_iri("http://x/a b<>") == "http://x/a\\u0020b\\u003C\\u003E"


def test_sort_is_utf16_like_javascript() -> None:
    # U+1F600 is D83D DE00 in UTF-16 (sorts before U+E000); code-point order says the opposite.
    quads = [
        ("<http://s>", "<http://p>", '"\U0001f600"', ""),
        ("<http://s>", "<http://p>", '"\ue000"', ""),
    ]
    lines = canonicalize_quads(quads).splitlines()
    assert lines[0].endswith('"\U0001f600" .')


def test_did_key_known_vector() -> None:
    # W3C vc-di-eddsa TestVectors/keyPair.json
    private = K.private_key_from_multibase("z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq")
    public = private.public_key()
    mb = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
    assert K.public_key_multibase(public) == mb
    assert K.did_key(public) == f"did:key:{mb}"
    assert K.did_key_verification_method(public) == f"did:key:{mb}#{mb}"
    did, resolved = K.resolve_did_key(f"did:key:{mb}#{mb}")
    assert did == f"did:key:{mb}"
    assert K.public_key_multibase(resolved) == mb
    assert K.secret_key_multibase(private) == "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq"


def test_multikey_rejects_wrong_material() -> None:
    with pytest.raises(K.KeyFormatError):
        K.public_key_from_multibase("uAAAA")
    with pytest.raises(K.KeyFormatError):
        K.public_key_from_multibase(K.multibase_b58_encode(b"\x12\x00" + bytes(32)))
    with pytest.raises(K.KeyFormatError):
        K.resolve_did_key("did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2#key-1")


@pytest.mark.parametrize(
    ("url", "did", "doc_url"),
    [
        ("https://example.edu", "did:web:example.edu", "https://example.edu/.well-known/did.json"),
        (
            "https://Example.edu:8443/t/acme/",
            "did:web:example.edu%3A8443:t:acme",
            "https://example.edu:8443/t/acme/did.json",
        ),
    ],
)
def test_did_web_mapping(url: str, did: str, doc_url: str) -> None:
    assert K.did_web_from_url(url) == did
    assert K.did_web_document_url(did) == doc_url


def test_did_web_document_lists_current_and_old_keys() -> None:
    current, old = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    doc = K.did_web_document("https://example.edu", [current.public_key(), old.public_key()])
    assert doc["@context"] == [K.DID_V1_CONTEXT, K.MULTIKEY_V1_CONTEXT]
    ids = [m["id"] for m in doc["verificationMethod"]]
    assert doc["assertionMethod"] == ids
    assert all(
        m["type"] == "Multikey" and m["controller"] == doc["id"] for m in doc["verificationMethod"]
    )
    assert ids[0] == f"did:web:example.edu#{K.public_key_multibase(current.public_key())}"
    for key in (current, old):
        method = f"did:web:example.edu#{K.public_key_multibase(key.public_key())}"
        found = K.public_key_from_did_document(doc, method)
        assert K.public_key_multibase(found) == K.public_key_multibase(key.public_key())
    not_assertion = dict(doc, assertionMethod=ids[:1])
    with pytest.raises(K.KeyFormatError):
        K.public_key_from_did_document(not_assertion, ids[1])
    with pytest.raises(ValueError, match="at least one key"):
        K.did_web_document("https://example.edu", [])
    with pytest.raises(K.KeyFormatError):
        K.did_web_from_url("http://example.edu")


def test_core_imports_no_flask_and_no_other_lti_tool_modules() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import lti_tool.openbadges.canonical, lti_tool.openbadges.credential\n"
        "import lti_tool.openbadges.dataintegrity, lti_tool.openbadges.schema\n"
        "import lti_tool.openbadges.statuslist, lti_tool.openbadges.vcjwt\n"
        "bad = [m for m in sys.modules if m == 'flask' or m.startswith('flask.')\n"
        "       or (m.startswith('lti_tool.') and not m.startswith('lti_tool.openbadges'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
