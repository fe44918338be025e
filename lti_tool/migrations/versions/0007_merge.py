"""merge: REST API, LinkedIn, gradebook rules, OB 3.0 API, pathway cascade, installation id

Revision ID: 0007
Revises: 0006_api, 0006_linkedin, 0006_rules, 0006_obapi, 0006_cascade, 0006_installation
Create Date: 2026-11-22 08:06:00
"""

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | tuple[str, ...] | None = (
    "0006_api",
    "0006_linkedin",
    "0006_rules",
    "0006_obapi",
    "0006_cascade",
    "0006_installation",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Joins the six branches; none changes another's tables."""


def downgrade() -> None:
    """Splits them again; nothing to undo."""
