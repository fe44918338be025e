"""Map HTTP responses and ``requests`` exceptions to connector outcomes.

The rules every HTTP connector shares (connector-specific meanings are layered on top):

========================================  ===============================================
2xx                                       ``DELIVERED``
3xx                                       ``RETRY``: connectors never follow redirects (a
                                          redirected POST would turn into a GET); like
                                          Standard Webhooks senders we count it as a failed
                                          attempt, so a moved endpoint ends in the dead
                                          letter queue after the retry schedule, with a
                                          detail that says to fix the configured URL
401, 403                                  ``UNAUTHORIZED``
408, 425, 429, 5xx                        ``RETRY``, honouring ``Retry-After`` (seconds or
                                          HTTP-date)
other 4xx (400, 404, 409, 422, ...)       ``REJECTED``: the payload or target is wrong;
                                          sending it again cannot help
timeouts, connection errors, broken       ``RETRY``
responses
invalid URL / schema (configuration)      ``REJECTED``
========================================  ===============================================

``detail`` never carries request URLs' paths or queries, headers, or secrets: response
bodies are truncated and scrubbed of every secret string the connector holds.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Iterable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from connectors.base import Outcome, Result

RETRY_STATUSES = frozenset({408, 425, 429})
AUTH_STATUSES = frozenset({401, 403})
BODY_EXCERPT = 300
SCRUBBED = "[secret]"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), else None."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a zone-less one is read as such
        return None
    current = time.time() if now is None else now
    return max(0.0, math.ceil(when.timestamp() - current))


def basic_auth_token(username: str, password: str) -> str:
    """The base64 credentials of an ``Authorization: Basic`` header (a secret to scrub)."""
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret in ``text``, longest first."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, SCRUBBED)
    return text


def origin(url: str) -> str:
    """``host:port`` of a URL: safe to show (paths and queries may carry tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or "the target"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def _excerpt(response: requests.Response, secrets: Iterable[str]) -> str:
    try:
        text = response.text
    except (requests.RequestException, UnicodeError, LookupError):
        return ""
    text = " ".join(text.split())
    if len(text) > BODY_EXCERPT:
        text = text[:BODY_EXCERPT] + "..."
    return scrub(text, secrets)


def outcome_for_status(status: int) -> Outcome:
    """The shared status-code rule (see the module docstring)."""
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status in AUTH_STATUSES:
        return Outcome.UNAUTHORIZED
    if 300 <= status < 400 or status in RETRY_STATUSES or status >= 500:
        return Outcome.RETRY
    return Outcome.REJECTED


def result_from_response(
    response: requests.Response,
    *,
    secrets: Iterable[str] = (),
    external_id: str | None = None,
    what: str = "",
    now: float | None = None,
) -> Result:
    """A :class:`Result` for ``response``. ``external_id`` is kept only when delivered."""
    status = response.status_code
    outcome = outcome_for_status(status)
    label = f"{what}: " if what else ""
    reason = f"{label}HTTP {status}"
    if response.reason:
        reason += f" {response.reason}"
    if outcome is Outcome.DELIVERED:
        return Result(outcome, external_id=external_id, detail=reason, status_code=status)
    if 300 <= status < 400:
        reason += " (redirect not followed: update the configured URL)"
    body = _excerpt(response, secrets)
    detail = f"{reason}: {body}" if body else reason
    retry_after = None
    if outcome is Outcome.RETRY:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=now)
    return Result(outcome, detail=detail, retry_after=retry_after, status_code=status)


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    what: str = "",
    **kwargs: Any,
) -> requests.Response | Result:
    """Send one request without following redirects; a :class:`Result` if no response came."""
    try:
        return session.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
    except requests.RequestException as exc:
        return result_from_exception(exc, url=url, what=what)


def result_from_exception(exc: requests.RequestException, *, url: str, what: str = "") -> Result:
    """A :class:`Result` for a request that got no response.

    The detail names the failure and the target's host only: exception messages repeat the
    full URL, whose path or query may carry tokens.
    """
    label = f"{what}: " if what else ""
    where = origin(url)
    kind = type(exc).__name__
    if isinstance(exc, requests.Timeout):
        return Result(Outcome.RETRY, detail=f"{label}timed out waiting for {where} ({kind})")
    if isinstance(exc, requests.exceptions.SSLError):
        return Result(Outcome.RETRY, detail=f"{label}TLS handshake with {where} failed ({kind})")
    if isinstance(exc, requests.ConnectionError):
        return Result(Outcome.RETRY, detail=f"{label}could not connect to {where} ({kind})")
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return Result(Outcome.REJECTED, detail=f"{label}invalid target URL ({kind})")
    if isinstance(exc, requests.exceptions.InvalidSchema | requests.exceptions.InvalidHeader):
        return Result(Outcome.REJECTED, detail=f"{label}request cannot be sent ({kind})")
    return Result(Outcome.RETRY, detail=f"{label}request to {where} failed ({kind})")
