"""Data Integrity proofs with the ``eddsa-rdfc-2022`` cryptosuite (W3C vc-di-eddsa).

Sign: ``proofValue = "z" + base58btc(Ed25519(SHA-256(c14n(proof config)) || SHA-256(c14n(doc))))``
where the proof configuration is the proof without ``proofValue`` plus the document's
``@context``, and the document is taken without ``proof``. Canonicalization is RDFC-1.0
(:mod:`canonical`, fast path by default).

Verify: did:key methods are resolved locally; did:web (or any other DID) through an injected
``resolver(did) -> DID document`` (the caller does HTTP and caching; this module has no I/O).
The credential's issuer must be the controller of the verification method, as Digital Bazaar's
verifier requires.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .canonical import (
    CanonicalizationFailed,
    Canonicalizer,
    JsonLdSafetyError,
    canonicalize_full,
    default_canonicalizer,
)
from .contexts import DocumentLoader, unknown_contexts
from .keys import (
    DID_RESOLUTION_FAILED,
    UNKNOWN_DID_METHOD,
    DidResolutionError,
    KeyFormatError,
    SigningKey,
    multibase_b58_decode,
    multibase_b58_encode,
    public_key_from_did_document,
    resolve_did_key,
)
from .rdfc import CanonicalizationError

PROOF_TYPE: Final = "DataIntegrityProof"
CRYPTOSUITE: Final = "eddsa-rdfc-2022"
ASSERTION_METHOD: Final = "assertionMethod"

DidResolver = Callable[[str], Mapping[str, Any]]

#: Why a proof failed (``VerificationResult.kinds``); DID kinds come from :mod:`keys`.
BAD_SIGNATURE: Final = "bad-signature"
ISSUER_NOT_CONTROLLER: Final = "issuer-not-controller"
UNKNOWN_CONTEXT: Final = "unknown-context"
INVALID_PROOF: Final = "invalid-proof"
INVALID_DOCUMENT: Final = "invalid-document"


class ProofError(ValueError):
    """Signing was refused (bad input)."""


def rfc3339(moment: datetime) -> str:
    """UTC, whole seconds, ``Z`` suffix (what the OB schema and JS verifiers accept)."""
    if moment.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 date-time that carries a timezone."""
    if not isinstance(value, str) or "T" not in value.upper():
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    moment = datetime.fromisoformat(value.replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError(f"date-time without timezone: {value!r}")
    return moment


class _HashCache:
    """Small LRU of ``SHA-256(c14n(proof config))`` keyed by the config's JSON."""

    def __init__(self, size: int = 1024) -> None:
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: str, value: bytes) -> None:
        with self._lock:
            self._data[key] = value
            while len(self._data) > self._size:
                self._data.popitem(last=False)


_config_hashes = _HashCache()


def _canonical_hash(
    document: Mapping[str, Any], canonicalizer: Canonicalizer | None, loader: DocumentLoader | None
) -> bytes:
    if loader is not None:
        text = canonicalize_full(document, loader)
    else:
        text = (canonicalizer or default_canonicalizer()).canonicalize(document)
    return hashlib.sha256(text.encode("utf-8")).digest()


def _config_hash(
    config: Mapping[str, Any], canonicalizer: Canonicalizer | None, loader: DocumentLoader | None
) -> bytes:
    if loader is not None or canonicalizer is not None:
        return _canonical_hash(config, canonicalizer, loader)
    # The configuration depends only on (context, created, verificationMethod, ...): cache it.
    key = json.dumps(config, sort_keys=True)
    cached = _config_hashes.get(key)
    if cached is None:
        cached = _canonical_hash(config, None, None)
        _config_hashes.put(key, cached)
    return cached


def proof_configuration(document: Mapping[str, Any], proof: Mapping[str, Any]) -> dict[str, Any]:
    """The proof without ``proofValue``, with the document's ``@context``."""
    config = {k: v for k, v in proof.items() if k not in ("proofValue", "@context")}
    config["@context"] = document["@context"]
    return config


def sign(
    document: Mapping[str, Any],
    key: SigningKey,
    *,
    created: datetime | str | None = None,
    proof_as_array: bool = True,
    canonicalizer: Canonicalizer | None = None,
    loader: DocumentLoader | None = None,
) -> dict[str, Any]:
    """Return a copy of ``document`` with an ``eddsa-rdfc-2022`` ``DataIntegrityProof``.

    ``proof_as_array``: the OB 3.0 schema types ``proof`` as an array; a status list credential
    keeps the usual single object. ``loader``: use the full path with that document loader
    (tests with extra contexts); default is the fast path over the bundled contexts.
    """
    if "proof" in document:
        raise ProofError("document already has a proof (proof sets are not supported)")
    if "@context" not in document:
        raise ProofError("document has no @context")
    if created is None:
        created = datetime.now(UTC)
    created_text = created if isinstance(created, str) else rfc3339(created)
    parse_rfc3339(created_text)
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": created_text,
        "verificationMethod": key.verification_method,
        "proofPurpose": ASSERTION_METHOD,
    }
    config_hash = _config_hash(proof_configuration(document, proof), canonicalizer, loader)
    doc_hash = _canonical_hash(document, canonicalizer, loader)
    signature = key.private_key.sign(config_hash + doc_hash)
    proof["proofValue"] = multibase_b58_encode(signature)
    signed = dict(document)
    signed["proof"] = [proof] if proof_as_array else proof
    return signed


@dataclass(frozen=True, slots=True)
class VerificationResult:
    verified: bool
    errors: tuple[str, ...] = ()
    verification_method: str | None = None
    controller: str | None = None
    #: One failure kind per error (BAD_SIGNATURE, UNKNOWN_CONTEXT, a DID kind, ...).
    kinds: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.verified


def _issuer_id(document: Mapping[str, Any]) -> str | None:
    issuer = document.get("issuer")
    if isinstance(issuer, str):
        return issuer
    if isinstance(issuer, Mapping) and isinstance(issuer.get("id"), str):
        return str(issuer["id"])
    return None


def _public_key(method: str, resolver: DidResolver | None) -> tuple[str, Ed25519PublicKey]:
    if method.startswith("did:key:"):
        return resolve_did_key(method)
    did = method.partition("#")[0]
    if not did.startswith("did:") or "#" not in method:
        raise DidResolutionError(UNKNOWN_DID_METHOD, f"unsupported verification method {method!r}")
    if resolver is None:
        raise DidResolutionError(UNKNOWN_DID_METHOD, f"no DID resolver configured for {did}")
    document = resolver(did)
    return did, public_key_from_did_document(dict(document), method)


def verify(
    document: Mapping[str, Any],
    *,
    resolver: DidResolver | None = None,
    canonicalizer: Canonicalizer | None = None,
    loader: DocumentLoader | None = None,
    require_issuer_controller: bool = True,
) -> VerificationResult:
    """Verify every proof of ``document``; all must be valid ``eddsa-rdfc-2022`` proofs.

    Never raises for a bad credential: problems are returned in ``errors``.
    """
    raw = document.get("proof")
    proofs = raw if isinstance(raw, list) else [raw] if raw is not None else []
    if not proofs:
        return VerificationResult(False, ("no proof",), kinds=(INVALID_PROOF,))
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    if "@context" not in unsecured:
        return VerificationResult(False, ("document has no @context",), kinds=(INVALID_DOCUMENT,))
    if loader is None:
        unknown = unknown_contexts(unsecured["@context"])
        if unknown:
            return VerificationResult(
                False,
                (f"unknown JSON-LD context(s), not loaded: {', '.join(unknown)}",),
                kinds=(UNKNOWN_CONTEXT,),
            )
    errors: list[str] = []
    kinds: list[str] = []
    method: str | None = None
    controller: str | None = None
    doc_hash: bytes | None = None
    for proof in proofs:
        try:
            method, controller = _verify_one(
                unsecured,
                proof,
                resolver,
                canonicalizer,
                loader,
                require_issuer_controller,
                doc_hash,
            )
        except _ProofInvalid as exc:
            errors.append(str(exc))
            kinds.append(exc.kind)
        except DidResolutionError as exc:
            errors.append(str(exc))
            kinds.append(exc.kind)
        except KeyFormatError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            kinds.append(DID_RESOLUTION_FAILED)
        except (CanonicalizationFailed, JsonLdSafetyError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            kinds.append(INVALID_DOCUMENT)
        except CanonicalizationError as exc:
            errors.append(f"canonicalization: {exc}")
            kinds.append(INVALID_DOCUMENT)
    return VerificationResult(not errors, tuple(errors), method, controller, tuple(kinds))


class _ProofInvalid(Exception):
    def __init__(self, message: str, kind: str = INVALID_PROOF) -> None:
        super().__init__(message)
        self.kind = kind


def _verify_one(
    unsecured: Mapping[str, Any],
    proof: Any,
    resolver: DidResolver | None,
    canonicalizer: Canonicalizer | None,
    loader: DocumentLoader | None,
    require_issuer_controller: bool,
    doc_hash: bytes | None,
) -> tuple[str, str]:
    if not isinstance(proof, Mapping):
        raise _ProofInvalid("proof is not an object")
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        raise _ProofInvalid(f"unsupported proof {proof.get('type')!r}/{proof.get('cryptosuite')!r}")
    if proof.get("proofPurpose") != ASSERTION_METHOD:
        raise _ProofInvalid(f"proofPurpose must be {ASSERTION_METHOD}")
    if "@context" in proof and proof["@context"] != unsecured["@context"]:
        raise _ProofInvalid("proof @context differs from the document's")
    created = proof.get("created")
    if created is not None:
        try:
            parse_rfc3339(created)
        except (TypeError, ValueError) as exc:
            raise _ProofInvalid(f"invalid proof created: {exc}") from exc
    expires = proof.get("expires")
    if expires is not None:
        try:
            if parse_rfc3339(expires) < datetime.now(UTC):
                raise _ProofInvalid("proof has expired")
        except (TypeError, ValueError) as exc:
            raise _ProofInvalid(f"invalid proof expires: {exc}") from exc
    method = proof.get("verificationMethod")
    if not isinstance(method, str):
        raise _ProofInvalid("verificationMethod must be a string")
    proof_value = proof.get("proofValue")
    if not isinstance(proof_value, str):
        raise _ProofInvalid("proofValue missing")
    try:
        signature = multibase_b58_decode(proof_value)
    except KeyFormatError as exc:
        raise _ProofInvalid(f"proofValue: {exc}") from exc
    if len(signature) != 64:
        raise _ProofInvalid("proofValue is not a 64-byte Ed25519 signature")
    controller, public_key = _public_key(method, resolver)
    issuer = _issuer_id(unsecured)
    if require_issuer_controller and issuer != controller:
        raise _ProofInvalid(
            f"issuer {issuer!r} is not the controller {controller!r} of the verification method",
            ISSUER_NOT_CONTROLLER,
        )
    config_hash = _canonical_hash(proof_configuration(unsecured, proof), canonicalizer, loader)
    if doc_hash is None:
        doc_hash = _canonical_hash(unsecured, canonicalizer, loader)
    try:
        public_key.verify(signature, config_hash + doc_hash)
    except InvalidSignature:
        raise _ProofInvalid("signature does not verify", BAD_SIGNATURE) from None
    return method, controller
