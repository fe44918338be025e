"""linkedin: tenant organization id, connected accounts, sign-in states, uses per award

Revision ID: 0006_linkedin
Revises: 0005
Create Date: 2026-11-22 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.models.base

revision: str = "0006_linkedin"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = lti_tool.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "linkedin_tenants",
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.String(length=32), nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["platform_id"], ["platforms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("platform_id"),
    )
    op.create_table(
        "linkedin_accounts",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("member_sub", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("token_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("expires_at", UTC, nullable=True),
        sa.Column("reconnect_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "linkedin_auth_states",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column("session_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("verifier_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["award_id"], ["awards.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("state_hash"),
    )
    op.create_index(
        op.f("ix_linkedin_auth_states_expires_at"), "linkedin_auth_states", ["expires_at"]
    )
    op.create_table(
        "linkedin_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("post_urn", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["award_id"], ["awards.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_linkedin_uses_award_id"), "linkedin_uses", ["award_id", "kind"])
    op.create_index(op.f("ix_linkedin_uses_user_id"), "linkedin_uses", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_linkedin_uses_user_id"), table_name="linkedin_uses")
    op.drop_index(op.f("ix_linkedin_uses_award_id"), table_name="linkedin_uses")
    op.drop_table("linkedin_uses")
    op.drop_index(op.f("ix_linkedin_auth_states_expires_at"), table_name="linkedin_auth_states")
    op.drop_table("linkedin_auth_states")
    op.drop_table("linkedin_accounts")
    op.drop_table("linkedin_tenants")
