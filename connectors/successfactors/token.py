"""Bearer tokens from SuccessFactors' OAuth 2.0 SAML bearer grant (RFC 7522), cached.

``POST {api}/oauth/token`` with ``company_id``, ``client_id``,
``grant_type=urn:ietf:params:oauth:grant-type:saml2-bearer`` and ``assertion`` (a signed
SAML assertion, base64) answers ``{"access_token", "token_type": "Bearer", "expires_in"}``.
A token is reused until :data:`TOKEN_MARGIN` seconds before it expires. Every assertion and
token this object handles is remembered in :attr:`SamlBearerTokens.scrub`, so details shown
to admins never repeat one.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote_plus

import requests

from connectors.base import Outcome, Result
from connectors.http import result_from_response, send
from connectors.successfactors.saml import load_certificate, load_key, signed_assertion

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:saml2-bearer"
TOKEN_REFUSALS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})
TOKEN_MARGIN = 60.0  # seconds: refresh a token this long before it expires
USER_AGENT = "Microcred-SuccessFactors/1"


class SamlBearerTokens:
    """Fetch and cache access tokens for one OAuth client and API user."""

    def __init__(
        self,
        session: requests.Session,
        *,
        token_url: str,
        company_id: str,
        client_id: str,
        user_id: str,
        private_key_pem: str,
        certificate_pem: str,
        audience: str,
        timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self.session = session
        self.token_url = token_url
        self.company_id, self.client_id, self.user_id = company_id, client_id, user_id
        self.audience, self.timeout, self.clock = audience, timeout, clock
        self._key = load_key(private_key_pem)
        self._certificate = load_certificate(certificate_pem)
        self._token: tuple[str, float] | None = None  # (access token, expiry on clock)
        self.scrub: list[str] = [private_key_pem]

    @property
    def cached(self) -> bool:
        """Whether a token that has not yet expired is held."""
        return self._token is not None and self._token[1] > self.clock()

    def forget(self) -> None:
        self._token = None

    def get(self, *, what: str) -> str | Result:
        """A usable access token, or the :class:`Result` explaining why none was issued."""
        now = self.clock()
        if self._token is not None and self._token[1] > now:
            return self._token[0]
        assertion = signed_assertion(
            client_id=self.client_id,
            user_id=self.user_id,
            token_url=self.token_url,
            private_key=self._key,
            certificate=self._certificate,
            audience=self.audience,
        )
        self.scrub.extend([assertion, quote_plus(assertion)])
        form = {
            "company_id": self.company_id,
            "client_id": self.client_id,
            "grant_type": GRANT_TYPE,
            "assertion": assertion,
        }
        label = f"{what}: token"
        response = send(
            self.session,
            "POST",
            self.token_url,
            timeout=self.timeout,
            what=label,
            data=form,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )
        if isinstance(response, Result):
            return response
        error = _oauth_error(response)
        if response.status_code == 400 and error in TOKEN_REFUSALS:
            return Result(
                Outcome.UNAUTHORIZED,
                detail=f"{label}: SuccessFactors refused the SAML assertion ({error}): "
                "check the client id, API user and registered certificate",
                status_code=400,
            )
        if response.status_code != 200:
            return result_from_response(response, secrets=self.scrub, what=label)
        try:
            grant = response.json()
            token = str(grant["access_token"])
            lifetime = float(grant.get("expires_in", 0))
        except (ValueError, KeyError, TypeError, AttributeError):
            return Result(Outcome.RETRY, detail=f"{label}: malformed token answer")
        self.scrub.append(token)
        self._token = (token, now + max(0.0, lifetime - TOKEN_MARGIN))
        return token


def _oauth_error(response: requests.Response) -> str | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if isinstance(error, str) else None
