"""credentials: achievements, images, alignments, issuer profiles, awards, audit events,
pathways (+ a trigger that keeps audit_events append-only)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:22:29.369452
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.models.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_APPEND_ONLY = "audit_events is append-only"


def _create_audit_trigger() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
            f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
        )


def _drop_audit_trigger() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("occurred_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_audit_events_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_events_platform_id"), ["platform_id", "occurred_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_audit_events_subject_type"), ["subject_type", "subject_id"], unique=False
        )
    # UPDATE only: DELETE stays possible for tenant removal (ON DELETE CASCADE) and tests.
    _create_audit_trigger()

    op.create_table(
        "issuer_profiles",
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("updated_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_issuer_profiles_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("platform_id", name=op.f("pk_issuer_profiles")),
    )
    op.create_table(
        "achievements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("context_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("criteria_narrative", sa.Text(), nullable=True),
        sa.Column("criteria_url", sa.String(length=2048), nullable=True),
        sa.Column("achievement_type", sa.String(length=64), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("validity_days", sa.Integer(), nullable=True),
        sa.Column("evidence_required", sa.Boolean(), nullable=False),
        sa.Column("result_description", sa.JSON(), nullable=True),
        sa.Column("archived_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["context_id"], ["contexts.id"], name=op.f("fk_achievements_context_id_contexts")
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_achievements_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_achievements")),
    )
    with op.batch_alter_table("achievements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_achievements_platform_id"), ["platform_id", "context_id"], unique=False
        )

    op.create_table(
        "achievement_alignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("achievement_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("target_name", sa.String(length=255), nullable=False),
        sa.Column("target_url", sa.String(length=2048), nullable=False),
        sa.Column("target_description", sa.Text(), nullable=True),
        sa.Column("target_framework", sa.String(length=255), nullable=True),
        sa.Column("target_code", sa.String(length=255), nullable=True),
        sa.Column("target_type", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["achievement_id"],
            ["achievements.id"],
            name=op.f("fk_achievement_alignments_achievement_id_achievements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_achievement_alignments")),
    )
    with op.batch_alter_table("achievement_alignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_achievement_alignments_achievement_id"), ["achievement_id"], unique=False
        )

    op.create_table(
        "achievement_images",
        sa.Column("achievement_id", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("updated_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["achievement_id"],
            ["achievements.id"],
            name=op.f("fk_achievement_images_achievement_id_achievements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("achievement_id", name=op.f("pk_achievement_images")),
    )
    op.create_table(
        "awards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("achievement_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("issued_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("evidence_url", sa.String(length=2048), nullable=True),
        sa.Column("evidence_text", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column(
            "status_changed_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["achievement_id"],
            ["achievements.id"],
            name=op.f("fk_awards_achievement_id_achievements"),
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_awards_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_awards_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_awards")),
        sa.UniqueConstraint(
            "achievement_id", "user_id", name=op.f("uq_awards_achievement_id_user_id")
        ),
    )
    with op.batch_alter_table("awards", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_awards_platform_id"), ["platform_id", "user_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_awards_status"), ["status", "expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_awards_user_id"), ["user_id"], unique=False)

    op.create_table(
        "pathways",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("context_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("achievement_id", sa.Integer(), nullable=False),
        sa.Column("archived_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", lti_tool.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["achievement_id"],
            ["achievements.id"],
            name=op.f("fk_pathways_achievement_id_achievements"),
        ),
        sa.ForeignKeyConstraint(
            ["context_id"], ["contexts.id"], name=op.f("fk_pathways_context_id_contexts")
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_pathways_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pathways")),
        sa.UniqueConstraint("achievement_id", name=op.f("uq_pathways_achievement_id")),
    )
    op.create_table(
        "pathway_nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pathway_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("required_count", sa.Integer(), nullable=True),
        sa.Column("achievement_id", sa.Integer(), nullable=True),
        sa.Column("sub_pathway_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(kind = 'achievement') = (achievement_id IS NOT NULL)",
            name=op.f("ck_pathway_nodes_achievement_leaf"),
        ),
        sa.CheckConstraint(
            "(kind = 'n_of') = (required_count IS NOT NULL)",
            name=op.f("ck_pathway_nodes_n_of_count"),
        ),
        sa.CheckConstraint(
            "(kind = 'pathway') = (sub_pathway_id IS NOT NULL)",
            name=op.f("ck_pathway_nodes_pathway_leaf"),
        ),
        sa.CheckConstraint(
            "kind IN ('all_of', 'any_of', 'n_of', 'achievement', 'pathway')",
            name=op.f("ck_pathway_nodes_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["achievement_id"],
            ["achievements.id"],
            name=op.f("fk_pathway_nodes_achievement_id_achievements"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["pathway_nodes.id"],
            name=op.f("fk_pathway_nodes_parent_id_pathway_nodes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pathway_id"],
            ["pathways.id"],
            name=op.f("fk_pathway_nodes_pathway_id_pathways"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sub_pathway_id"],
            ["pathways.id"],
            name=op.f("fk_pathway_nodes_sub_pathway_id_pathways"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pathway_nodes")),
    )
    with op.batch_alter_table("pathway_nodes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pathway_nodes_achievement_id"), ["achievement_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pathway_nodes_pathway_id"),
            ["pathway_id", "parent_id", "position"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_pathway_nodes_sub_pathway_id"), ["sub_pathway_id"], unique=False
        )


def downgrade() -> None:
    _drop_audit_trigger()
    with op.batch_alter_table("pathway_nodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pathway_nodes_sub_pathway_id"))
        batch_op.drop_index(batch_op.f("ix_pathway_nodes_pathway_id"))
        batch_op.drop_index(batch_op.f("ix_pathway_nodes_achievement_id"))

    op.drop_table("pathway_nodes")
    op.drop_table("pathways")
    with op.batch_alter_table("awards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_awards_user_id"))
        batch_op.drop_index(batch_op.f("ix_awards_status"))
        batch_op.drop_index(batch_op.f("ix_awards_platform_id"))

    op.drop_table("awards")
    op.drop_table("achievement_images")
    with op.batch_alter_table("achievement_alignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_achievement_alignments_achievement_id"))

    op.drop_table("achievement_alignments")
    with op.batch_alter_table("achievements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_achievements_platform_id"))

    op.drop_table("achievements")
    op.drop_table("issuer_profiles")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_subject_type"))
        batch_op.drop_index(batch_op.f("ix_audit_events_platform_id"))

    op.drop_table("audit_events")
