"""The issuer's Ed25519 signing keys: generate, rotate (current -> retired), publish.

Decision: one issuer identity per deployment of the tool, the did:web of MICROCRED_PUBLIC_URL
(``https://tool.test`` -> ``did:web:tool.test``, a port as ``%3A``, a path as ``:`` segments).
With a plain-http public URL (local use) each key is its own did:key, as DESIGN.md allows.
Every key row records the identity it belongs to, so per-tenant issuers (``did:web:host:
issuers:<n>``) can come later without a schema change. Retired keys stay listed under
``assertionMethod`` of the DID document so credentials signed with them keep verifying.

Framework-free (no Flask); nothing here commits.
"""

from __future__ import annotations

import threading
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.models import IssuerKey, utcnow
from lti_tool.models.issued import ISSUER_KEY_CURRENT, ISSUER_KEY_RETIRED
from lti_tool.openbadges.keys import (
    KeyFormatError,
    SigningKey,
    did_web_document,
    did_web_from_url,
    private_key_from_multibase,
    public_key_from_multibase,
    public_key_multibase,
    secret_key_multibase,
)
from lti_tool.secretbox import SecretBox

DID_KEY_ISSUER = "did:key"  # the `issuer` of keys that are their own did:key (http public URL)


def issuer_identity(public_url: str) -> str:
    """The did:web of the public URL, or ``"did:key"`` when it cannot have one (not https)."""
    try:
        return did_web_from_url(public_url)
    except KeyFormatError:
        return DID_KEY_ISSUER


def _new_key_row(box: SecretBox, identity: str) -> IssuerKey:
    private = Ed25519PrivateKey.generate()
    return IssuerKey(
        issuer=identity,
        status=ISSUER_KEY_CURRENT,
        public_key_multibase=public_key_multibase(private.public_key()),
        private_key_encrypted=box.encrypt(secret_key_multibase(private).encode("ascii")),
    )


def current_key_row(session: Session, box: SecretBox, identity: str) -> IssuerKey:
    """The current key of ``identity``, created on first use (race-safe: one current key)."""
    row = session.scalars(
        select(IssuerKey).where(
            IssuerKey.issuer == identity, IssuerKey.status == ISSUER_KEY_CURRENT
        )
    ).one_or_none()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = _new_key_row(box, identity)
            session.add(row)
    except IntegrityError:  # a concurrent transaction created it first
        row = session.scalars(
            select(IssuerKey).where(
                IssuerKey.issuer == identity, IssuerKey.status == ISSUER_KEY_CURRENT
            )
        ).one()
    return row


def rotate(session: Session, box: SecretBox, identity: str) -> IssuerKey:
    """Retire the current key (it stays published) and make a new current key."""
    current = session.scalars(
        select(IssuerKey)
        .where(IssuerKey.issuer == identity, IssuerKey.status == ISSUER_KEY_CURRENT)
        .with_for_update()
    ).one_or_none()
    if current is not None:
        current.status = ISSUER_KEY_RETIRED
        current.retired_at = utcnow()
        session.flush()
    row = _new_key_row(box, identity)
    session.add(row)
    session.flush()
    return row


def published_keys(session: Session, identity: str) -> list[IssuerKey]:
    """Current key first, then retired keys, newest first."""
    rows = session.scalars(
        select(IssuerKey).where(IssuerKey.issuer == identity).order_by(IssuerKey.id.desc())
    ).all()
    return sorted(rows, key=lambda r: r.status != ISSUER_KEY_CURRENT)


def did_document(session: Session, public_url: str) -> dict[str, Any] | None:
    """The did:web DID document of the public URL with every key, or None (none yet / http)."""
    identity = issuer_identity(public_url)
    if identity == DID_KEY_ISSUER:
        return None
    rows = published_keys(session, identity)
    if not rows:
        return None
    return did_web_document(
        public_url, [public_key_from_multibase(r.public_key_multibase) for r in rows]
    )


class KeyCache:
    """Decrypted signing keys by row id (a key never changes once created)."""

    def __init__(self) -> None:
        self._keys: dict[tuple[int, str], SigningKey] = {}
        self._lock = threading.Lock()

    def signing_key(self, row: IssuerKey, box: SecretBox) -> SigningKey:
        cache_key = (row.id, row.public_key_multibase)
        with self._lock:
            found = self._keys.get(cache_key)
        if found is not None:
            return found
        private = private_key_from_multibase(box.decrypt(row.private_key_encrypted).decode())
        if public_key_multibase(private.public_key()) != row.public_key_multibase:
            raise KeyFormatError(f"issuer key {row.id}: secret and public key do not match")
        if row.issuer == DID_KEY_ISSUER:
            key = SigningKey.for_did_key(private)
        else:
            key = SigningKey.for_did_web(private, row.issuer)
        with self._lock:
            self._keys[cache_key] = key
        return key
