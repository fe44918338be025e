"""The long-lived parts one app (or CLI command) shares: settings, database, keys, HTTP."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from . import __version__
from .db import Database
from .keys import SigningKeyCache
from .lti.platform_keys import PlatformKeyCache
from .lti.service_tokens import ServiceTokenCache
from .secretbox import SecretBox
from .settings import Settings

USER_AGENT = f"Microcred/{__version__} (+https://github.com/microcred/microcred)"


def http_session() -> requests.Session:
    """Outbound HTTP: a User-Agent (Canvas requires one) and pooled connections."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
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

    @classmethod
    def build(cls, settings: Settings, database: Database | None = None) -> Services:
        database = database or Database(settings.database_url)
        box = SecretBox(settings.secret_key, settings.previous_secret_keys)
        http = http_session()
        return cls(
            settings=settings,
            database=database,
            secretbox=box,
            signing_keys=SigningKeyCache(box),
            platform_keys=PlatformKeyCache(
                http,
                ttl=settings.platform_jwks_ttl,
                refetch_interval=settings.platform_jwks_refetch_interval,
                timeout=settings.http_timeout,
            ),
            service_tokens=ServiceTokenCache(http, timeout=settings.http_timeout),
            http=http,
        )
