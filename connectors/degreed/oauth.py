"""OAuth 2.0 client credentials for Degreed, with tokens cached until they expire.

Degreed's token endpoint takes a form POST (``grant_type=client_credentials``, ``client_id``,
``client_secret``, comma-separated ``scope``) and answers ``access_token`` + ``expires_in``
(about 60 days). Tokens are cached per (token URL, client id, scope, secret digest) for the
whole process, minus a safety margin, and dropped when the API refuses one.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from connectors.base import Outcome, Result
from connectors.http import result_from_response, send

EXPIRY_MARGIN = 60.0  # seconds before expiry a cached token stops being used
DEFAULT_LIFETIME = 3600.0  # when the server gives no expires_in
CREDENTIAL_ERRORS = frozenset(
    {"invalid_client", "unauthorized_client", "invalid_grant", "invalid_scope"}
)


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    expires_at: float  # on the cache's clock


class TokenCache:
    """Thread-safe cache of access tokens by client."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, str, str, str], Token] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(token_url: str, client_id: str, scope: str, secret: str) -> tuple[str, str, str, str]:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        return (token_url, client_id, scope, digest)

    def get(self, key: tuple[str, str, str, str]) -> str | None:
        with self._lock:
            token = self._tokens.get(key)
            if token is None:
                return None
            if self._clock() >= token.expires_at:
                del self._tokens[key]
                return None
            return token.value

    def put(self, key: tuple[str, str, str, str], value: str, expires_in: float) -> None:
        lifetime = max(0.0, expires_in - min(EXPIRY_MARGIN, expires_in / 10))
        with self._lock:
            self._tokens[key] = Token(value, self._clock() + lifetime)

    def forget(self, key: tuple[str, str, str, str], value: str) -> None:
        """Drop ``value`` if it is still the cached token (another thread may have renewed it)."""
        with self._lock:
            token = self._tokens.get(key)
            if token is not None and token.value == value:
                del self._tokens[key]


TOKENS = TokenCache()


def request_token(
    session: requests.Session,
    *,
    token_url: str,
    client_id: str,
    client_secret: str,
    scope: str,
    timeout: float,
    secrets: tuple[str, ...],
) -> tuple[str, float] | Result:
    """``(access_token, expires_in)`` from the token endpoint, or a :class:`Result`."""
    what = "token"
    response = send(
        session,
        "POST",
        token_url,
        timeout=timeout,
        what=what,
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": scope,
        },
        headers={"Accept": "application/json"},
    )
    if isinstance(response, Result):
        return response
    if not 200 <= response.status_code < 300:
        result = result_from_response(response, secrets=secrets, what=what)
        if response.status_code == 400 and _oauth_error(response) in CREDENTIAL_ERRORS:
            return Result(Outcome.UNAUTHORIZED, detail=result.detail, status_code=400)
        return result
    try:
        body = response.json()
    except ValueError:
        body = None
    value = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        return Result(
            Outcome.REJECTED,
            detail=f"{what}: HTTP {response.status_code} without an access_token: check token_url",
            status_code=response.status_code,
        )
    expires_in = body.get("expires_in") if isinstance(body, dict) else None
    lifetime = float(expires_in) if isinstance(expires_in, int | float) else DEFAULT_LIFETIME
    return value, lifetime


def _oauth_error(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else None
