"""The tool's own RSA signing keys (LTI service assertions, deep-linking responses)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, CreatedAtMixin

KEY_NEXT = "next"  # published, not yet signing: platforms that cache our JWKS see it early
KEY_CURRENT = "current"  # the signing key
KEY_RETIRED = "retired"  # published until pruned, so tokens signed before rotation verify


class ToolKey(CreatedAtMixin, Base):
    __tablename__ = "tool_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    # PKCS#8 PEM encrypted with the key-encryption key derived from the secret key.
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)
