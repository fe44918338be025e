"""The tool's RSA key set: generate, rotate (next -> current -> retired), prune, publish.

There is always a `current` signing key and a `next` key that is already published, so a
platform that caches our JWKS knows the next key before we sign with it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .models import ToolKey, utcnow
from .models.keys import KEY_CURRENT, KEY_NEXT, KEY_RETIRED
from .secretbox import SecretBox


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    private_pem: str


def new_tool_key(box: SecretBox, status: str) -> ToolKey:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    # RFC 7638-style thumbprint as a stable kid.
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    kid = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return ToolKey(kid=kid, status=status, private_key_encrypted=box.encrypt(pem), public_jwk=jwk)


def ensure_keys(session: Session, box: SecretBox) -> None:
    """Create the current and next keys if missing (first run)."""
    statuses = set(session.scalars(select(ToolKey.status)).all())
    if KEY_CURRENT not in statuses:
        session.add(new_tool_key(box, KEY_CURRENT))
    if KEY_NEXT not in statuses:
        session.add(new_tool_key(box, KEY_NEXT))
    session.flush()


def rotate(session: Session, box: SecretBox) -> ToolKey:
    """Promote next to current, retire current (still published), make a new next key."""
    ensure_keys(session, box)
    current = session.scalars(
        select(ToolKey).where(ToolKey.status == KEY_CURRENT).with_for_update()
    ).one()
    upcoming = session.scalars(select(ToolKey).where(ToolKey.status == KEY_NEXT)).one()
    current.status = KEY_RETIRED
    current.retired_at = utcnow()
    upcoming.status = KEY_CURRENT
    session.add(new_tool_key(box, KEY_NEXT))
    session.flush()
    return upcoming


def prune(session: Session) -> int:
    """Stop publishing retired keys. Returns how many were removed."""
    result = session.execute(delete(ToolKey).where(ToolKey.status == KEY_RETIRED))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def published_jwks(session: Session) -> dict[str, list[dict[str, Any]]]:
    keys = session.scalars(select(ToolKey).order_by(ToolKey.id)).all()
    return {"keys": [dict(k.public_jwk) for k in keys]}


def list_keys(session: Session) -> list[ToolKey]:
    return list(session.scalars(select(ToolKey).order_by(ToolKey.id)).all())


class SigningKeyCache:
    """Decrypted current signing key, re-read when the current kid changes (after rotate)."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box
        self._cached: SigningKey | None = None

    def current(self, session: Session) -> SigningKey:
        row = session.execute(
            select(ToolKey.kid, ToolKey.private_key_encrypted).where(ToolKey.status == KEY_CURRENT)
        ).first()
        if row is None:
            ensure_keys(session, self._box)
            return self.current(session)
        kid, encrypted = row
        cached = self._cached
        if cached is not None and cached.kid == kid:
            return cached
        pem = self._box.decrypt(encrypted)
        private_key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(private_key, rsa.RSAPrivateKey)
        self._cached = SigningKey(kid=kid, private_key=private_key, private_pem=pem.decode())
        return self._cached
