"""This database's installation: one row holding a random id made once (first use).

The sync outbox mixes the id into every delivery's idempotency key, so two installations
(or a database recreated from scratch) sending to the same target never reuse a key.
"""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, CreatedAtMixin

INSTALLATION_ROW = 1  # the only row's primary key


class Installation(CreatedAtMixin, Base):
    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(primary_key=True)  # always INSTALLATION_ROW
    # 32 random bytes, hex (secrets.token_hex); never changed once stored.
    installation_id: Mapped[str] = mapped_column(String(64))
