"""Platform JWKS: cached per process and in the database, re-downloaded once on an unknown kid.

pylti1p3 2.0.0 keeps a cached key set until it expires, so a platform key rotation breaks
launches for up to two hours (pylti1.3#90); this cache fetches again on an unknown `kid`,
at most once per `refetch_interval` seconds per platform so forged kids cannot make us
hammer the platform.
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
from sqlalchemy.orm import Session

from ..models import Platform, PlatformKeySet, utcnow
from .errors import LaunchRefused


@dataclass
class _Entry:
    url: str
    keys: dict[str, RSAPublicKey]
    loaded_at: float  # time.monotonic()
    fetched_at_epoch: float


@dataclass
class PlatformKeyCache:
    http: requests.Session
    ttl: float = 3600
    refetch_interval: float = 10
    timeout: float = 10
    _entries: dict[int, _Entry] = field(default_factory=dict)
    _last_forced: dict[int, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def key_for(self, session: Session, platform: Platform, kid: str) -> RSAPublicKey:
        entry = self._entries.get(platform.id)
        if entry is None or entry.url != platform.key_set_url or self._stale(entry):
            entry = self._load(session, platform)
        key = entry.keys.get(kid)
        if key is None and self._may_force(platform.id):
            entry = self._fetch(session, platform)
            key = entry.keys.get(kid)
        if key is None:
            raise LaunchRefused(
                "The LMS signed this launch with a key it does not publish.",
                reason=f"unknown kid {kid!r} for platform {platform.id} ({platform.issuer})",
            )
        return key

    def forget(self, platform_id: int) -> None:
        with self._lock:
            self._entries.pop(platform_id, None)
            self._last_forced.pop(platform_id, None)

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

    def _load(self, session: Session, platform: Platform) -> _Entry:
        """Use the copy another worker stored if it is fresh; download otherwise."""
        stored = session.get(PlatformKeySet, platform.id)
        if stored is not None:
            age = time.time() - stored.fetched_at.timestamp()
            if 0 <= age < self.ttl and stored.jwks.get("url") == platform.key_set_url:
                entry = _Entry(
                    url=platform.key_set_url,
                    keys=_parse(stored.jwks.get("jwks", {})),
                    loaded_at=time.monotonic() - age,
                    fetched_at_epoch=stored.fetched_at.timestamp(),
                )
                self._entries[platform.id] = entry
                return entry
        return self._fetch(session, platform)

    def _fetch(self, session: Session, platform: Platform) -> _Entry:
        url = platform.key_set_url
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
        now = utcnow()
        stored = session.get(PlatformKeySet, platform.id)
        document = {"url": url, "jwks": jwks}
        if stored is None:
            session.add(PlatformKeySet(platform_id=platform.id, jwks=document, fetched_at=now))
        else:
            stored.jwks = document
            stored.fetched_at = now
        entry = _Entry(
            url=url, keys=_parse(jwks), loaded_at=time.monotonic(), fetched_at_epoch=now.timestamp()
        )
        self._entries[platform.id] = entry
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
