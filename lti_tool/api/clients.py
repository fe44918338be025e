"""API clients of a tenant: register (the secret is shown once), list, revoke.

Framework-free, shared by the CLI and the admin page. Secrets are random 256-bit values kept
only as a scrypt password hash (werkzeug); revoking a client also revokes its tokens.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from lti_tool.models import ApiClient, ApiToken, Platform, utcnow
from lti_tool.models.api_clients import SCOPES

CLIENT_ID_PREFIX = "mc_"


class ApiClientError(ValueError):
    """A client cannot be registered or changed; the message is for the admin."""


def hash_secret(secret: str) -> str:
    return generate_password_hash(secret, method="scrypt")


def check_secret(secret_hash: str, secret: str) -> bool:
    return check_password_hash(secret_hash, secret)


def check_scopes(scopes: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(s.strip() for s in scopes if s.strip()))
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown:
        raise ApiClientError(
            f"unknown scope(s) {', '.join(unknown)}; choose from {', '.join(SCOPES)}"
        )
    if not wanted:
        raise ApiClientError("give at least one scope")
    return wanted


def add_client(
    session: Session, *, platform_id: int, name: str, scopes: Iterable[str], created_by: str
) -> tuple[ApiClient, str]:
    """Register a client: (row, secret). The secret is not stored and cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 255:
        raise ApiClientError("a client name is 1 to 255 characters")
    if session.get(Platform, platform_id) is None:
        raise ApiClientError(f"no platform {platform_id}")
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        platform_id=platform_id,
        client_id=CLIENT_ID_PREFIX + secrets.token_hex(12),
        name=name,
        secret_hash=hash_secret(secret),
        scopes=check_scopes(scopes),
        created_by=created_by,
    )
    session.add(client)
    session.flush()
    return client, secret


def list_clients(session: Session, *, platform_id: int | None = None) -> list[ApiClient]:
    query = select(ApiClient).order_by(ApiClient.id)
    if platform_id is not None:
        query = query.where(ApiClient.platform_id == platform_id)
    return list(session.scalars(query))


def find_client(session: Session, client_id: str, *, platform_id: int | None = None) -> ApiClient:
    query = select(ApiClient).where(ApiClient.client_id == client_id)
    if platform_id is not None:
        query = query.where(ApiClient.platform_id == platform_id)
    found = session.scalars(query).one_or_none()
    if found is None:
        raise ApiClientError(f"no API client {client_id!r}")
    return found


def revoke_client(session: Session, client: ApiClient) -> None:
    """The client can get no new token and every token it holds stops working."""
    now = utcnow()
    if client.revoked_at is None:
        client.revoked_at = now
    session.execute(
        update(ApiToken)
        .where(ApiToken.api_client_id == client.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.flush()
