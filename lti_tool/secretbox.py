"""Encryption at rest for private keys and connector secrets.

The key-encryption key is derived (HKDF-SHA256) from MICROCRED_SECRET_KEY; values encrypted
under a previous secret key (MICROCRED_PREVIOUS_SECRET_KEYS) still decrypt, so the secret
key can be rotated and values re-encrypted lazily.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBoxError(Exception):
    pass


def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"microcred key-encryption v1"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


class SecretBox:
    def __init__(self, secret_key: str, previous_keys: Iterable[str] = ()) -> None:
        self._box = MultiFernet([_fernet(secret_key), *(_fernet(k) for k in previous_keys)])

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._box.encrypt(plaintext)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._box.decrypt(token)
        except InvalidToken as exc:
            raise SecretBoxError(
                "cannot decrypt a stored secret: MICROCRED_SECRET_KEY changed? Put the old "
                "key in MICROCRED_PREVIOUS_SECRET_KEYS"
            ) from exc

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt under the current secret key."""
        return self._box.rotate(token)
