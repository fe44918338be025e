"""obapi: Open Badges 3.0 API clients (RFC 7591), authorization codes, tokens and
first-party sign-ins (all secrets hashed); CLR 2.0 credentials of completed pathways

Revision ID: 0006_obapi
Revises: 0005
Create Date: 2026-11-22 07:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.models.base

revision: str = "0006_obapi"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = lti_tool.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "obapi_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("client_secret_hash", sa.String(length=64), nullable=False),
        sa.Column("client_name", sa.String(length=255), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("grant_types", sa.JSON(), nullable=False),
        sa.Column("response_types", sa.JSON(), nullable=False),
        sa.Column("token_endpoint_auth_method", sa.String(length=32), nullable=False),
        sa.Column("client_metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_obapi_clients")),
        sa.UniqueConstraint("client_id", name=op.f("uq_obapi_clients_client_id")),
    )
    op.create_table(
        "obapi_authorization_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("code_challenge_method", sa.String(length=8), nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("used_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["obapi_clients.id"],
            name=op.f("fk_obapi_authorization_codes_client_id_obapi_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_obapi_authorization_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_obapi_authorization_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_obapi_authorization_codes_code_hash")),
    )
    with op.batch_alter_table("obapi_authorization_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_obapi_authorization_codes_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_obapi_authorization_codes_user_id"), ["user_id"], unique=False
        )
    op.create_table(
        "obapi_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("authorization_code_id", sa.Integer(), nullable=True),
        sa.Column("access_token_hash", sa.String(length=64), nullable=False),
        sa.Column("refresh_token_hash", sa.String(length=64), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("issued_at", _TS, nullable=False),
        sa.Column("expires_in", sa.Integer(), nullable=False),
        sa.Column("refresh_expires_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["obapi_clients.id"],
            name=op.f("fk_obapi_tokens_client_id_obapi_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_obapi_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["authorization_code_id"],
            ["obapi_authorization_codes.id"],
            name=op.f("fk_obapi_tokens_authorization_code_id_obapi_authorization_codes"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_obapi_tokens")),
        sa.UniqueConstraint("access_token_hash", name=op.f("uq_obapi_tokens_access_token_hash")),
        sa.UniqueConstraint("refresh_token_hash", name=op.f("uq_obapi_tokens_refresh_token_hash")),
    )
    with op.batch_alter_table("obapi_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_obapi_tokens_authorization_code_id"),
            ["authorization_code_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_obapi_tokens_user_id"), ["user_id", "client_id"], unique=False
        )
    op.create_table(
        "obapi_signins",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_obapi_signins_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_obapi_signins")),
    )
    with op.batch_alter_table("obapi_signins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_obapi_signins_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_obapi_signins_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "obapi_uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("credential_key", sa.String(length=64), nullable=False),
        sa.Column("credential_id", sa.Text(), nullable=False),
        sa.Column("credential", sa.JSON(), nullable=True),
        sa.Column("compact_jws", sa.Text(), nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_obapi_uploads_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["obapi_clients.id"],
            name=op.f("fk_obapi_uploads_client_id_obapi_clients"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_obapi_uploads")),
        sa.UniqueConstraint(
            "user_id", "credential_key", name=op.f("uq_obapi_uploads_user_id_credential_key")
        ),
    )

    op.create_table(
        "issued_clrs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column("pathway_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("credential", sa.JSON(), nullable=False),
        sa.Column("issued_at", _TS, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["award_id"],
            ["awards.id"],
            name=op.f("fk_issued_clrs_award_id_awards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pathway_id"],
            ["pathways.id"],
            name=op.f("fk_issued_clrs_pathway_id_pathways"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_issued_clrs_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_issued_clrs_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["key_id"], ["issuer_keys.id"], name=op.f("fk_issued_clrs_key_id_issuer_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_clrs")),
        sa.UniqueConstraint("award_id", name=op.f("uq_issued_clrs_award_id")),
        sa.UniqueConstraint("public_id", name=op.f("uq_issued_clrs_public_id")),
    )
    with op.batch_alter_table("issued_clrs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issued_clrs_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_issued_clrs_platform_id"), ["platform_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("issued_clrs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issued_clrs_platform_id"))
        batch_op.drop_index(batch_op.f("ix_issued_clrs_user_id"))
    op.drop_table("issued_clrs")
    op.drop_table("obapi_uploads")
    with op.batch_alter_table("obapi_signins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_obapi_signins_expires_at"))
        batch_op.drop_index(batch_op.f("ix_obapi_signins_user_id"))
    op.drop_table("obapi_signins")
    with op.batch_alter_table("obapi_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_obapi_tokens_user_id"))
        batch_op.drop_index(batch_op.f("ix_obapi_tokens_authorization_code_id"))
    op.drop_table("obapi_tokens")
    with op.batch_alter_table("obapi_authorization_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_obapi_authorization_codes_user_id"))
        batch_op.drop_index(batch_op.f("ix_obapi_authorization_codes_client_id"))
    op.drop_table("obapi_authorization_codes")
    op.drop_table("obapi_clients")
