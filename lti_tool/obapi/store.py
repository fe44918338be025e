"""Clients, codes, tokens and connections of the OB 3.0 API, in the caller's transaction.

Framework-free; nothing here commits. Every secret is random and stored as its SHA-256.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from lti_tool.models import ObApiAuthorizationCode, ObApiClient, ObApiToken, User, utcnow
from lti_tool.models.obapi import secret_hash

CODE_TTL = timedelta(seconds=600)  # spec: single use, about 600 s


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


# -- clients -------------------------------------------------------------------------------


def register_client(
    session: Session, metadata: dict[str, Any], *, client_id: str, client_secret: str
) -> ObApiClient:
    known = {
        "client_name",
        "redirect_uris",
        "scope",
        "grant_types",
        "response_types",
        "token_endpoint_auth_method",
    }
    client = ObApiClient(
        client_id=client_id,
        client_secret_hash=secret_hash(client_secret),
        client_name=str(metadata["client_name"]),
        redirect_uris=list(metadata["redirect_uris"]),
        scope=str(metadata.get("scope") or ""),
        grant_types=list(metadata["grant_types"]),
        response_types=list(metadata["response_types"]),
        token_endpoint_auth_method=str(metadata["token_endpoint_auth_method"]),
        client_metadata={k: v for k, v in metadata.items() if k not in known},
    )
    session.add(client)
    session.flush()
    return client


def find_client(session: Session, client_id: str | None) -> ObApiClient | None:
    if not client_id or len(client_id) > 64:
        return None
    return session.scalars(
        select(ObApiClient).where(ObApiClient.client_id == client_id)
    ).one_or_none()


# -- authorization codes ------------------------------------------------------------------


def save_code(
    session: Session,
    code: str,
    *,
    client: ObApiClient,
    user_id: int,
    redirect_uri: str,
    scope: str,
    code_challenge: str,
    code_challenge_method: str,
) -> ObApiAuthorizationCode:
    # Housekeeping on the way: codes live 600 s; a day later nothing needs them any more
    # (a replay that late is refused as unknown).
    session.execute(
        delete(ObApiAuthorizationCode).where(
            ObApiAuthorizationCode.expires_at < utcnow() - timedelta(days=1)
        )
    )
    row = ObApiAuthorizationCode(
        code_hash=secret_hash(code),
        client_id=client.id,
        user_id=user_id,
        redirect_uri=redirect_uri,
        scope=scope,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        expires_at=utcnow() + CODE_TTL,
    )
    session.add(row)
    session.flush()
    return row


def redeemable_code(
    session: Session, code: str, client: ObApiClient
) -> ObApiAuthorizationCode | None:
    """The unused, unexpired code of ``client`` (locked). A code presented again after use
    revokes every token issued for it (RFC 6749 §4.1.2) and is refused."""
    row = session.scalars(
        select(ObApiAuthorizationCode)
        .where(
            ObApiAuthorizationCode.code_hash == secret_hash(code),
            ObApiAuthorizationCode.client_id == client.id,
        )
        .with_for_update()
    ).one_or_none()
    if row is None:
        return None
    if row.used_at is not None:
        revoke_tokens_of_code(session, row.id)
        return None
    if row.expires_at <= utcnow():
        return None
    return row


def mark_code_used(session: Session, row: ObApiAuthorizationCode) -> None:
    row.used_at = utcnow()
    session.flush()


def revoke_tokens_of_code(session: Session, code_id: int) -> None:
    session.execute(
        update(ObApiToken)
        .where(ObApiToken.authorization_code_id == code_id, ObApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


# -- tokens ------------------------------------------------------------------------------


def save_token(
    session: Session,
    token: dict[str, Any],
    *,
    client: ObApiClient,
    user_id: int,
    refresh_ttl: int,
    code_id: int | None,
) -> ObApiToken:
    now = utcnow()
    refresh = token.get("refresh_token")
    row = ObApiToken(
        client_id=client.id,
        user_id=user_id,
        authorization_code_id=code_id,
        access_token_hash=secret_hash(str(token["access_token"])),
        refresh_token_hash=secret_hash(str(refresh)) if refresh else None,
        scope=str(token.get("scope") or ""),
        issued_at=now,
        expires_in=int(token["expires_in"]),
        refresh_expires_at=now + timedelta(seconds=refresh_ttl) if refresh else None,
    )
    session.add(row)
    session.flush()
    return row


def token_by_access(session: Session, access_token: str) -> ObApiToken | None:
    if not access_token or len(access_token) > 256:
        return None
    return session.scalars(
        select(ObApiToken).where(ObApiToken.access_token_hash == secret_hash(access_token))
    ).one_or_none()


def token_by_refresh(session: Session, refresh_token: str) -> ObApiToken | None:
    if not refresh_token or len(refresh_token) > 256:
        return None
    row = session.scalars(
        select(ObApiToken).where(ObApiToken.refresh_token_hash == secret_hash(refresh_token))
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if row.refresh_expires_at is None or row.refresh_expires_at <= utcnow():
        return None
    return row


def find_token(session: Session, value: str, hint: str | None) -> ObApiToken | None:
    """For revocation: an access or a refresh token, the hinted kind first."""
    lookups = [token_by_access, _token_by_refresh_any]
    if hint == "refresh_token":
        lookups.reverse()
    for lookup in lookups:
        found = lookup(session, value)
        if found is not None:
            return found
    return None


def _token_by_refresh_any(session: Session, value: str) -> ObApiToken | None:
    if not value or len(value) > 256:
        return None
    return session.scalars(
        select(ObApiToken).where(ObApiToken.refresh_token_hash == secret_hash(value))
    ).one_or_none()


def revoke_token(session: Session, row: ObApiToken) -> None:
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()


# -- a learner's connections ------------------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    client_id: str
    client_name: str
    redirect_hosts: tuple[str, ...]
    scopes: tuple[str, ...]
    connected_at: datetime


def connections(session: Session, user: User) -> list[Connection]:
    """Clients holding a live grant of ``user`` (an unrevoked token whose access or refresh
    token is still usable), oldest connection first."""
    now = utcnow()
    rows = session.execute(
        select(ObApiClient, func.min(ObApiToken.issued_at))
        .join(ObApiToken, ObApiToken.client_id == ObApiClient.id)
        .where(
            ObApiToken.user_id == user.id,
            ObApiToken.revoked_at.is_(None),
            (ObApiToken.refresh_expires_at > now)
            | (ObApiToken.refresh_expires_at.is_(None) & (ObApiToken.issued_at > now - _MAX_TTL)),
        )
        .group_by(ObApiClient.id)
        .order_by(func.min(ObApiToken.issued_at), ObApiClient.id)
    ).all()
    out = []
    for client, since in rows:
        scopes = session.scalars(
            select(ObApiToken.scope).where(
                ObApiToken.user_id == user.id,
                ObApiToken.client_id == client.id,
                ObApiToken.revoked_at.is_(None),
            )
        ).all()
        out.append(
            Connection(
                client_id=client.client_id,
                client_name=client.client_name,
                redirect_hosts=tuple(sorted({_host(u) for u in client.redirect_uris})),
                scopes=tuple(sorted({s for scope in scopes for s in scope.split()})),
                connected_at=since,
            )
        )
    return out


#: Access tokens without a refresh token count as a live connection for at most this long.
_MAX_TTL = timedelta(days=1)


def disconnect(session: Session, user: User, client_id: str) -> bool:
    """Revoke every token ``client_id`` holds for ``user`` (and its unused codes)."""
    client = find_client(session, client_id)
    if client is None:
        return False
    now = utcnow()
    live = session.scalars(
        select(ObApiToken).where(
            ObApiToken.user_id == user.id,
            ObApiToken.client_id == client.id,
            ObApiToken.revoked_at.is_(None),
        )
    ).all()
    for row in live:
        row.revoked_at = now
    session.execute(
        update(ObApiAuthorizationCode)
        .where(
            ObApiAuthorizationCode.user_id == user.id,
            ObApiAuthorizationCode.client_id == client.id,
            ObApiAuthorizationCode.used_at.is_(None),
        )
        .values(used_at=now)
    )
    session.flush()
    return bool(live)


def _host(uri: str) -> str:
    return urlsplit(uri).netloc
