"""Platform JWKS: cached per process and in the database, re-downloaded once on an unknown kid.

pylti1p3 2.0.0 keeps a cached key set until it expires, so a platform key rotation breaks
launches for up to two hours (pylti1.3#90); this cache downloads again on an unknown `kid`,
at most once per `refetch_interval` seconds per platform so forged kids cannot make us
hammer the platform.

Downloads happen in `warm()`, which the launch view calls before its transaction opens: no
database transaction (on SQLite, a write lock) is ever held across the HTTP call.
`key_for()`, inside the transaction, only reads what `warm()` loaded.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import select

from ..db import Database
from ..models import Platform, PlatformKeySet, utcnow
from .errors import LaunchRefused


@dataclass
class _Entry:
    url: str
    keys: dict[str, RSAPublicKey]
    loaded_at: float  # time.monotonic() of the download


@dataclass
class PlatformKeyCache:
    http: requests.Session
    database: Database
    ttl: float = 3600
    refetch_interval: float = 10
    timeout: float = 10
    _entries: dict[int, _Entry] = field(default_factory=dict)
    _platform_ids: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    _last_forced: dict[int, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def warm(self, issuer: str, client_id: str, kid: str) -> None:
        """Make sure the key `kid` of this registration is loaded if the platform has it."""
        known = self._platform_ids.get((issuer, client_id))
        if known is not None:
            entry = self._entries.get(known[0])
            if entry and entry.url == known[1] and not self._stale(entry) and kid in entry.keys:
                return  # the common case: no database, no network
        with self.database.read_session() as session:
            platform = session.scalars(
                select(Platform).where(Platform.issuer == issuer, Platform.client_id == client_id)
            ).first()
            if platform is None:
                return  # the launch's own registration check refuses it
            platform_id, url = platform.id, platform.key_set_url
            stored = session.get(PlatformKeySet, platform_id)
            stored_doc = (stored.jwks, stored.fetched_at.timestamp()) if stored else None
        self._platform_ids[(issuer, client_id)] = (platform_id, url)
        entry = self._entries.get(platform_id)
        if entry is None or entry.url != url or self._stale(entry):
            entry = self._from_stored(platform_id, url, stored_doc) or self._download(
                platform_id, url
            )
        if kid not in entry.keys and self._may_force(platform_id):
            self._download(platform_id, url)

    def key_for(self, platform: Platform, kid: str) -> RSAPublicKey:
        entry = self._entries.get(platform.id)
        key = entry.keys.get(kid) if entry and entry.url == platform.key_set_url else None
        if key is None:
            raise LaunchRefused(
                "The LMS signed this launch with a key it does not publish.",
                reason=f"unknown kid {kid!r} for platform {platform.id} ({platform.issuer})",
            )
        return key

    def _stale(self, entry: _Entry) -> bool:
        return time.monotonic() - entry.loaded_at > self.ttl

    def _may_force(self, platform_id: int) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last_forced.get(platform_id)
            if last is not None and now - last < self.refetch_interval:
                return False
            self._last_forced[platform_id] = now
            return True

    def _from_stored(
        self, platform_id: int, url: str, stored: tuple[dict[str, Any], float] | None
    ) -> _Entry | None:
        """The copy another worker process stored, if it is for this URL and fresh."""
        if stored is None:
            return None
        document, fetched_at = stored
        age = time.time() - fetched_at
        if not 0 <= age < self.ttl or document.get("url") != url:
            return None
        entry = _Entry(url, _parse(document.get("jwks", {})), time.monotonic() - age)
        self._entries[platform_id] = entry
        return entry

    def _download(self, platform_id: int, url: str) -> _Entry:
        try:
            response = self.http.get(url, timeout=self.timeout)
            response.raise_for_status()
            jwks = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise LaunchRefused(
                "The LMS's public key set could not be downloaded; try again shortly.",
                reason=f"JWKS download from {url} failed: {exc}",
                status=502,
            ) from exc
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise LaunchRefused(
                "The LMS's public key set is not a valid JWKS.",
                reason=f"JWKS at {url} has no 'keys' list",
                status=502,
            )
        entry = _Entry(url, _parse(jwks), time.monotonic())
        self._entries[platform_id] = entry
        document = {"url": url, "jwks": jwks}
        with self.database.session() as session:
            stored = session.get(PlatformKeySet, platform_id)
            if stored is None:
                session.add(
                    PlatformKeySet(platform_id=platform_id, jwks=document, fetched_at=utcnow())
                )
            else:
                stored.jwks = document
                stored.fetched_at = utcnow()
        return entry


def _parse(jwks: dict[str, Any]) -> dict[str, RSAPublicKey]:
    keys: dict[str, RSAPublicKey] = {}
    for jwk in jwks.get("keys", []):
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or not jwk.get("kid"):
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
            continue
        try:
            key = RSAAlgorithm.from_jwk(json.dumps(jwk))
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(key, RSAPublicKey):
            keys[str(jwk["kid"])] = key
    return keys
