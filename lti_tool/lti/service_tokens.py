"""Access tokens for LTI Advantage services (AGS, NRPS), shared until they expire.

pylti1p3 caches a token only inside one ServiceConnector and ignores `expires_in`
(pylti1.3#89), so every launch asked the platform again. This cache is shared by the
process and keyed by (issuer, client_id, sorted scopes).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import jwt
import requests
from pylti1p3.exception import LtiServiceException
from pylti1p3.registration import Registration
from pylti1p3.service_connector import ServiceConnector, TServiceConnectorResponse

EXPIRY_MARGIN = 30  # seconds before expires_in at which a token counts as expired
DEFAULT_EXPIRES_IN = 3600


@dataclass
class ServiceTokenCache:
    http: requests.Session
    timeout: float = 10
    _tokens: dict[tuple[str, str, tuple[str, ...]], tuple[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def forget(self, registration: Registration, scopes: Sequence[str]) -> None:
        key = (
            str(registration.get_issuer()),
            str(registration.get_client_id()),
            tuple(sorted(set(scopes))),
        )
        with self._lock:
            self._tokens.pop(key, None)

    def token(
        self, registration: Registration, scopes: Sequence[str], kid: str, private_key: str
    ) -> str:
        key = (
            str(registration.get_issuer()),
            str(registration.get_client_id()),
            tuple(sorted(set(scopes))),
        )
        cached = self._tokens.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and cached[1] > time.monotonic():
                return cached[0]
            access_token, expires_in = self._request(registration, key[2], kid, private_key)
            self._tokens[key] = (
                access_token,
                time.monotonic() + max(expires_in - EXPIRY_MARGIN, 0),
            )
            return access_token

    def _request(
        self, registration: Registration, scopes: tuple[str, ...], kid: str, private_key: str
    ) -> tuple[str, int]:
        client_id = str(registration.get_client_id())
        token_url = str(registration.get_auth_token_url())
        now = int(time.time())
        assertion = jwt.encode(
            {
                "iss": client_id,
                "sub": client_id,
                "aud": registration.get_auth_audience() or token_url,
                "iat": now - 5,
                "exp": now + 60,
                "jti": str(uuid.uuid4()),  # fresh per assertion (RFC 7523 replay protection)
            },
            private_key,
            algorithm="RS256",
            headers={"kid": kid},
        )
        response = self.http.post(
            token_url,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
                "scope": " ".join(scopes),
            },
            timeout=self.timeout,
        )
        if not response.ok:
            raise LtiServiceException(response)
        body = response.json()
        try:
            expires_in = int(body.get("expires_in", DEFAULT_EXPIRES_IN))
        except (TypeError, ValueError):
            expires_in = DEFAULT_EXPIRES_IN
        return str(body["access_token"]), expires_in


class CachedServiceConnector(ServiceConnector):
    """pylti1p3's connector with the shared token cache and our HTTP session."""

    def __init__(
        self,
        registration: Registration,
        tokens: ServiceTokenCache,
        kid: str,
        private_key: str,
    ) -> None:
        super().__init__(registration, tokens.http)
        self._tokens = tokens
        self._kid = kid
        self._private_key = private_key

    def get_access_token(self, scopes: Sequence[str]) -> str:
        return self._tokens.token(self._registration, scopes, self._kid, self._private_key)

    def make_service_request(
        self,
        scopes: Sequence[str],
        url: str,
        is_post: bool = False,
        data: str | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        case_insensitive_headers: bool = False,
    ) -> TServiceConnectorResponse:
        """pylti1p3's request, with two fixes: the next-page URL keeps its case (pylti1p3
        lower-cases the whole Link header), and a 401 on a cached token drops the token and
        tries once more with a fresh one (the platform may revoke tokens early)."""
        for attempt in (1, 2):
            headers = {
                "Authorization": "Bearer " + self.get_access_token(scopes),
                "Accept": accept,
            }
            if is_post:
                headers["Content-Type"] = content_type
                response = self._requests_session.post(url, data=data or None, headers=headers)
            else:
                response = self._requests_session.get(url, headers=headers)
            if response.status_code == 401 and attempt == 1:
                self._tokens.forget(self._registration, scopes)
                continue
            break
        if not response.ok:
            raise LtiServiceException(response)
        return {
            "headers": response.headers if case_insensitive_headers else dict(response.headers),
            "body": response.json() if response.content else None,
            "next_page_url": response.links.get("next", {}).get("url") or None,
        }
