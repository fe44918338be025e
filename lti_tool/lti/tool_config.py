"""pylti1p3 tool configuration backed by our database (not JSON files).

Registrations are keyed by (issuer, client_id), each with many deployments (Canvas uses one
issuer for every Instructure-hosted tenant). The tool's signing key comes from the key table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pylti1p3.contrib.flask import FlaskRequest
from pylti1p3.deployment import Deployment as LtiDeployment
from pylti1p3.registration import Registration
from pylti1p3.tool_config import ToolConfAbstract
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..keys import SigningKey
from ..models import Deployment, Platform
from .errors import LaunchRefused


class PlatformRegistration(Registration):
    """A pylti1p3 Registration that knows its database row and loads the tool key lazily."""

    def __init__(self, platform: Platform, signing_key: Callable[[], SigningKey]) -> None:
        super().__init__()
        self.platform = platform
        self._signing_key = signing_key
        self.set_issuer(platform.issuer)
        self.set_client_id(platform.client_id)
        self.set_auth_login_url(platform.auth_login_url)
        self.set_auth_token_url(platform.auth_token_url)
        self.set_key_set_url(platform.key_set_url)
        if platform.auth_audience:
            self.set_auth_audience(platform.auth_audience)

    def get_tool_private_key(self) -> str:
        return self._signing_key().private_pem

    def get_kid(self) -> str:
        return self._signing_key().kid


# Built once: the same SQL as writing the query inline, without rebuilding the statement
# (and its cache key) on every login and launch.
_PLATFORMS_BY_ISSUER = select(Platform).where(Platform.issuer == bindparam("iss")).limit(2)
_PLATFORMS_BY_ISSUER_AND_CLIENT = (
    select(Platform)
    .where(Platform.issuer == bindparam("iss"), Platform.client_id == bindparam("client_id"))
    .limit(2)
)
_ACTIVE_DEPLOYMENT = (
    select(Deployment)
    .join(Platform)
    .where(
        Platform.issuer == bindparam("iss"),
        Platform.client_id == bindparam("client_id"),
        Deployment.deployment_id == bindparam("deployment_id"),
        Deployment.active.is_(True),
    )
    .limit(1)
)


class RegistrationCache:
    """Registrations by (issuer, client_id), kept `ttl` seconds per process.

    Every login and launch looks its registration up; this saves that query. Changes made
    in this process (dynamic registration) clear it at once; changes made by another
    process (`microcred platforms ...`) reach it within `ttl` seconds. Deployments are never
    cached, so a removed registration or deployment is refused at the next launch.
    """

    def __init__(self, ttl: float = 10.0) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, str], tuple[float, Platform]] = {}

    def get(self, iss: str, client_id: str) -> Platform | None:
        entry = self._entries.get((iss, client_id))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, platform: Platform) -> None:
        self._entries[(platform.issuer, platform.client_id)] = (
            time.monotonic() + self.ttl,
            platform,
        )

    def clear(self) -> None:
        self._entries.clear()


class DatabaseToolConf(ToolConfAbstract[FlaskRequest]):
    def __init__(
        self,
        session: Session,
        signing_key: Callable[[], SigningKey],
        cache: RegistrationCache | None = None,
    ) -> None:
        self._session = session
        self._signing_key = signing_key
        self._cache = cache

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_platform(self, iss: str, client_id: str | None) -> Platform:
        """The registration for (iss, client_id); client_id may be omitted if unambiguous."""
        if client_id and self._cache is not None:
            cached = self._cache.get(iss, client_id)
            if cached is not None:
                return cached
        if client_id:
            query, params = _PLATFORMS_BY_ISSUER_AND_CLIENT, {"iss": iss, "client_id": client_id}
        else:
            query, params = _PLATFORMS_BY_ISSUER, {"iss": iss}
        platforms = self._session.scalars(query, params).all()
        if not platforms:
            raise LaunchRefused(
                "This LMS is not registered with this tool. Ask your LMS administrator to "
                "install it (dynamic registration) or add it with `microcred platforms add`.",
                reason=f"no registration for iss={iss!r} client_id={client_id!r}",
            )
        if len(platforms) > 1:
            raise LaunchRefused(
                "Several registrations exist for this LMS and it did not say which one "
                "(client_id missing from the login request).",
                reason=f"ambiguous registration for iss={iss!r}, no client_id",
            )
        platform = platforms[0]
        if self._cache is not None:
            # Only column values are used from a cached row (never lazy relationships).
            self._session.expunge(platform)
            self._cache.put(platform)
        return platform

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration:
        return PlatformRegistration(self.find_platform(iss, None), self._signing_key)

    def find_registration_by_params(
        self, iss: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Registration:
        return PlatformRegistration(self.find_platform(iss, client_id), self._signing_key)

    def find_deployment(self, iss: str, deployment_id: str) -> LtiDeployment | None:
        raise NotImplementedError("registrations are always looked up with a client_id")

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str, *args: Any, **kwargs: Any
    ) -> LtiDeployment | None:
        row = self.find_deployment_row(iss, deployment_id, client_id)
        return LtiDeployment().set_deployment_id(row.deployment_id) if row else None

    def find_deployment_row(
        self, iss: str, deployment_id: str, client_id: str, *, session: Session | None = None
    ) -> Deployment | None:
        """The active deployment; never cached. `session`: run it in that one instead."""
        return (
            (session or self._session)
            .scalars(
                _ACTIVE_DEPLOYMENT,
                {"iss": iss, "client_id": client_id, "deployment_id": deployment_id},
            )
            .first()
        )
