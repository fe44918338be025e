"""Awards: one learner holds one achievement, with a status that changes over time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .achievements import Achievement
from .base import Base, CreatedAtMixin, utcnow
from .people import User

STATUS_ACTIVE = "active"
STATUS_SUSPENDED = "suspended"
STATUS_REVOKED = "revoked"
STATUS_EXPIRED = "expired"
STATUSES = (STATUS_ACTIVE, STATUS_SUSPENDED, STATUS_REVOKED, STATUS_EXPIRED)

SOURCES = ("manual", "bulk", "roster", "rule", "pathway", "api")


class Award(CreatedAtMixin, Base):
    """An achievement held by a learner: at most one row per (achievement, learner).

    `version` starts at 1 and grows by one on every change (SQLAlchemy's version counter, so
    a stale in-memory copy cannot overwrite a newer row): receivers order updates with it.
    """

    __tablename__ = "awards"
    __table_args__ = (
        UniqueConstraint("achievement_id", "user_id"),
        Index(None, "platform_id", "user_id"),
        Index(None, "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # The tenant, copied from the achievement so tenant-scoped queries need no join.
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    evidence_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    evidence_text: Mapped[str | None] = mapped_column(Text, default=None)
    # {"value": 87.5} (Percent) or {"level": "Proficient"} (rubric level, letter grade)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=STATUS_ACTIVE)
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    status_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    achievement: Mapped[Achievement] = relationship()
    learner: Mapped[User] = relationship()

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_active(self) -> bool:
        return self.status == STATUS_ACTIVE
