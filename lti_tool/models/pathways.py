"""Pathways: stacks of achievements (all / any / N of, nested) that earn their own credential.

The requirement tree is stored as rows so that "which pathways depend on this achievement
or on that pathway" is one indexed query (the auto-award and the cycle check both ask it).
A `PathwayWithdrawal` marks a pathway credential that the cascade (not a person) withdrew,
so that only those come back by themselves when the requirements are met again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .achievements import Achievement
from .base import Base, CreatedAtMixin, utcnow

KIND_ALL_OF = "all_of"
KIND_ANY_OF = "any_of"
KIND_N_OF = "n_of"
KIND_ACHIEVEMENT = "achievement"
KIND_PATHWAY = "pathway"
GROUP_KINDS = (KIND_ALL_OF, KIND_ANY_OF, KIND_N_OF)
LEAF_KINDS = (KIND_ACHIEVEMENT, KIND_PATHWAY)
NODE_KINDS = GROUP_KINDS + LEAF_KINDS


class Pathway(CreatedAtMixin, Base):
    __tablename__ = "pathways"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    context_id: Mapped[int | None] = mapped_column(ForeignKey("contexts.id"), default=None)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    # The credential completing the pathway earns (achievement_type LearningProgram, ...).
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"), unique=True)
    archived_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    achievement: Mapped[Achievement] = relationship()
    nodes: Mapped[list[PathwayNode]] = relationship(
        back_populates="pathway",
        cascade="all, delete-orphan",
        foreign_keys="PathwayNode.pathway_id",
        order_by="PathwayNode.id",
    )


class PathwayNode(Base):
    """One node of a pathway's requirement tree; the root has no parent."""

    __tablename__ = "pathway_nodes"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('all_of', 'any_of', 'n_of', 'achievement', 'pathway')", name="kind"
        ),
        CheckConstraint(
            "(kind = 'achievement') = (achievement_id IS NOT NULL)", name="achievement_leaf"
        ),
        CheckConstraint("(kind = 'pathway') = (sub_pathway_id IS NOT NULL)", name="pathway_leaf"),
        CheckConstraint("(kind = 'n_of') = (required_count IS NOT NULL)", name="n_of_count"),
        Index(None, "pathway_id", "parent_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pathway_id: Mapped[int] = mapped_column(ForeignKey("pathways.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("pathway_nodes.id", ondelete="CASCADE"), default=None
    )
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[str] = mapped_column(String(16))
    required_count: Mapped[int | None] = mapped_column(default=None)
    achievement_id: Mapped[int | None] = mapped_column(
        ForeignKey("achievements.id"), default=None, index=True
    )
    sub_pathway_id: Mapped[int | None] = mapped_column(
        ForeignKey("pathways.id"), default=None, index=True
    )

    pathway: Mapped[Pathway] = relationship(back_populates="nodes", foreign_keys=[pathway_id])


class PathwayWithdrawal(Base):
    """The pathway award `award_id` was withdrawn by the cascade because its requirement tree
    stopped being met when `cause_award_id` became `cause_status`. The row lives exactly as
    long as that withdrawal stands: any later change of the award deletes it."""

    __tablename__ = "pathway_withdrawals"

    award_id: Mapped[int] = mapped_column(
        ForeignKey("awards.id", ondelete="CASCADE"), primary_key=True
    )
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platforms.id", ondelete="CASCADE"), index=True
    )
    pathway_id: Mapped[int] = mapped_column(ForeignKey("pathways.id", ondelete="CASCADE"))
    cause_award_id: Mapped[int | None] = mapped_column(
        ForeignKey("awards.id", ondelete="SET NULL"), default=None
    )
    cause_status: Mapped[str] = mapped_column(String(16))
    withdrawn_at: Mapped[datetime] = mapped_column(default=utcnow)
