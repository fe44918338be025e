"""Gradebook rules (AGS) and course placements (Deep Linking) of achievements.

- `AchievementRule`: earn an achievement from an AGS line item's results, per course.
- `AchievementPlacement`: an achievement placed in a course by Deep Linking: the resource
  link that shows it and the line item the tool posts `Completed` scores back to.
- `ScorePostback`: one score to post to a placement's line item after an award committed;
  drained by the periodic gradebook job, retried with backoff, never losing the award.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, CreatedAtMixin, utcnow

RULE_SCORE_AT_LEAST = "score_at_least"  # resultScore / resultMaximum >= threshold %
RULE_COMPLETED = "completed"  # a result with a score is present (the activity was graded)
RULE_KINDS = (RULE_SCORE_AT_LEAST, RULE_COMPLETED)

POSTBACK_PENDING = "pending"
POSTBACK_DONE = "done"
POSTBACK_FAILED = "failed"  # retries exhausted or refused by the platform (kept for review)


class AchievementRule(CreatedAtMixin, Base):
    __tablename__ = "achievement_rules"
    __table_args__ = (UniqueConstraint("achievement_id", "context_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id", ondelete="CASCADE"))
    context_id: Mapped[int] = mapped_column(
        ForeignKey("contexts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    threshold: Mapped[float | None] = mapped_column(default=None)  # percent, for score rules
    lineitem_url: Mapped[str] = mapped_column(String(2048))
    lineitem_label: Mapped[str] = mapped_column(String(255), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_outcome: Mapped[str | None] = mapped_column(String(16), default=None)  # ok | error
    last_detail: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AchievementPlacement(CreatedAtMixin, Base):
    __tablename__ = "achievement_placements"
    __table_args__ = (
        UniqueConstraint("resource_id"),
        Index(None, "achievement_id", "context_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id", ondelete="CASCADE"))
    context_id: Mapped[int] = mapped_column(ForeignKey("contexts.id", ondelete="CASCADE"))
    # Our id for the placed item: the `resourceId` of its line item and the custom parameter
    # of its resource link, so launches and line items find their way back here.
    resource_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255), default="")
    with_lineitem: Mapped[bool] = mapped_column(default=False)
    # Learned later: the platform creates the link and line item after our response.
    resource_link_id: Mapped[int | None] = mapped_column(
        ForeignKey("resource_links.id", ondelete="SET NULL"), default=None
    )
    lineitem_url: Mapped[str | None] = mapped_column(String(2048), default=None)


class ScorePostback(CreatedAtMixin, Base):
    __tablename__ = "score_postbacks"
    __table_args__ = (
        UniqueConstraint("award_id", "placement_id"),
        Index(None, "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    placement_id: Mapped[int] = mapped_column(
        ForeignKey("achievement_placements.id", ondelete="CASCADE")
    )
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    score_given: Mapped[float] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=POSTBACK_PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    done_at: Mapped[datetime | None] = mapped_column(default=None)
