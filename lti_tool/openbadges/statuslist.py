"""W3C Bitstring Status List v1.0: bitstrings, index allocation, status list credentials.

* ``encodedList`` = ``"u"`` + base64url-no-padding(gzip(bitstring)) (multibase base64url).
* Index 0 is the most significant bit of byte 0.
* At least 131,072 entries (16 KiB) for herd privacy; indexes are allocated at random.
* The status list credential is issued by the credential's issuer; sign it with
  :func:`dataintegrity.sign` and ``proof_as_array=False`` (it is not an OB credential).
"""

from __future__ import annotations

import base64
import gzip
import io
import random
from collections.abc import Collection
from datetime import datetime
from typing import Any, Final, Literal

from .contexts import VC_V2
from .dataintegrity import rfc3339

MIN_ENTRIES: Final = 131_072
StatusPurpose = Literal["revocation", "suspension"]


class StatusListError(ValueError):
    pass


class Bitstring:
    """A mutable bitstring; bit ``i`` is bit ``7 - i % 8`` of byte ``i // 8`` (MSB first)."""

    __slots__ = ("_bits",)

    def __init__(self, length: int = MIN_ENTRIES) -> None:
        if length < MIN_ENTRIES or length % 8:
            raise StatusListError(f"length must be a multiple of 8 and >= {MIN_ENTRIES}")
        self._bits = bytearray(length // 8)

    @classmethod
    def from_bytes(cls, data: bytes) -> Bitstring:
        bits = cls.__new__(cls)
        if len(data) * 8 < MIN_ENTRIES:
            raise StatusListError(f"a status list has at least {MIN_ENTRIES} entries")
        bits._bits = bytearray(data)
        return bits

    def __len__(self) -> int:
        return len(self._bits) * 8

    def _check(self, index: int) -> None:
        if not 0 <= index < len(self):
            raise IndexError(f"status index {index} out of range 0..{len(self) - 1}")

    def get(self, index: int) -> bool:
        self._check(index)
        return bool(self._bits[index >> 3] & (0x80 >> (index & 7)))

    def set(self, index: int, value: bool = True) -> None:
        self._check(index)
        mask = 0x80 >> (index & 7)
        if value:
            self._bits[index >> 3] |= mask
        else:
            self._bits[index >> 3] &= ~mask & 0xFF

    def set_indexes(self) -> list[int]:
        return [i for i in range(len(self)) if self._bits[i >> 3] & (0x80 >> (i & 7))]

    def to_bytes(self) -> bytes:
        return bytes(self._bits)

    def encode(self) -> str:
        """``encodedList``: multibase base64url (``u``) of the GZIP-compressed bitstring."""
        # mtime=0: same list -> same bytes (stable ETags, reproducible tests).
        compressed = gzip.compress(bytes(self._bits), mtime=0)
        return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, encoded: str, max_bytes: int = 16 * 1024 * 1024) -> Bitstring:
        if not encoded.startswith("u"):
            raise StatusListError("encodedList must be multibase base64url ('u' prefix)")
        body = encoded[1:]
        try:
            compressed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            with gzip.GzipFile(fileobj=io.BytesIO(compressed)) as stream:
                data = stream.read(max_bytes + 1)
        except (ValueError, OSError, EOFError) as exc:
            raise StatusListError(f"cannot decode encodedList: {exc}") from exc
        if len(data) > max_bytes:
            raise StatusListError("decoded status list too large")
        return cls.from_bytes(data)


def allocate_index(
    used: Collection[int], size: int = MIN_ENTRIES, rng: random.Random | None = None
) -> int:
    """A random unused index in ``[0, size)``. Pure: the caller passes used indexes and RNG.

    Use ``random.SystemRandom()`` in production (unpredictable positions for herd privacy).
    """
    if len(used) >= size:
        raise StatusListError("status list is full")
    source = rng or random.SystemRandom()
    if len(used) < size // 2:
        while True:
            candidate = source.randrange(size)
            if candidate not in used:
                return candidate
    free = [i for i in range(size) if i not in used]
    return source.choice(free)


def status_list_credential(
    *,
    list_id: str,
    issuer_id: str,
    purpose: StatusPurpose,
    bitstring: Bitstring,
    valid_from: datetime,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """Unsigned ``BitstringStatusListCredential`` (VC 2.0 context defines every term)."""
    credential: dict[str, Any] = {
        "@context": [VC_V2],
        "id": list_id,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_id,
        "validFrom": rfc3339(valid_from),
        "credentialSubject": {
            "id": f"{list_id}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": bitstring.encode(),
        },
    }
    if valid_until is not None:
        credential["validUntil"] = rfc3339(valid_until)
    return credential


def entry_status(entry: dict[str, Any], status_list_credential_doc: dict[str, Any]) -> bool:
    """Is the bit of a ``BitstringStatusListEntry`` set in the (already verified) list credential?

    Checks that the entry points at this list and that the purposes match.
    """
    if entry.get("type") != "BitstringStatusListEntry":
        raise StatusListError("not a BitstringStatusListEntry")
    if entry.get("statusListCredential") != status_list_credential_doc.get("id"):
        raise StatusListError("entry refers to another status list credential")
    subject = status_list_credential_doc.get("credentialSubject", {})
    if subject.get("statusPurpose") != entry.get("statusPurpose"):
        raise StatusListError("statusPurpose of entry and list differ")
    try:
        index = int(entry["statusListIndex"])
    except (KeyError, TypeError, ValueError) as exc:
        raise StatusListError("invalid statusListIndex") from exc
    return Bitstring.decode(str(subject.get("encodedList", ""))).get(index)
