"""sync: connections, deliveries (the transactional outbox), delivery attempts, identity
mappings

Revision ID: 0004_sync
Revises: 0003
Create Date: 2026-11-22 06:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.models.base

revision: str = "0004_sync"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("secrets_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("identity_mapping", sa.String(length=80), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("pause_reason", sa.Text(), nullable=True),
        sa.Column("failing_since", lti_tool.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True),
        sa.Column("bucket_tokens", sa.Double(), nullable=True),
        sa.Column(
            "bucket_updated_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("updated_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_connections_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
        sa.UniqueConstraint("platform_id", "name", name=op.f("uq_connections_platform_id_name")),
    )
    op.create_table(
        "identity_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("sub", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("updated_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_identity_mappings_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_mappings")),
        sa.UniqueConstraint(
            "connection_id", "sub", name=op.f("uq_identity_mappings_connection_id_sub")
        ),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("award_status", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_until", lti_tool.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(length=16), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_detail", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=512), nullable=True),
        sa.Column("delivered_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["award_id"],
            ["awards.id"],
            name=op.f("fk_deliveries_award_id_awards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_deliveries_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_deliveries_idempotency_key")),
    )
    op.create_index(op.f("ix_deliveries_award_id"), "deliveries", ["award_id"], unique=False)
    op.create_index(
        op.f("ix_deliveries_connection_id"),
        "deliveries",
        ["connection_id", "award_id", "sequence"],
        unique=False,
    )
    op.create_index(
        op.f("ix_deliveries_status"), "deliveries", ["status", "next_attempt_at"], unique=False
    )
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=False),
        sa.Column("started_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_delivery_attempts_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
    )
    op.create_index(
        op.f("ix_delivery_attempts_delivery_id"), "delivery_attempts", ["delivery_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_delivery_attempts_delivery_id"), table_name="delivery_attempts")
    op.drop_table("delivery_attempts")
    op.drop_index(op.f("ix_deliveries_status"), table_name="deliveries")
    op.drop_index(op.f("ix_deliveries_connection_id"), table_name="deliveries")
    op.drop_index(op.f("ix_deliveries_award_id"), table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("identity_mappings")
    op.drop_table("connections")
