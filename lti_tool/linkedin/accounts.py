"""Learners' LinkedIn accounts, pending sign-ins and uses, and tenants' LinkedIn settings.

Services flush; the web boundary commits. Tokens and carried session tokens are encrypted
with the app's :class:`~lti_tool.secretbox.SecretBox`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..models import Platform, utcnow
from ..models.linkedin import (
    USES,
    LinkedInAccount,
    LinkedInAuthState,
    LinkedInTenant,
    LinkedInUse,
)
from ..secretbox import SecretBox, SecretBoxError
from .oauth import Member

STATE_TTL = timedelta(minutes=10)
EXPIRED = "Your LinkedIn sign-in has expired (LinkedIn sign-ins last 60 days)."
ORGANIZATION_ID = re.compile(r"^[0-9]{1,20}$")


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# -- pending sign-ins -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    user_id: int
    award_id: int
    session_token: str
    code_verifier: str | None


def start_sign_in(
    session: Session,
    box: SecretBox,
    *,
    user_id: int,
    award_id: int,
    session_token: str,
    code_verifier: str | None,
    now: datetime | None = None,
) -> str:
    """A fresh ``state`` for LinkedIn; the tool session travels encrypted in our database."""
    now = now or utcnow()
    session.execute(delete(LinkedInAuthState).where(LinkedInAuthState.expires_at <= now))
    state = secrets.token_urlsafe(32)
    session.add(
        LinkedInAuthState(
            state_hash=_hash(state),
            user_id=user_id,
            award_id=award_id,
            session_encrypted=box.encrypt(session_token.encode()),
            verifier_encrypted=box.encrypt(code_verifier.encode()) if code_verifier else None,
            expires_at=now + STATE_TTL,
        )
    )
    session.flush()
    return state


def consume_state(
    session: Session, box: SecretBox, state: str, *, now: datetime | None = None
) -> PendingSignIn | None:
    """The sign-in ``state`` belongs to, once (the row is deleted); ``None`` if unknown/old."""
    if not state or len(state) > 256:
        return None
    table = LinkedInAuthState
    # One atomic DELETE ... RETURNING: two callbacks racing with the same state cannot both win.
    row = session.execute(
        delete(table)
        .where(table.state_hash == _hash(state))
        .returning(
            table.user_id,
            table.award_id,
            table.session_encrypted,
            table.verifier_encrypted,
            table.expires_at,
        )
    ).one_or_none()
    if row is None or row.expires_at <= (now or utcnow()):
        return None
    try:
        token = box.decrypt(row.session_encrypted).decode()
        verifier = box.decrypt(row.verifier_encrypted).decode() if row.verifier_encrypted else None
    except SecretBoxError:
        return None
    return PendingSignIn(row.user_id, row.award_id, token, verifier)


# -- accounts ---------------------------------------------------------------------------------


def save_account(
    session: Session, box: SecretBox, user_id: int, member: Member, *, now: datetime | None = None
) -> LinkedInAccount:
    now = now or utcnow()
    account = session.get(LinkedInAccount, user_id)
    if account is None:
        account = LinkedInAccount(user_id=user_id, member_sub=member.sub)
        session.add(account)
    account.member_sub = member.sub
    account.name = member.name[:255]
    account.token_encrypted = box.encrypt(member.access_token.encode())
    account.scope = member.scope[:255]
    account.expires_at = now + timedelta(seconds=member.expires_in)
    account.reconnect_reason = None
    session.flush()
    return account


@dataclass(frozen=True, slots=True)
class Connection:
    """A learner's LinkedIn state as the pages need it."""

    connected: bool
    member_sub: str | None = None
    name: str = ""
    access_token: str | None = None
    reconnect_reason: str | None = None


def connection(
    session: Session, box: SecretBox, user_id: int, *, now: datetime | None = None
) -> Connection:
    """The usable token, or why the learner must connect (again). Expiry is checked here."""
    account = session.get(LinkedInAccount, user_id)
    if account is None:
        return Connection(connected=False)
    now = now or utcnow()
    if account.token_encrypted is None:
        return Connection(False, account.member_sub, account.name, None, account.reconnect_reason)
    if account.expires_at is not None and account.expires_at <= now:
        return Connection(False, account.member_sub, account.name, None, EXPIRED)
    try:
        token = box.decrypt(account.token_encrypted).decode()
    except SecretBoxError:
        return Connection(
            False, account.member_sub, account.name, None, "Please connect LinkedIn again."
        )
    return Connection(True, account.member_sub, account.name, token, None)


def mark_refused(session: Session, user_id: int, reason: str) -> None:
    """Forget a token LinkedIn refused, and remember why (shown to the learner)."""
    account = session.get(LinkedInAccount, user_id)
    if account is not None:
        account.token_encrypted = None
        account.reconnect_reason = reason
        session.flush()


def disconnect(session: Session, user_id: int) -> None:
    session.execute(delete(LinkedInAccount).where(LinkedInAccount.user_id == user_id))


# -- uses -------------------------------------------------------------------------------------


def record_use(
    session: Session, *, award_id: int, user_id: int, kind: str, post_urn: str | None = None
) -> None:
    """Remember that the learner put ``award_id`` on LinkedIn (one row per profile use)."""
    if kind not in USES:
        raise ValueError(f"unknown LinkedIn use {kind!r}")
    if post_urn is None:
        exists = session.scalar(
            select(LinkedInUse.id).where(LinkedInUse.award_id == award_id, LinkedInUse.kind == kind)
        )
        if exists is not None:
            return
    session.add(LinkedInUse(award_id=award_id, user_id=user_id, kind=kind, post_urn=post_urn))
    session.flush()


def awards_on_linkedin(session: Session, user_id: int, award_ids: Iterable[int]) -> set[int]:
    """Which of ``award_ids`` the learner added to or posted on LinkedIn."""
    ids = list(award_ids)
    if not ids:
        return set()
    return set(
        session.scalars(
            select(LinkedInUse.award_id).where(
                LinkedInUse.user_id == user_id, LinkedInUse.award_id.in_(ids)
            )
        )
    )


# -- tenants ----------------------------------------------------------------------------------


def organization_id(session: Session, platform_id: int) -> str | None:
    row = session.get(LinkedInTenant, platform_id)
    return row.organization_id if row is not None else None


def set_organization_id(session: Session, platform_id: int, value: str | None) -> None:
    """Set (or clear, with ``None``/"") the tenant's LinkedIn organization id (digits)."""
    cleaned = (value or "").strip() or None
    if cleaned is not None and not ORGANIZATION_ID.match(cleaned):
        raise ValueError(
            "A LinkedIn organization id is the number in the company page's admin URL."
        )
    row = session.get(LinkedInTenant, platform_id)
    if row is None:
        row = LinkedInTenant(platform_id=platform_id)
        session.add(row)
    row.organization_id = cleaned
    session.flush()


def set_tenant_organization_id(
    session: Session, *, issuer: str, client_id: str, value: str | None
) -> str:
    """:func:`set_organization_id` for the registration ``issuer`` + ``client_id``."""
    platform_id = session.scalar(
        select(Platform.id).where(Platform.issuer == issuer, Platform.client_id == client_id)
    )
    if platform_id is None:
        raise ValueError(f"no platform registration {issuer} ({client_id})")
    set_organization_id(session, platform_id, value)
    shown = organization_id(session, platform_id)
    return f"LinkedIn organization id of {issuer} ({client_id}): {shown or 'none (name used)'}"
