"""Short-lived LTI state: OIDC login state + nonce, and pylti1p3 launch data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, CreatedAtMixin


class LoginState(CreatedAtMixin, Base):
    """Issued at OIDC login, consumed exactly once at launch (DELETE ... RETURNING)."""

    __tablename__ = "lti_login_states"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    # Random value held by the browser (cookie or platform storage), never sent to the LMS.
    browser_binding: Mapped[str] = mapped_column(String(64))
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    # Login parameters, kept to restart the login in a new window when cookies are blocked.
    login_params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    storage_target: Mapped[str | None] = mapped_column(String(255), default=None)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LaunchData(Base):
    """Validated launch claims by launch id, for pylti1p3's `from_cache` (AGS, NRPS, DL)."""

    __tablename__ = "lti_launch_data"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(index=True)
