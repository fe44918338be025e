"""VC-JWT (compact JWS) for OB 3.0 credentials, OB 3.0 §8.2: signed with ``cryptography``,
verified with PyJWT.

Header: ``alg`` (RS256 by default, the minimum interoperable algorithm; EdDSA optional), ``kid``,
``typ: JWT``; nothing else (no ``jwk``: a header key does not tie the key to the issuer).
Claims: ``iss`` = issuer id, ``sub`` = credentialSubject.id (when the subject has one),
``jti`` = credential id, ``nbf`` = validFrom, ``exp`` = validUntil; the credential itself is the
rest of the payload (OB 3.0 §8.2.4.1: the JSON of the credential, claims added). When the
credential carries a Data Integrity proof, that proof stays inside the payload.

Signing skips PyJWT: per credential it re-encoded the same header and looked up the algorithm
(~15 % on top of an RSA-2048 signature). :func:`sign` encodes the protected header once per
(alg, kid) and signs with the key object directly; the output is byte for byte what
``jwt.encode`` gives (sorted compact header, compact payload), which a test checks.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from .dataintegrity import parse_rfc3339

Algorithm = Literal["RS256", "EdDSA"]
ALGORITHMS: Final = ("RS256", "EdDSA")
PrivateKey = RSAPrivateKey | Ed25519PrivateKey
PublicKey = RSAPublicKey | Ed25519PublicKey
#: (header kid, issuer id) -> public key; raise LookupError when unknown.
KeyResolver = Callable[[str, str], PublicKey]

_JWT_CLAIMS: Final = ("iss", "sub", "jti", "nbf", "exp", "iat", "aud")


class VcJwtError(ValueError):
    """The VC-JWT is invalid or does not match the credential it carries. ``kind``: why the
    signing key could not be found (a DID resolution kind), when that is the reason."""

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind


def _algorithm_for(key: PrivateKey | PublicKey) -> Algorithm:
    if isinstance(key, RSAPrivateKey | RSAPublicKey):
        return "RS256"
    return "EdDSA"


def _issuer_id(credential: Mapping[str, Any]) -> str:
    issuer = credential.get("issuer")
    if isinstance(issuer, str):
        return issuer
    if isinstance(issuer, Mapping) and isinstance(issuer.get("id"), str):
        return str(issuer["id"])
    raise VcJwtError("credential has no issuer id")


def _subject_id(credential: Mapping[str, Any]) -> str | None:
    subject = credential.get("credentialSubject")
    if isinstance(subject, Mapping) and isinstance(subject.get("id"), str):
        return str(subject["id"])
    return None


def _epoch(value: Any, name: str) -> int:
    try:
        return int(parse_rfc3339(value).timestamp())
    except (TypeError, ValueError) as exc:
        raise VcJwtError(f"credential {name} is not an RFC 3339 date-time") from exc


def jwt_claims(credential: Mapping[str, Any]) -> dict[str, Any]:
    """The registered claims OB 3.0 derives from a credential."""
    if "id" not in credential or "validFrom" not in credential:
        raise VcJwtError("credential needs id and validFrom")
    claims: dict[str, Any] = {
        "iss": _issuer_id(credential),
        "jti": credential["id"],
        "nbf": _epoch(credential["validFrom"], "validFrom"),
    }
    subject = _subject_id(credential)
    if subject is not None:
        claims["sub"] = subject
    if "validUntil" in credential:
        claims["exp"] = _epoch(credential["validUntil"], "validUntil")
    return claims


_PKCS1V15: Final = padding.PKCS1v15()
_SHA256: Final = hashes.SHA256()
# PyJWT's compact separators; credentials are trees (no cycle check needed: ~15 % faster).
_encode_json: Final = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@lru_cache(maxsize=256)
def _protected_header(alg: str, kid: str) -> bytes:
    """``base64url(header)`` + ``"."``; the header as PyJWT writes it (keys sorted)."""
    header = {"alg": alg, "kid": kid, "typ": "JWT"}
    return _b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode()) + b"."


def sign(credential: Mapping[str, Any], private_key: PrivateKey, kid: str) -> str:
    """Compact JWS of ``credential`` (RS256 for an RSA key, EdDSA for an Ed25519 key)."""
    payload = {k: v for k, v in credential.items() if k not in _JWT_CLAIMS}
    payload.update(jwt_claims(credential))
    signing_input = _protected_header(_algorithm_for(private_key), kid) + _b64url(
        _encode_json(payload).encode()
    )
    if isinstance(private_key, RSAPrivateKey):
        signature = private_key.sign(signing_input, _PKCS1V15, _SHA256)
    else:
        signature = private_key.sign(signing_input)
    return (signing_input + b"." + _b64url(signature)).decode("ascii")


@dataclass(frozen=True, slots=True)
class DecodedVcJwt:
    credential: dict[str, Any]
    header: dict[str, Any]
    claims: dict[str, Any]


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, payload) WITHOUT checking the signature: only to learn which keys and
    documents a verification will need. Raises :class:`VcJwtError` when malformed."""
    try:
        header = jwt.get_unverified_header(token)
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise VcJwtError(f"malformed JWT: {exc}") from exc
    return dict(header), dict(payload)


def verify(
    token: str,
    resolve_key: KeyResolver,
    *,
    leeway: int = 300,
    algorithms: tuple[str, ...] = ALGORITHMS,
) -> DecodedVcJwt:
    """Verify signature, header, time claims and the claims/credential match.

    Raises :class:`VcJwtError` (or ``jwt.InvalidTokenError`` subclasses wrapped in it).
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise VcJwtError(f"malformed JWT: {exc}") from exc
    if header.get("typ") != "JWT":
        raise VcJwtError("header typ must be JWT")
    extra = set(header) - {"alg", "kid", "jwk", "typ"}
    if extra:
        raise VcJwtError(f"unexpected JOSE header parameters {sorted(extra)}")
    if header.get("alg") not in algorithms:
        raise VcJwtError(f"algorithm {header.get('alg')!r} not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise VcJwtError("header kid missing")
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
        issuer = unverified.get("iss")
        if not isinstance(issuer, str):
            raise VcJwtError("iss claim missing")
        key = resolve_key(kid, issuer)
        if _algorithm_for(key) != header["alg"]:
            raise VcJwtError("key type does not match alg")
        claims = jwt.decode(
            token,
            key,
            algorithms=[header["alg"]],
            leeway=leeway,
            options={"require": ["iss", "jti", "nbf"]},
        )
    except LookupError as exc:
        raise VcJwtError(f"unknown signing key {kid!r}: {exc}", getattr(exc, "kind", None)) from exc
    except jwt.InvalidTokenError as exc:
        raise VcJwtError(f"invalid JWT: {exc}") from exc
    credential = {k: v for k, v in claims.items() if k not in _JWT_CLAIMS}
    expected = jwt_claims(credential)
    for name, value in expected.items():
        if claims.get(name) != value:
            raise VcJwtError(f"claim {name} does not match the credential")
    if "sub" in claims and "sub" not in expected:
        raise VcJwtError("sub claim without credentialSubject.id")
    if "exp" in claims and "exp" not in expected:
        raise VcJwtError("exp claim without validUntil")
    return DecodedVcJwt(
        credential, dict(header), {k: claims[k] for k in claims if k in _JWT_CLAIMS}
    )
