"""installation: one row with this database's random installation id (sync idempotency keys)

Revision ID: 0006_installation
Revises: 0005
Create Date: 2026-11-22 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.models.base

revision: str = "0006_installation"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = lti_tool.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    # The row itself is made on first use (lti_tool.sync.installation), not here: a database
    # emptied or recreated later gets a new id the same way.
    op.create_table(
        "installation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("installation_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation")),
    )


def downgrade() -> None:
    op.drop_table("installation")
