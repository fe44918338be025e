"""The long-lived parts one app (or CLI command) shares: settings, database, keys, HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest, Response

from . import __version__
from .db import Database
from .housekeeping import Housekeeper
from .keys import SigningKeyCache
from .lti.platform_keys import PlatformKeyCache
from .lti.service_tokens import ServiceTokenCache
from .lti.tool_config import RegistrationCache
from .secretbox import SecretBox
from .settings import Settings

USER_AGENT = f"Microcred/{__version__} (+https://github.com/microcred/microcred)"


class _TimeoutAdapter(HTTPAdapter):
    """A default timeout for every call: pylti1p3's service calls pass none."""

    def __init__(self, timeout: float) -> None:
        super().__init__(pool_connections=16, pool_maxsize=32)
        self._timeout = timeout

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


def http_session(timeout: float = 10) -> requests.Session:
    """Outbound HTTP: a User-Agent (Canvas requires one), pooled connections, a timeout."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    adapter = _TimeoutAdapter(timeout)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass
class Services:
    settings: Settings
    database: Database
    secretbox: SecretBox
    signing_keys: SigningKeyCache
    platform_keys: PlatformKeyCache
    service_tokens: ServiceTokenCache
    http: requests.Session
    housekeeper: Housekeeper
    registrations: RegistrationCache

    @classmethod
    def build(cls, settings: Settings, database: Database | None = None) -> Services:
        database = database or Database(settings.database_url)
        box = SecretBox(settings.secret_key, settings.previous_secret_keys)
        http = http_session(settings.http_timeout)
        return cls(
            settings=settings,
            database=database,
            secretbox=box,
            signing_keys=SigningKeyCache(box),
            platform_keys=PlatformKeyCache(
                http,
                database,
                ttl=settings.platform_jwks_ttl,
                refetch_interval=settings.platform_jwks_refetch_interval,
                timeout=settings.http_timeout,
            ),
            service_tokens=ServiceTokenCache(http, timeout=settings.http_timeout),
            http=http,
            housekeeper=Housekeeper(),
            registrations=RegistrationCache(),
        )
