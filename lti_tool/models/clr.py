"""CLR 2.0 credentials issued when a learner completes a pathway (one per pathway award)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, CreatedAtMixin, utcnow


class IssuedClr(CreatedAtMixin, Base):
    """The signed ``ClrCredential`` bundling a completed pathway's credentials."""

    __tablename__ = "issued_clrs"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id", ondelete="CASCADE"), unique=True)
    pathway_id: Mapped[int] = mapped_column(ForeignKey("pathways.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platforms.id", ondelete="CASCADE"), index=True
    )
    key_id: Mapped[int] = mapped_column(ForeignKey("issuer_keys.id"))
    credential: Mapped[dict[str, Any]] = mapped_column(JSON)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
