"""rules: gradebook (AGS) rules, deep-linked placements, score post-backs

Revision ID: 0006_rules
Revises: 0005
Create Date: 2026-11-22 07:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.models.base

revision: str = "0006_rules"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = lti_tool.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "achievement_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("achievement_id", sa.Integer(), nullable=False),
        sa.Column("context_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.Column("lineitem_url", sa.String(length=2048), nullable=False),
        sa.Column("lineitem_label", sa.String(length=255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_run_at", _TS, nullable=True),
        sa.Column("last_outcome", sa.String(length=16), nullable=True),
        sa.Column("last_detail", sa.Text(), nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_achievement_rules_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["achievement_id"],
            ["achievements.id"],
            name=op.f("fk_achievement_rules_achievement_id_achievements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["context_id"],
            ["contexts.id"],
            name=op.f("fk_achievement_rules_context_id_contexts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_achievement_rules")),
        sa.UniqueConstraint(
            "achievement_id",
            "context_id",
            name=op.f("uq_achievement_rules_achievement_id_context_id"),
        ),
    )
    op.create_index(
        op.f("ix_achievement_rules_context_id"), "achievement_rules", ["context_id"], unique=False
    )
    op.create_table(
        "achievement_placements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("achievement_id", sa.Integer(), nullable=False),
        sa.Column("context_id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("with_lineitem", sa.Boolean(), nullable=False),
        sa.Column("resource_link_id", sa.Integer(), nullable=True),
        sa.Column("lineitem_url", sa.String(length=2048), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_achievement_placements_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["achievement_id"],
            ["achievements.id"],
            name=op.f("fk_achievement_placements_achievement_id_achievements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["context_id"],
            ["contexts.id"],
            name=op.f("fk_achievement_placements_context_id_contexts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resource_link_id"],
            ["resource_links.id"],
            name=op.f("fk_achievement_placements_resource_link_id_resource_links"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_achievement_placements")),
        sa.UniqueConstraint("resource_id", name=op.f("uq_achievement_placements_resource_id")),
    )
    op.create_index(
        op.f("ix_achievement_placements_achievement_id"),
        "achievement_placements",
        ["achievement_id", "context_id"],
        unique=False,
    )
    op.create_table(
        "score_postbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("placement_id", sa.Integer(), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("score_given", sa.Double(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("done_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["achievement_placements.id"],
            name=op.f("fk_score_postbacks_placement_id_achievement_placements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["award_id"],
            ["awards.id"],
            name=op.f("fk_score_postbacks_award_id_awards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_score_postbacks_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_postbacks")),
        sa.UniqueConstraint(
            "award_id", "placement_id", name=op.f("uq_score_postbacks_award_id_placement_id")
        ),
    )
    op.create_index(
        op.f("ix_score_postbacks_status"),
        "score_postbacks",
        ["status", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_score_postbacks_status"), table_name="score_postbacks")
    op.drop_table("score_postbacks")
    op.drop_index(
        op.f("ix_achievement_placements_achievement_id"), table_name="achievement_placements"
    )
    op.drop_table("achievement_placements")
    op.drop_index(op.f("ix_achievement_rules_context_id"), table_name="achievement_rules")
    op.drop_table("achievement_rules")
