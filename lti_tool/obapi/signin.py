"""The learner's first-party sign-in for the authorization endpoint.

The tool has no passwords: learners arrive from the LMS with a tool session that lives in the
LMS frame's URLs. A wallet opens the authorization endpoint in a top-level tab, where that
session does not exist. So the learner page hands out a one-time link (a few minutes, single
use); opened top-level, it becomes a first-party cookie session bound to that learner
(HttpOnly, SameSite=Lax, Secure on https). Tokens are random and stored as SHA-256 digests.

Framework-free; nothing here commits.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, joinedload

from lti_tool.models import ObApiSignIn, User, utcnow
from lti_tool.models.obapi import SIGNIN_LINK, SIGNIN_SESSION, secret_hash

from .store import new_secret

LINK_TTL = timedelta(minutes=5)
MAX_TOKEN = 128


def create_link(session: Session, user_id: int) -> str:
    """A one-time sign-in link token for ``user_id`` (valid a few minutes)."""
    token = new_secret()
    now = utcnow()
    session.execute(
        delete(ObApiSignIn).where(ObApiSignIn.expires_at <= now)  # housekeeping, same table
    )
    session.add(
        ObApiSignIn(
            token_hash=secret_hash(token),
            kind=SIGNIN_LINK,
            user_id=user_id,
            expires_at=now + LINK_TTL,
        )
    )
    session.flush()
    return token


def redeem_link(session: Session, token: str, *, ttl: int) -> str | None:
    """Consume a link token: the new cookie session token, or None (unknown, used, expired)."""
    if not token or len(token) > MAX_TOKEN:
        return None
    row = session.scalars(
        select(ObApiSignIn)
        .where(ObApiSignIn.token_hash == secret_hash(token), ObApiSignIn.kind == SIGNIN_LINK)
        .with_for_update()
    ).one_or_none()
    if row is None:
        return None
    user_id, valid = row.user_id, row.expires_at > utcnow()
    session.delete(row)  # single use, whatever the outcome
    session.flush()
    if not valid:
        return None
    cookie = new_secret()
    session.add(
        ObApiSignIn(
            token_hash=secret_hash(cookie),
            kind=SIGNIN_SESSION,
            user_id=user_id,
            expires_at=utcnow() + timedelta(seconds=ttl),
        )
    )
    session.flush()
    return cookie


def session_user(session: Session, cookie: str | None) -> User | None:
    """The learner of a live cookie session."""
    if not cookie or len(cookie) > MAX_TOKEN:
        return None
    row = session.scalars(
        select(ObApiSignIn)
        .where(ObApiSignIn.token_hash == secret_hash(cookie), ObApiSignIn.kind == SIGNIN_SESSION)
        .options(joinedload(ObApiSignIn.user).joinedload(User.platform))
    ).one_or_none()
    if row is None or row.expires_at <= utcnow():
        return None
    return row.user


def end_session(session: Session, cookie: str | None) -> None:
    if cookie and len(cookie) <= MAX_TOKEN:
        session.execute(delete(ObApiSignIn).where(ObApiSignIn.token_hash == secret_hash(cookie)))


def csrf_token(secret_key: str, cookie: str) -> str:
    """The consent form's CSRF token: an HMAC of the cookie session with the app secret."""
    return hmac.new(
        secret_key.encode(), b"microcred-obapi-consent:" + cookie.encode(), hashlib.sha256
    ).hexdigest()


def check_csrf(secret_key: str, cookie: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(str(given), csrf_token(secret_key, cookie))
