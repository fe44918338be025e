"""merge: OB 3.0 issuance and sync engine

Revision ID: 0005
Revises: 0004_openbadges, 0004_sync
Create Date: 2026-11-22 06:27:17.096065
"""

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | tuple[str, ...] | None = ("0004_openbadges", "0004_sync")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Joins the two branches; neither changes the other's tables."""


def downgrade() -> None:
    """Splits them again; nothing to undo."""
