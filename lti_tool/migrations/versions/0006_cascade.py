"""cascade: pathway credentials withdrawn by the cascade (so only those come back)

Revision ID: 0006_cascade
Revises: 0005
Create Date: 2026-11-22 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.models.base

revision: str = "0006_cascade"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = lti_tool.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pathway_withdrawals",
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("pathway_id", sa.Integer(), nullable=False),
        sa.Column("cause_award_id", sa.Integer(), nullable=True),
        sa.Column("cause_status", sa.String(length=16), nullable=False),
        sa.Column("withdrawn_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["award_id"],
            ["awards.id"],
            name=op.f("fk_pathway_withdrawals_award_id_awards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_pathway_withdrawals_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pathway_id"],
            ["pathways.id"],
            name=op.f("fk_pathway_withdrawals_pathway_id_pathways"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cause_award_id"],
            ["awards.id"],
            name=op.f("fk_pathway_withdrawals_cause_award_id_awards"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("award_id", name=op.f("pk_pathway_withdrawals")),
    )
    op.create_index(
        op.f("ix_pathway_withdrawals_platform_id"),
        "pathway_withdrawals",
        ["platform_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pathway_withdrawals_platform_id"), table_name="pathway_withdrawals")
    op.drop_table("pathway_withdrawals")
