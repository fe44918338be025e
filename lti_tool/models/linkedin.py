"""LinkedIn: a tenant's organization id, learners' connected accounts, sign-in states, and
which credentials a learner put on LinkedIn (to tell them to remove revoked ones)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, CreatedAtMixin, utcnow

USE_PROFILE = "profile"  # the learner opened the Add-to-Profile form
USE_POST = "post"  # the learner shared a post through the Posts API
USES = (USE_PROFILE, USE_POST)


class LinkedInTenant(Base):
    """A tenant's LinkedIn settings: its organization (company page) id, if it has one."""

    __tablename__ = "linkedin_tenants"

    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platforms.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[str | None] = mapped_column(String(32), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LinkedInAccount(CreatedAtMixin, Base):
    """A learner's LinkedIn member id and access token (encrypted; LinkedIn: 60 days)."""

    __tablename__ = "linkedin_accounts"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    member_sub: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    scope: Mapped[str] = mapped_column(String(255), default="")
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    # Why the learner must connect again (token expired or refused), shown on their page.
    reconnect_reason: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LinkedInAuthState(CreatedAtMixin, Base):
    """One pending "Sign In with LinkedIn": the ``state`` LinkedIn hands back, single use.

    The browser tab that returns from LinkedIn carries no tool session (no third-party
    cookies, and ``redirect_uri`` must match exactly), so the session token travels here,
    encrypted, keyed by the SHA-256 of ``state``.
    """

    __tablename__ = "linkedin_auth_states"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id", ondelete="CASCADE"))
    session_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    verifier_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LinkedInUse(CreatedAtMixin, Base):
    """A learner put a credential on LinkedIn (opened Add to Profile, or posted it)."""

    __tablename__ = "linkedin_uses"
    __table_args__ = (Index(None, "award_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    post_urn: Mapped[str | None] = mapped_column(String(255), default=None)
