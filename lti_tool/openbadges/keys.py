"""Ed25519 keys as Multikey, did:key identifiers and did:web DID documents.

* Multikey public key: ``"z" + base58btc(0xed 0x01 + 32-byte key)`` -> ``z6Mk...``.
* Multikey secret key (vc-di-eddsa test vectors): ``"z" + base58btc(0x80 0x26 + 32-byte seed)``.
* did:key: ``did:key:z6Mk...``; its verification method ``did:key:z6Mk...#z6Mk...``.
* did:web: ``did:web:host[%3Aport][:path...]`` resolving to ``https://host/.well-known/did.json``
  (no path) or ``https://host/path.../did.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import base58
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519_PUB_MULTICODEC = b"\xed\x01"
ED25519_PRIV_MULTICODEC = b"\x80\x26"
DID_V1_CONTEXT = "https://www.w3.org/ns/did/v1"
MULTIKEY_V1_CONTEXT = "https://w3id.org/security/multikey/v1"


class KeyFormatError(ValueError):
    """A multibase / multikey / DID value is malformed or of an unsupported kind."""


#: Why a DID could not be resolved (``DidResolutionError.kind``).
UNKNOWN_DID_METHOD = "unknown-did-method"
DID_HOST_NOT_ALLOWED = "did-host-not-allowed"
DID_RESOLUTION_FAILED = "did-resolution-failed"


class DidResolutionError(KeyFormatError, LookupError):
    """A DID (or a document it points to) could not be resolved; ``kind`` says why."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def multibase_b58_encode(data: bytes) -> str:
    """Multibase base58btc: ``"z"`` + base58 (Bitcoin alphabet)."""
    return "z" + base58.b58encode(data).decode("ascii")


def multibase_b58_decode(value: str) -> bytes:
    if not value.startswith("z"):
        raise KeyFormatError("expected a multibase base58btc value starting with 'z'")
    try:
        return base58.b58decode(value[1:])
    except ValueError as exc:
        raise KeyFormatError(f"invalid base58btc: {exc}") from exc


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_multibase(key: Ed25519PublicKey) -> str:
    """Multikey ``publicKeyMultibase`` of an Ed25519 public key (``z6Mk...``)."""
    return multibase_b58_encode(ED25519_PUB_MULTICODEC + _raw_public(key))


def public_key_from_multibase(value: str) -> Ed25519PublicKey:
    raw = multibase_b58_decode(value)
    if len(raw) != 34 or not raw.startswith(ED25519_PUB_MULTICODEC):
        raise KeyFormatError("not an Ed25519 Multikey public key (0xed01 + 32 bytes)")
    return Ed25519PublicKey.from_public_bytes(raw[2:])


def secret_key_multibase(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return multibase_b58_encode(ED25519_PRIV_MULTICODEC + raw)


def private_key_from_multibase(value: str) -> Ed25519PrivateKey:
    raw = multibase_b58_decode(value)
    if len(raw) != 34 or not raw.startswith(ED25519_PRIV_MULTICODEC):
        raise KeyFormatError("not an Ed25519 Multikey secret key (0x8026 + 32 bytes)")
    return Ed25519PrivateKey.from_private_bytes(raw[2:])


def did_key(key: Ed25519PublicKey) -> str:
    return "did:key:" + public_key_multibase(key)


def did_key_verification_method(key: Ed25519PublicKey) -> str:
    multibase = public_key_multibase(key)
    return f"did:key:{multibase}#{multibase}"


def resolve_did_key(did_url: str) -> tuple[str, Ed25519PublicKey]:
    """``did:key:z6Mk...[#z6Mk...]`` -> (controller DID, public key). Purely local."""
    did, _, fragment = did_url.partition("#")
    if not did.startswith("did:key:"):
        raise KeyFormatError("not a did:key")
    multibase = did[len("did:key:") :]
    if fragment and fragment != multibase:
        raise KeyFormatError("did:key fragment must repeat the key")
    return did, public_key_from_multibase(multibase)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An Ed25519 private key with the verification method that names it.

    ``controller`` is the DID (or URL) that must be the credential's ``issuer.id``.
    """

    private_key: Ed25519PrivateKey
    verification_method: str
    controller: str

    @classmethod
    def generate_did_key(cls) -> SigningKey:
        return cls.for_did_key(Ed25519PrivateKey.generate())

    @classmethod
    def for_did_key(cls, private_key: Ed25519PrivateKey) -> SigningKey:
        public = private_key.public_key()
        return cls(private_key, did_key_verification_method(public), did_key(public))

    @classmethod
    def for_did_web(cls, private_key: Ed25519PrivateKey, did: str) -> SigningKey:
        """Key listed in a did:web document: method id ``<did>#<publicKeyMultibase>``."""
        if not did.startswith("did:web:"):
            raise KeyFormatError("not a did:web")
        multibase = public_key_multibase(private_key.public_key())
        return cls(private_key, f"{did}#{multibase}", did)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def public_key_multibase(self) -> str:
        return public_key_multibase(self.public_key)


def did_web_from_url(public_url: str) -> str:
    """``https://example.edu:8443/tenants/a`` -> ``did:web:example.edu%3A8443:tenants:a``."""
    parts = urlsplit(public_url)
    if parts.scheme != "https" or not parts.hostname:
        raise KeyFormatError("did:web needs an https URL with a host")
    if parts.query or parts.fragment:
        raise KeyFormatError("did:web URL must not have a query or fragment")
    host = parts.hostname.lower()
    if parts.port is not None:
        host += f"%3A{parts.port}"
    segments = [quote(unquote(seg), safe="") for seg in parts.path.split("/") if seg]
    return ":".join(["did:web", host, *segments])


def did_web_document_url(did: str) -> str:
    """Where a did:web DID document is served (W3C did:web method, "Read")."""
    if not did.startswith("did:web:"):
        raise KeyFormatError("not a did:web")
    host, *path = did[len("did:web:") :].split(":")
    host = unquote(host)
    if not host or "/" in host:
        raise KeyFormatError("invalid did:web host")
    if path:
        return "https://" + host + "/" + "/".join(path) + "/did.json"
    return f"https://{host}/.well-known/did.json"


def did_web_document(public_url: str, public_keys: Sequence[Ed25519PublicKey]) -> dict[str, Any]:
    """The DID document for ``/.well-known/did.json`` (or ``<path>/did.json``).

    Pure function. ``public_keys``: current key first, then retired keys. Retired keys stay
    listed under ``assertionMethod`` so that credentials signed with them keep verifying;
    revoke a compromised key by dropping it (and re-issuing what it signed).
    """
    if not public_keys:
        raise ValueError("a DID document needs at least one key")
    did = did_web_from_url(public_url)
    methods = []
    seen: set[str] = set()
    for key in public_keys:
        multibase = public_key_multibase(key)
        if multibase in seen:
            continue
        seen.add(multibase)
        methods.append(
            {
                "id": f"{did}#{multibase}",
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": multibase,
            }
        )
    ids = [method["id"] for method in methods]
    return {
        "@context": [DID_V1_CONTEXT, MULTIKEY_V1_CONTEXT],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": ids,
        "authentication": ids[:1],
    }


def public_key_from_did_document(document: dict[str, Any], method_id: str) -> Ed25519PublicKey:
    """Find ``method_id`` in a DID document, require it under ``assertionMethod``.

    Raises :class:`KeyFormatError` when the method is missing, not a ``Multikey``, has another
    controller, or is not authorised for assertions.
    """
    did = method_id.partition("#")[0]
    if document.get("id") != did:
        raise KeyFormatError("DID document id does not match the verification method's DID")
    methods = {
        m.get("id"): m for m in document.get("verificationMethod", []) if isinstance(m, dict)
    }
    assertion = document.get("assertionMethod", [])
    listed = False
    for entry in assertion:
        if entry == method_id:
            listed = True
        elif isinstance(entry, dict) and entry.get("id") == method_id:
            listed = True
            methods[method_id] = entry
    if not listed:
        raise KeyFormatError("verification method is not listed under assertionMethod")
    method = methods.get(method_id)
    if method is None:
        raise KeyFormatError("verification method not found in DID document")
    if method.get("type") != "Multikey":
        raise KeyFormatError("verification method must be a Multikey")
    if method.get("controller") != did:
        raise KeyFormatError("verification method controller is not the DID")
    return public_key_from_multibase(str(method.get("publicKeyMultibase", "")))
