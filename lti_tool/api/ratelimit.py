"""Per-client rate limiting (flask-limiter): `memory://` embedded, Redis when scaled out.

Every authenticated API call counts against one budget per client (`api_rate_limit`); the
token endpoint counts per remote address. Responses carry `RateLimit-Limit`,
`RateLimit-Remaining`, `RateLimit-Reset` (seconds); a 429 also `Retry-After`.
"""

from __future__ import annotations

import time

from flask import Flask, Response, current_app, g
from flask_limiter import HeaderNames, Limiter
from flask_limiter.util import get_remote_address

from lti_tool.settings import Settings

CONFIG_KEY = "MICROCRED_API_RATE_LIMIT"

limiter = Limiter(
    key_func=get_remote_address,
    headers_enabled=True,
    header_name_mapping={
        HeaderNames.LIMIT: "RateLimit-Limit",
        HeaderNames.REMAINING: "RateLimit-Remaining",
        HeaderNames.RESET: "RateLimit-Reset",
        HeaderNames.RETRY_AFTER: "Retry-After",
    },
    # A Redis outage must not take the API down: count in memory until it is back.
    in_memory_fallback_enabled=True,
    key_prefix="microcred",
)


def init_app(app: Flask, settings: Settings) -> None:
    app.config[CONFIG_KEY] = settings.api_rate_limit
    app.config["RATELIMIT_STORAGE_URI"] = settings.rate_limit_storage_url
    # Registered first, so it runs after flask-limiter's own after_request hook.
    app.after_request(_tidy_headers)
    limiter.init_app(app)


def _tidy_headers(response: Response) -> Response:
    """RateLimit-Reset as seconds from now (as the IETF RateLimit fields have it, not an
    epoch time), and Retry-After only where it means something: on a 429."""
    reset = response.headers.get("RateLimit-Reset")
    if reset is not None and reset.isdigit():
        response.headers["RateLimit-Reset"] = str(max(0, int(reset) - int(time.time())))
    if response.status_code != 429 and "RateLimit-Limit" in response.headers:
        response.headers.pop("Retry-After", None)
    return response


def _rate() -> str:
    value: str = current_app.config[CONFIG_KEY]
    return value


def _client_key() -> str:
    return f"api-client:{g.api_principal.client_pk}"


#: Decorator: one shared budget per API client across all endpoints.
per_client = limiter.shared_limit(_rate, scope="api-v1", key_func=_client_key)
#: Decorator for the token endpoint (no client known yet): per remote address.
per_address = limiter.limit(_rate, key_func=get_remote_address)
